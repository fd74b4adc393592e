// Command loops-deb packages a built loops as a Debian package with nfpm:
// the static binary, the man pages (docs/man, gzipped), the bash, zsh and
// fish completions (from `loops completion SHELL`), and a copyright file
// (loops' and the Go modules compiled into the binary). No Depends: the
// binary is static; Recommends fuse3 (non-root mounts of images the kernel
// cannot mount), Suggests a sound server for `loops audio`. `make deb` runs
// it:
//
//	go run ./cmd/loops-deb -binary bin/loops -version 1.2.0 -out bin
package main

import (
	"bytes"
	"compress/gzip"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
)

// config is what a package is built from.
type config struct {
	Binary     string // the loops binary (static)
	Serve      string // the userspace mount server loops-serve (static), "" if the tree has none
	Version    string // loops' version: "1.2.0", "v1.2.0-3-gabcdef", a hash
	Arch       string // Debian architecture ("" from GOARCH)
	ManDir     string // the man pages, *.1
	Root       string // the source tree (LICENSE, if any)
	Out        string // directory of the .deb
	Maintainer string
	ModCache   string    // GOMODCACHE, for the licenses of the modules ("" to skip them)
	MTime      time.Time // the files' time (zero: SOURCE_DATE_EPOCH, else now)
}

// Package metadata.
const (
	homepage    = "https://github.com/loops-cli/loops"
	description = `one CLI for the three Linux loopbacks: lo, loop devices, audio
 loops puts three unrelated things called "loopback" behind one command:
 the network interface lo (status, addresses, listeners, a doctor, the
 hosts file), loop devices (mount ISO, UDF, FAT, ext4, squashfs, qcow2 and
 other images by probing them; list and detach), and the sound server's
 module-loopback (on/off, status, latency measurement, a level meter) on
 PulseAudio and PipeWire.`
)

// Relations. The binary is static and needs nothing to run; what some
// commands use is recommended or suggested, never required.
var (
	// fusermount3: non-root mounts of images through loops' userspace reader.
	recommends = []string{"fuse3"}
	// loops audio talks to a sound server over its socket.
	suggests = []string{"pipewire-pulse | pulseaudio"}
)

func main() {
	var c config
	flag.StringVar(&c.Binary, "binary", "bin/loops", "the loops binary to package (build it with make build)")
	flag.StringVar(&c.Serve, "serve", "", "the loops-serve binary, installed as /usr/lib/loops/loops-serve (default: bin/loops-serve when the tree has cmd/loops-serve)")
	flag.StringVar(&c.Version, "version", "", "loops' version (git describe); required")
	flag.StringVar(&c.Arch, "arch", "", "Debian architecture (default: from GOARCH)")
	flag.StringVar(&c.ManDir, "man", "docs/man", "directory of the man pages")
	flag.StringVar(&c.Root, "root", ".", "the source tree")
	flag.StringVar(&c.Out, "out", "bin", "directory to write loops_VERSION_ARCH.deb into")
	flag.StringVar(&c.Maintainer, "maintainer", "loops developers <loops-cli@users.noreply.github.com>", "the package's Maintainer")
	flag.Parse()
	c.ModCache = goEnv("GOMODCACHE")
	if c.Serve == "" && hasServe(c.Root) {
		c.Serve = filepath.Join(filepath.Dir(c.Binary), "loops-serve")
	}
	path, err := build(c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loops-deb:", err)
		os.Exit(1)
	}
	fmt.Println(path)
}

