package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loops-cli/loops/internal/testkit"
)

// TestDeb builds a static loops stamped with a version, packages it, and
// reads the package back with dpkg-deb: the control fields (no Depends,
// Recommends and Suggests only), every file at its Debian path with its
// mode, the man pages gzipped, the completions, the copyright file; and
// the packaged binary runs and reports the version.
func TestDeb(t *testing.T) {
	dpkgDeb := testkit.Tool(t, "dpkg-deb")
	goTool := testkit.Tool(t, "go")
	dir := t.TempDir()
	bin := filepath.Join(dir, "loops")
	build := exec.Command(goTool, "build", "-trimpath", "-o", bin,
		"-ldflags", "-X github.com/loops-cli/loops/cmd/loops/cli.version=v1.4.0-2-gabc1234 -X github.com/loops-cli/loops/cmd/loops/cli.commit=abc1234abc1234",
		"github.com/loops-cli/loops/cmd/loops")
	build.Dir = "../.." // loops' module (this tool has its own)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	serve := "" // the separate userspace server, when the tree has one
	if hasServe("../..") {
		serve = filepath.Join(dir, "loops-serve")
		build := exec.Command(goTool, "build", "-trimpath", "-o", serve, "github.com/loops-cli/loops/cmd/loops-serve")
		build.Dir = "../.."
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build loops-serve: %v\n%s", err, out)
		}
	}
	mtime := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	deb, err := buildDeb(t, config{Binary: bin, Serve: serve, Version: "v1.4.0-2-gabc1234", Arch: "amd64", ManDir: "../../docs/man",
		Root: "../..", Out: dir, Maintainer: "Test <test@example.org>", ModCache: goEnv("GOMODCACHE"), MTime: mtime})
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(deb) != "loops_1.4.0+2.gabc1234_amd64.deb" {
		t.Errorf("package file %s, want loops_1.4.0+2.gabc1234_amd64.deb", filepath.Base(deb))
	}

	field := func(name string) string {
		out, _ := exec.Command(dpkgDeb, "-f", deb, name).Output()
		return strings.TrimSpace(string(out))
	}
	for name, want := range map[string]string{
		"Package": "loops", "Version": "1.4.0+2.gabc1234", "Architecture": "amd64",
		"Depends": "", "Pre-Depends": "", "Recommends": "fuse3", "Suggests": "pipewire-pulse | pulseaudio",
		"Section": "utils", "Homepage": "https://github.com/loops-cli/loops",
	} {
		if got := field(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if d := field("Description"); !strings.HasPrefix(d, "one CLI for the three Linux loopbacks") {
		t.Errorf("Description %q", d)
	}

	out, err := exec.Command(dpkgDeb, "-c", deb).Output()
	if err != nil {
		t.Fatal(err)
	}
	listing := map[string]string{} // path → mode and owner
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		listing[strings.TrimPrefix(f[len(f)-1], ".")] = f[0] + " " + f[1]
	}
	want := map[string]string{
		"/usr/bin/loops": "-rwxr-xr-x root/root",
		"/usr/share/bash-completion/completions/loops":    "-rw-r--r-- root/root",
		"/usr/share/zsh/vendor-completions/_loops":        "-rw-r--r-- root/root",
		"/usr/share/fish/vendor_completions.d/loops.fish": "-rw-r--r-- root/root",
		"/usr/share/doc/loops/copyright":                  "-rw-r--r-- root/root",
	}
	if serve != "" {
		want["/usr/lib/loops/loops-serve"] = "-rwxr-xr-x root/root"
	}
	mans, _ := filepath.Glob("../../docs/man/*.1")
	if len(mans) < 10 {
		t.Fatalf("only %d man pages in docs/man", len(mans))
	}
	for _, m := range mans {
		want["/usr/share/man/man1/"+filepath.Base(m)+".gz"] = "-rw-r--r-- root/root"
	}
	for p, mode := range want {
		if got, ok := listing[p]; !ok {
			t.Errorf("%s is not in the package", p)
		} else if got != mode {
			t.Errorf("%s: %s, want %s", p, got, mode)
		}
	}
	for p, mode := range listing {
		if _, ok := want[p]; !ok && !strings.HasPrefix(mode, "d") {
			t.Errorf("unexpected file %s in the package", p)
		}
	}

	// Unpacked: the binary runs and knows its version; a man page is a
	// gzipped roff page; the completions are loops'.
	root := filepath.Join(dir, "root")
	if out, err := exec.Command(dpkgDeb, "-x", deb, root).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -x: %v\n%s", err, out)
	}
	v, err := exec.Command(filepath.Join(root, "usr/bin/loops"), "--version").Output()
	if err != nil || !strings.Contains(string(v), "loops version v1.4.0-2-gabc1234\ncommit: abc1234abc1234") {
		t.Errorf("loops --version = %q, %v", v, err)
	}
	if page := gunzip(t, filepath.Join(root, "usr/share/man/man1/loops-mount.1.gz")); !strings.Contains(page, ".TH \"LOOPS\" \"1\"") || !strings.Contains(page, "loops-mount") {
		t.Errorf("loops-mount.1.gz is not the man page:\n%.300s", page)
	}
	for p, marker := range map[string]string{
		"usr/share/bash-completion/completions/loops":    "__start_loops",
		"usr/share/zsh/vendor-completions/_loops":        "#compdef loops",
		"usr/share/fish/vendor_completions.d/loops.fish": "complete -c loops",
	} {
		if b, _ := os.ReadFile(filepath.Join(root, p)); !bytes.Contains(b, []byte(marker)) {
			t.Errorf("%s does not contain %q", p, marker)
		}
	}
	cr, _ := os.ReadFile(filepath.Join(root, "usr/share/doc/loops/copyright"))
	for _, s := range []string{"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/", "Upstream-Name: loops",
		"Go module github.com/spf13/cobra v", "License: Apache-2.0", "Go module github.com/vishvananda/netlink v"} {
		if !bytes.Contains(cr, []byte(s)) {
			t.Errorf("copyright has no %q", s)
		}
	}

	// Reproducible: the same inputs give the same bytes.
	deb2, err := buildDeb(t, config{Binary: bin, Serve: serve, Version: "v1.4.0-2-gabc1234", Arch: "amd64", ManDir: "../../docs/man",
		Root: "../..", Out: filepath.Join(dir, "again"), Maintainer: "Test <test@example.org>", ModCache: goEnv("GOMODCACHE"), MTime: mtime})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(deb)
	b, _ := os.ReadFile(deb2)
	if !bytes.Equal(a, b) {
		t.Errorf("two builds of the same inputs differ")
	}
}

