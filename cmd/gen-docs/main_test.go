package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestDocsUpToDate fails when docs/man or docs/reference differ from what
// the command tree generates: run `make docs` and commit the result.
func TestDocsUpToDate(t *testing.T) {
	tmp := t.TempDir()
	if err := generate(tmp); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"man", "reference"} {
		want := readTree(t, filepath.Join(tmp, sub))
		got := readTree(t, filepath.Join("..", "..", "docs", sub))
		for name, w := range want {
			g, ok := got[name]
			switch {
			case !ok:
				t.Errorf("docs/%s/%s is missing: run make docs", sub, name)
			case !bytes.Equal(g, w):
				t.Errorf("docs/%s/%s is stale: run make docs", sub, name)
			}
		}
		for name := range got {
			if _, ok := want[name]; !ok {
				t.Errorf("docs/%s/%s is no longer generated: run make docs", sub, name)
			}
		}
	}
}

// TestGenerateIsReproducible: two runs give the same bytes.
func TestGenerateIsReproducible(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	if err := generate(a); err != nil {
		t.Fatal(err)
	}
	if err := generate(b); err != nil {
		t.Fatal(err)
	}
	ta, tb := readTree(t, filepath.Join(a, "man")), readTree(t, filepath.Join(b, "man"))
	if len(ta) == 0 {
		t.Fatal("no man pages generated")
	}
	for name, x := range ta {
		if !bytes.Equal(x, tb[name]) {
			t.Errorf("%s differs between two runs", name)
		}
	}
}

func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

// TestPlaceholdersSurvive: <image> and <mountpoint> reach the man page and
// the reference (a markdown renderer drops them as HTML tags unescaped).
func TestPlaceholdersSurvive(t *testing.T) {
	tmp := t.TempDir()
	if err := generate(tmp); err != nil {
		t.Fatal(err)
	}
	man, err := os.ReadFile(filepath.Join(tmp, "man", "loops-mount.1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`\fBloops mount <image> [<mountpoint>] [flags]\fP`, "Without <mountpoint>, the image"} {
		if !bytes.Contains(man, []byte(want)) {
			t.Errorf("loops-mount.1 lacks %q", want)
		}
	}
	ref, err := os.ReadFile(filepath.Join(tmp, "reference", "loops_mount.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"loops mount <image> [<mountpoint>] [flags]\n", `Without \<mountpoint\>, the image`} {
		if !bytes.Contains(ref, []byte(want)) {
			t.Errorf("loops_mount.md lacks %q", want)
		}
	}
}
