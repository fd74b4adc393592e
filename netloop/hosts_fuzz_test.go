package netloop_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/loops-cli/loops/netloop"
)

// FuzzParseHosts checks, for any input, that parsing loses no byte, that
// Add then Remove of a new name gives the input back exactly (on the same
// HostsFile and on a re-parsed one, as two loops runs), and that removing an
// existing name changes only the lines that have it.
func FuzzParseHosts(f *testing.F) {
	for _, s := range hostsSamples {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h := netloop.ParseHosts(data)
		if got := h.Bytes(); !bytes.Equal(got, data) {
			t.Fatalf("Bytes() = %q, want the input %q", got, data)
		}
		entries := h.Entries()
		if again := netloop.ParseHosts(h.Bytes()).Entries(); fmt.Sprint(again) != fmt.Sprint(entries) {
			t.Fatalf("re-parse differs: %v vs %v", again, entries)
		}
		fuzzAddRemove(t, data)
		if len(entries) > 0 {
			fuzzRemoveExisting(t, data, entries[0].Names[len(entries[0].Names)-1])
		}
	})
}

func fuzzAddRemove(t *testing.T, data []byte) {
	const name = "loops-fuzz.test"
	lo := netip.MustParseAddr("127.0.0.1")
	h := netloop.ParseHosts(data)
	if h.Lookup(name) != nil {
		return
	}
	before := h.Entries()
	changed, err := h.Add(name, lo)
	if err != nil || !changed {
		t.Fatalf("Add = %v, %v; want true, nil", changed, err)
	}
	added := h.Bytes()
	if !bytes.HasPrefix(added, data) {
		t.Fatalf("Add changed existing bytes: %q -> %q", data, added)
	}
	re := netloop.ParseHosts(added)
	if got := re.Lookup(name); len(got) != 1 || got[0] != lo {
		t.Fatalf("after Add, Lookup = %v in %q", got, added)
	}
	after := re.Entries()
	if len(after) != len(before)+1 || fmt.Sprint(after[:len(before)]) != fmt.Sprint(before) || !after[len(before)].ByLoops {
		t.Fatalf("Add disturbed other entries: %v -> %v", before, after)
	}
	if changed, err := h.Add(name, lo); err != nil || changed {
		t.Fatalf("second Add = %v, %v; want false, nil", changed, err)
	}
	for _, g := range []*netloop.HostsFile{h, re} {
		if changed, err := g.Remove(name); err != nil || !changed {
			t.Fatalf("Remove = %v, %v; want true, nil", changed, err)
		}
		if got := g.Bytes(); !bytes.Equal(got, data) {
			t.Fatalf("Add+Remove: %q, want the input %q", got, data)
		}
	}
}

// fuzzRemoveExisting removes name, which data maps, and checks that only the
// lines with it changed.
func fuzzRemoveExisting(t *testing.T, data []byte, name string) {
	h := netloop.ParseHosts(data)
	before := h.Entries()
	changed, err := h.Remove(name)
	if errors.Is(err, netloop.ErrForeignEntry) {
		if changed || !bytes.Equal(h.Bytes(), data) {
			t.Fatal("refused Remove changed the file")
		}
		changed, err = h.RemoveForce(name)
	}
	if err != nil || !changed {
		t.Fatalf("Remove(%q) = %v, %v", name, changed, err)
	}
	out := h.Bytes()
	if h.Lookup(name) != nil || netloop.ParseHosts(out).Lookup(name) != nil {
		t.Fatalf("%q still maps after Remove: %q", name, out)
	}
	// Lines without the name keep their text, in order.
	with := map[int]bool{}
	for _, e := range before {
		if slices.ContainsFunc(e.Names, func(n string) bool { return hostsFold(n) == hostsFold(name) }) {
			with[e.Line] = true
		}
	}
	var kept [][]byte
	for i, l := range hostsLines(data) {
		if !with[i+1] {
			kept = append(kept, l)
		}
	}
	rest := hostsLines(out)
	for _, l := range kept {
		i := slices.IndexFunc(rest, func(r []byte) bool { return bytes.Equal(r, l) })
		if i < 0 {
			t.Fatalf("line %q lost or changed by Remove(%q):\n%q\n->\n%q", l, name, data, out)
		}
		rest = rest[i+1:]
	}
	// Entries keep their other names, in order.
	var want, got []string
	for _, e := range before {
		for _, n := range e.Names {
			if hostsFold(n) != hostsFold(name) {
				want = append(want, e.Addr.String()+" "+n)
			}
		}
	}
	for _, e := range netloop.ParseHosts(out).Entries() {
		for _, n := range e.Names {
			got = append(got, e.Addr.String()+" "+n)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Remove(%q): names %q, want %q", name, got, want)
	}
}

// hostsLines splits b after each '\n' and drops the line endings.
func hostsLines(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		l := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			l, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		out = append(out, bytes.TrimSuffix(l, []byte("\r")))
	}
	return out
}

func hostsFold(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