func goEnv(k string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	out, err := exec.Command("go", "env", k).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// build writes the package and returns its path.
func build(c config) (string, error) {
	if c.Version == "" {
		return "", errors.New("no -version")
	}
	if err := checkStatic(c.Binary); err != nil {
		return "", err
	}
	if c.Arch == "" {
		c.Arch = debArch(runtime.GOARCH)
	}
	if c.MTime.IsZero() {
		c.MTime = sourceDate()
	}
	stage, err := os.MkdirTemp("", "loops-deb-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(stage)

	contents := files.Contents{file(c.Binary, "/usr/bin/loops", 0o755)}
	// loops mount starts its FUSE server from ../lib/loops/loops-serve,
	// relative to /usr/bin/loops.
	if c.Serve == "" && hasServe(c.Root) {
		return "", fmt.Errorf("the tree has cmd/loops-serve: give -serve (the built loops-serve)")
	}
	if c.Serve != "" {
		if err := checkStatic(c.Serve); err != nil {
			return "", err
		}
		contents = append(contents, file(c.Serve, "/usr/lib/loops/loops-serve", 0o755))
	}
	mans, err := filepath.Glob(filepath.Join(c.ManDir, "*.1"))
	if err != nil || len(mans) == 0 {
		return "", fmt.Errorf("no man pages in %s (make docs)", c.ManDir)
	}
	for _, m := range mans {
		gz := filepath.Join(stage, filepath.Base(m)+".gz")
		if err := gzipFile(m, gz); err != nil {
			return "", err
		}
		contents = append(contents, file(gz, "/usr/share/man/man1/"+filepath.Base(gz), 0o644))
	}
	for _, cp := range []struct{ shell, dst string }{
		{"bash", "/usr/share/bash-completion/completions/loops"},
		{"zsh", "/usr/share/zsh/vendor-completions/_loops"},
		{"fish", "/usr/share/fish/vendor_completions.d/loops.fish"},
	} {
		out, err := exec.Command(c.Binary, "completion", cp.shell).Output()
		if err != nil || len(out) == 0 {
			return "", fmt.Errorf("%s completion %s: %v", c.Binary, cp.shell, err)
		}
		p := filepath.Join(stage, "completion."+cp.shell)
		if err := os.WriteFile(p, out, 0o644); err != nil {
			return "", err
		}
		contents = append(contents, file(p, cp.dst, 0o644))
	}
	cr, err := copyright(c)
	if err != nil {
		return "", err
	}
	crPath := filepath.Join(stage, "copyright")
	if err := os.WriteFile(crPath, cr, 0o644); err != nil {
		return "", err
	}
	contents = append(contents, file(crPath, "/usr/share/doc/loops/copyright", 0o644))

	info := &nfpm.Info{
		Name: "loops", Arch: c.Arch, Platform: "linux",
		Version: debVersion(c.Version), VersionSchema: "none",
		Section: "utils", Priority: "optional",
		Maintainer: c.Maintainer, Description: description, Homepage: homepage,
		License: licenseName(c.Root), MTime: c.MTime,
		Overridables: nfpm.Overridables{Recommends: recommends, Suggests: suggests, Contents: contents},
	}
	info = nfpm.WithDefaults(info)
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return "", err
	}
	pkg, err := nfpm.Get("deb")
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(c.Out, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(c.Out, pkg.ConventionalFileName(info))
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return "", err
	}
	if err := pkg.Package(info, f); err != nil {
		f.Close()
		os.Remove(tmp)
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return path, os.Rename(tmp, path)
}

// hasServe: the source tree builds a separate loops-serve.
func hasServe(root string) bool {
	st, err := os.Stat(filepath.Join(root, "cmd", "loops-serve"))
	return err == nil && st.IsDir()
}

func file(src, dst string, mode os.FileMode) *files.Content {
	return &files.Content{Source: src, Destination: dst,
		FileInfo: &files.ContentFileInfo{Owner: "root", Group: "root", Mode: mode}}
}

// checkStatic refuses a dynamically linked binary: the package promises
// one that runs on any Debian without libraries.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s: %w (make build)", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked: build it with CGO_ENABLED=0 (make build)", path)
		}
	}
	return nil
}

// debArch is Debian's name of a GOARCH.
func debArch(goarch string) string {
	switch goarch {
	case "386":
		return "i386"
	case "arm":
		return "armhf"
	case "ppc64le":
		return "ppc64el"
	}
	return goarch
}

var (
	hashRE     = regexp.MustCompile(`^[0-9a-f]{7,40}$`)
	describeRE = regexp.MustCompile(`^(.*)-(\d+)-g([0-9a-f]+)$`) // TAG-N-gHASH
)

// debVersion turns loops' version (git describe) into a Debian version
// that sorts the same way: "v1.2.0" → "1.2.0"; "v1.2.0-3-gabc1234" →
// "1.2.0+3.gabc1234" (after 1.2.0); a pre-release "v2.0.0-rc.1" →
// "2.0.0~rc.1" (before 2.0.0); a bare commit "abc1234" (no tag yet) →
// "0.0.0+git.abc1234"; "-dirty" → ".dirty". No hyphen is left, so there is
// no Debian revision.
func debVersion(v string) string {
	v = strings.TrimPrefix(strings.TrimSpace(v), "v")
	base, dirty := strings.CutSuffix(v, "-dirty")
	switch {
	case base == "" || base == "devel":
		base = "0.0.0+devel"
	case hashRE.MatchString(base):
		base = "0.0.0+git." + base
	case base[0] < '0' || base[0] > '9':
		base = "0.0.0+" + base
	}
	if m := describeRE.FindStringSubmatch(base); m != nil {
		base = m[1] + "+" + m[2] + ".g" + m[3]
	}
	if i := strings.IndexByte(base, '-'); i >= 0 {
		base = base[:i] + "~" + strings.ReplaceAll(base[i+1:], "-", ".")
	}
	if dirty {
		if strings.Contains(base, "+") {
			base += ".dirty"
		} else {
			base += "+dirty"
		}
	}
	// Only what Debian allows in an upstream version without a revision.
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || strings.ContainsRune(".+~", r) {
			return r
		}
		return '.'
	}, base)
}