func buildDeb(t *testing.T, c config) (string, error) {
	t.Helper()
	return build(c)
}

func gunzip(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRefusesDynamicBinary: a dynamically linked binary is not packaged.
func TestRefusesDynamicBinary(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	sh, _ = filepath.EvalSymlinks(sh)
	if _, err := build(config{Binary: sh, Version: "1.0", ManDir: "../../docs/man", Out: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "dynamically linked") {
		t.Errorf("build with %s = %v, want a refusal of a dynamic binary", sh, err)
	}
}

func TestDebVersion(t *testing.T) {
	for in, want := range map[string]string{
		"v1.2.0":                  "1.2.0",
		"1.2.0":                   "1.2.0",
		"v1.2.0-3-gabc1234":       "1.2.0+3.gabc1234",
		"v1.2.0-3-gabc1234-dirty": "1.2.0+3.gabc1234.dirty",
		"v1.2.0-dirty":            "1.2.0+dirty",
		"abc1234":                 "0.0.0+git.abc1234",
		"abc1234-dirty":           "0.0.0+git.abc1234.dirty",
		"devel":                   "0.0.0+devel",
		"v2.0.0-rc.1":             "2.0.0~rc.1",
		"v2.0.0-rc.1-4-gabc1234":  "2.0.0~rc.1+4.gabc1234",
	} {
		if got := debVersion(in); got != want {
			t.Errorf("debVersion(%q) = %q, want %q", in, got, want)
		}
	}
}
