package fattest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/loops-cli/loops/blockloop/readkit/readkittest"
	"github.com/loops-cli/loops/internal/testkit"
)

// Fsck runs `fsck.fat -n` on img (at byte offset off when not 0, through
// a copy of the volume) and returns its report lines past the header and
// the summary, and whether it exited 0.
func Fsck(t testing.TB, img string, off, size int64) ([]string, bool) {
	t.Helper()
	bin := testkit.Tool(t, "fsck.fat")
	if off != 0 || size != 0 {
		img = Extract(t, img, off, size)
	}
	out, err := testkit.Command(bin, "-n", img).CombinedOutput()
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.HasPrefix(l, "fsck.fat ") || summary.MatchString(l) || l == "" {
			continue
		}
		lines = append(lines, l)
	}
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("fsck.fat: %v", err)
	}
	return lines, err == nil
}

var summary = regexp.MustCompile(`: \d+ files, \d+/\d+ clusters$`)

// FsckClean fails the test unless `fsck.fat -n` finds img's volume clean.
func FsckClean(t testing.TB, img string, off, size int64) {
	t.Helper()
	if lines, ok := Fsck(t, img, off, size); !ok || len(lines) > 0 {
		t.Errorf("fsck.fat -n %s (offset %d): not clean:\n%s", img, off, strings.Join(lines, "\n"))
	}
}

// Extract copies size bytes at off of img to a file of its own.
func Extract(t testing.TB, img string, off, size int64) string {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, size)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "part.img")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// MtoolsTree extracts img's volume (at byte offset off) with mtools'
// `mcopy -s -n -m` and lists it as readkittest.HostTree does.
func MtoolsTree(t testing.TB, img string, off int64) readkittest.Tree {
	t.Helper()
	out := t.TempDir()
	src := img
	if off != 0 {
		src = img + "@@" + itoa(off)
	}
	ents := testkit.Run(t, testkit.Tool(t, "mdir"), "-b", "-i", src, "::/")
	if strings.TrimSpace(ents) != "" {
		testkit.Run(t, testkit.Tool(t, "mcopy"), "-s", "-n", "-m", "-i", src, "::/*", out+"/")
	}
	return readkittest.HostTree(t, out)
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