// sourceDate is SOURCE_DATE_EPOCH (reproducible builds), else now.
func sourceDate() time.Time {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.Unix(n, 0).UTC()
		}
	}
	return time.Now().UTC().Truncate(time.Second)
}

// gzipFile writes src gzipped to dst, without a name or time in the
// header (reproducible; what dh_installman does with gzip -9n).
func gzipFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(dst, buf.Bytes(), 0o644)
}

// licenseFiles are where a source tree keeps its license.
var licenseFiles = []string{"LICENSE", "LICENSE.txt", "LICENSE.md", "COPYING", "LICENCE"}

// licenseName is the short name of loops' license, from its LICENSE file
// ("" when the tree has none).
func licenseName(root string) string {
	text, _ := readLicense(root)
	return spdxGuess(text)
}

func readLicense(dir string) (string, string) {
	for _, n := range licenseFiles {
		if b, err := os.ReadFile(filepath.Join(dir, n)); err == nil {
			return string(b), n
		}
	}
	return "", ""
}

// spdxGuess names the common licenses by their opening words.
func spdxGuess(text string) string {
	t := strings.Join(strings.Fields(text), " ")
	switch {
	case t == "":
		return ""
	case strings.Contains(t, "Apache License") && strings.Contains(t, "Version 2.0"):
		return "Apache-2.0"
	case strings.Contains(t, "Permission is hereby granted, free of charge"):
		return "MIT"
	case strings.Contains(t, "Redistribution and use in source and binary forms") && strings.Contains(t, "Neither the name"):
		return "BSD-3-clause"
	case strings.Contains(t, "Redistribution and use in source and binary forms"):
		return "BSD-2-clause"
	case strings.Contains(t, "Mozilla Public License Version 2.0"):
		return "MPL-2.0"
	case strings.Contains(t, "GNU GENERAL PUBLIC LICENSE") && strings.Contains(t, "Version 3"):
		return "GPL-3.0"
	case strings.Contains(t, "GNU GENERAL PUBLIC LICENSE") && strings.Contains(t, "Version 2"):
		return "GPL-2.0"
	case strings.Contains(t, "ISC License") || strings.Contains(t, "Permission to use, copy, modify, and/or distribute"):
		return "ISC"
	}
	return "other"
}

// copyright is /usr/share/doc/loops/copyright in the machine-readable
// format: loops, then each Go module compiled into the binary with its
// license text from the module cache.
func copyright(c config) ([]byte, error) {
	var b strings.Builder
	b.WriteString("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n")
	b.WriteString("Upstream-Name: loops\nSource: " + homepage + "\n\n")
	text, _ := readLicense(c.Root)
	name := spdxGuess(text)
	b.WriteString("Files: *\nCopyright: the loops authors\n")
	if name == "" {
		b.WriteString("License: unknown\n Upstream ships no LICENSE file yet: ask the authors before\n redistributing.\n")
	} else {
		b.WriteString("License: " + name + "\n" + indent(text))
	}
	seen := map[string]bool{}
	var deps []*debug.Module
	for _, bin := range []string{c.Binary, c.Serve} {
		if bin == "" {
			continue
		}
		bi, err := buildinfo.ReadFile(bin)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", bin, err)
		}
		for _, d := range bi.Deps {
			if d.Replace != nil {
				d = d.Replace
			}
			if !seen[d.Path+"@"+d.Version] {
				seen[d.Path+"@"+d.Version] = true
				deps = append(deps, d)
			}
		}
	}
	sort.Slice(deps, func(i, j int) bool { return deps[i].Path < deps[j].Path })
	for _, d := range deps {
		fmt.Fprintf(&b, "\nFiles: (compiled into the binaries) Go module %s %s\n", d.Path, d.Version)
		text, file := "", ""
		if c.ModCache != "" {
			text, file = readLicense(filepath.Join(c.ModCache, escapeModPath(d.Path)+"@"+d.Version))
		}
		if text == "" {
			fmt.Fprintf(&b, "Copyright: the %s authors\nLicense: see https://pkg.go.dev/%s?tab=licenses\n", d.Path, d.Path)
			continue
		}
		fmt.Fprintf(&b, "Copyright: the %s authors\nComment: from %s\nLicense: %s\n%s", d.Path, file, spdxGuess(text), indent(text))
	}
	return []byte(b.String()), nil
}

// indent formats a license text as a copyright-format continuation: each
// line indented by one space, empty lines as " .".
func indent(text string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(strings.ReplaceAll(text, "\r", ""), "\n"), "\n") {
		if strings.TrimSpace(l) == "" {
			b.WriteString(" .\n")
			continue
		}
		b.WriteString(" " + l + "\n")
	}
	return b.String()
}

// escapeModPath is the module cache's spelling of a path: an upper-case
// letter becomes '!' and the letter in lower case.
func escapeModPath(p string) string {
	var b strings.Builder
	for _, r := range p {
		if r >= 'A' && r <= 'Z' {
			b.WriteByte('!')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}
