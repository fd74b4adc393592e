package audioloop

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Persistence writes loops' loopbacks into the sound server's own startup
// configuration, so they come back after a restart of the server:
//
//   - PulseAudio: a marked block in ~/.config/pulse/default.pa (created with
//     ".include /etc/pulse/default.pa" first when missing, since the user
//     file replaces the system one), guarded by .nofail so a missing device
//     does not stop the server from starting;
//   - PipeWire: ~/.config/pipewire/pipewire-pulse.conf.d/50-loops.conf, a
//     pulse.cmd list with the "nofail" flag.
//
// XDG_CONFIG_HOME is honoured; under sudo the invoking user's files are
// written and given to that user.

// The headers name the loops commands that manage these files, as
// provenance for a person reading them: they are file contents, which stay
// as loops has always written them, not advice for the caller to render.
const (
	paMark       = "# loops: "
	paHeader     = "# Created by loops (loops audio on --persist) because this file did not exist;\n# it replaces /etc/pulse/default.pa, so that file is included first.\n.include /etc/pulse/default.pa\n"
	pwHeader     = "# Written by loops: loops audio on --persist adds, loops audio off --persist removes.\n"
	pwFileName   = "50-loops.conf"
	pwLineMarker = "# " + MarkProperty + "="
)

// PersistEntry is one module in the startup configuration: a loopback, or
// a module of a virtual microphone.
type PersistEntry struct {
	ID     string // the loops.id mark
	Module string // the module ("" is module-loopback)
	Args   string // its arguments
	Mic    string // the mic it belongs to, "" for a plain loopback
}

func (e PersistEntry) module() string {
	if e.Module == "" {
		return "module-loopback"
	}
	return e.Module
}

// entryFromArgs reads the marks of a module's arguments; ok is false for
// a module loops did not write.
func entryFromArgs(module, args string) (PersistEntry, bool) {
	if mic, _, id, _ := micMark(args); mic != "" && id != "" {
		return PersistEntry{ID: id, Module: module, Args: args, Mic: mic}, true
	}
	if module != "module-loopback" {
		return PersistEntry{}, false
	}
	lb := loopbackFromArgs(0, args)
	return PersistEntry{ID: lb.ID, Module: module, Args: args}, lb.Loops
}

// PersistPath is the file that holds loops' persistent loopbacks for a
// server kind.
func (o Options) PersistPath(kind string) string {
	uid, home := o.invokingUser()
	cfg := ""
	if uid == os.Geteuid() {
		if x := o.env("XDG_CONFIG_HOME"); x != "" && filepath.IsAbs(x) {
			cfg = x
		}
	}
	if cfg == "" {
		cfg = filepath.Join(home, ".config")
	}
	if kind == KindPipeWire {
		return filepath.Join(cfg, "pipewire", "pipewire-pulse.conf.d", pwFileName)
	}
	return filepath.Join(cfg, "pulse", "default.pa")
}

// Persisted lists loops' modules in the startup configuration of kind:
// its loopbacks and its mics' modules (Mic set).
func Persisted(o Options, kind string) ([]PersistEntry, string, error) {
	path := o.PersistPath(kind)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, path, nil
	}
	if err != nil {
		return nil, path, err
	}
	var out []PersistEntry
	if kind == KindPipeWire {
		for _, l := range strings.Split(string(b), "\n") {
			if e, ok := parsePWLine(l); ok {
				out = append(out, e)
			}
		}
		return out, path, nil
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if rest, ok := strings.CutPrefix(l, "load-module "); ok && i > 0 {
			module, args, _ := strings.Cut(rest, " ")
			if e, ok := entryFromArgs(module, args); ok {
				out = append(out, e)
			}
		}
	}
	return out, path, nil
}

func parsePWLine(l string) (PersistEntry, bool) {
	i := strings.Index(l, pwLineMarker)
	if i < 0 || !strings.Contains(l, `cmd = "load-module"`) {
		return PersistEntry{}, false
	}
	a := strings.Index(l, `args = `)
	if a < 0 {
		return PersistEntry{}, false
	}
	q, err := strconv.QuotedPrefix(l[a+len("args = "):])
	if err != nil {
		return PersistEntry{}, false
	}
	s, _ := strconv.Unquote(q)
	module, args, _ := strings.Cut(s, " ")
	return entryFromArgs(module, args)
}

// Persist writes the loopback with these arguments into the startup
// configuration of kind, replacing an entry with the same loops.id. It
// returns the file written. It needs write access to the user's config
// directory only.
func Persist(o Options, kind, args string) (string, error) {
	e, ok := entryFromArgs("module-loopback", args)
	if !ok {
		return "", fmt.Errorf("persist: arguments carry no %s mark", MarkProperty)
	}
	entries, path, err := Persisted(o, kind)
	if err != nil {
		return path, err
	}
	var keep []PersistEntry
	for _, old := range entries {
		if old.ID != e.ID {
			keep = append(keep, old)
		}
	}
	keep = append(keep, e)
	return path, writePersisted(o, kind, path, keep)
}

// PersistMic writes the modules of a mic (MicPersistEntries) into the
// startup configuration of kind, in their order, replacing that mic's
// entries. It returns the file written.
func PersistMic(o Options, kind string, mic Mic) (string, error) {
	entries, path, err := Persisted(o, kind)
	if err != nil {
		return path, err
	}
	var keep []PersistEntry
	for _, old := range entries {
		if old.Mic != mic.Name {
			keep = append(keep, old)
		}
	}
	keep = append(keep, MicPersistEntries(mic)...)
	return path, writePersisted(o, kind, path, keep)
}

// UnpersistMic removes the entries of the mic called name (of every mic if
// "") from the startup configuration of kind, and returns the file and how
// many modules it removed.
func UnpersistMic(o Options, kind, name string) (string, int, error) {
	entries, path, err := Persisted(o, kind)
	if err != nil || len(entries) == 0 {
		return path, 0, err
	}
	var keep []PersistEntry
	for _, e := range entries {
		if e.Mic == "" || name != "" && e.Mic != name {
			keep = append(keep, e)
		}
	}
	return path, len(entries) - len(keep), writePersisted(o, kind, path, keep)
}

// Unpersist removes loops' loopbacks from the startup configuration of kind
// (all of them when ids is empty; mics' modules stay, see UnpersistMic)
// and returns the file and how many entries it removed.
func Unpersist(o Options, kind string, ids ...string) (string, int, error) {
	entries, path, err := Persisted(o, kind)
	if err != nil || len(entries) == 0 {
		return path, 0, err
	}
	var keep []PersistEntry
	for _, e := range entries {
		drop := len(ids) == 0 && e.Mic == ""
		for _, id := range ids {
			drop = drop || id == e.ID
		}
		if !drop {
			keep = append(keep, e)
		}
	}
	return path, len(entries) - len(keep), writePersisted(o, kind, path, keep)
}

// writePersisted writes entries as the startup configuration file of kind
// at path, keeping what is not loops' in a PulseAudio file, and removes a
// file that would hold only what loops put there.
func writePersisted(o Options, kind, path string, entries []PersistEntry) error {
	content, keep, err := persistedContent(kind, path, entries)
	if err != nil {
		return err
	}
	if !keep {
		err := os.Remove(path)
		if errors.Is(err, fs.ErrNotExist) {
			err = nil
		}
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".loops-tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return err
	}
	if uid, _ := o.invokingUser(); uid != os.Geteuid() {
		os.Chown(tmp, uid, -1)
	}
	return os.Rename(tmp, path)
}

// persistedContent is the new contents of the file at path; keep is false
// when the file should go.
func persistedContent(kind, path string, entries []PersistEntry) (content string, keep bool, err error) {
	if kind == KindPipeWire {
		if len(entries) == 0 {
			return "", false, nil
		}
		var b strings.Builder
		b.WriteString(pwHeader + "pulse.cmd = [\n")
		for _, e := range entries {
			fmt.Fprintf(&b, "  { cmd = \"load-module\" args = %s flags = [ \"nofail\" ] } %s%s\n",
				strconv.Quote(e.module()+" "+e.Args), pwLineMarker, e.ID)
		}
		b.WriteString("]\n")
		return b.String(), true, nil
	}
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", false, err
	}
	var b strings.Builder
	if errors.Is(err, fs.ErrNotExist) {
		b.WriteString(paHeader)
	} else {
		// Keep everything but loops' blocks.
		lines := strings.Split(strings.TrimRight(string(old), "\n"), "\n")
		for i := 0; i < len(lines); i++ {
			if strings.HasPrefix(lines[i], paMark) {
				for i < len(lines) && lines[i] != ".fail" {
					i++
				}
				continue
			}
			b.WriteString(lines[i] + "\n")
		}
	}
	if b.String() == paHeader && len(entries) == 0 {
		return "", false, nil
	}
	for _, e := range entries {
		what := "mic " + e.Mic + ": " + e.module()
		if e.Mic == "" {
			lb := loopbackFromArgs(0, e.Args)
			what = fmt.Sprintf("loopback %s -> %s", lb.ArgSource, lb.ArgSink)
		}
		fmt.Fprintf(&b, "%s%s (%s=%s)\n.nofail\nload-module %s %s\n.fail\n",
			paMark, what, MarkProperty, e.ID, e.module(), e.Args)
	}
	return b.String(), true, nil
}
