package stress

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"

	"golang.org/x/sys/unix"

	"github.com/loops-cli/loops/blockloop/blocklooptest"
	"github.com/loops-cli/loops/internal/testkit"
)

// hostileLabels try to leave the media directory, or to hide in it.
var hostileLabels = []string{"../../etc", "/", "..", ".", "a/../../b", "/etc/passwd", "\x1b[31mred\n", "\t..\t", "..\x00x", "x\u202eevil"}

// TestHostileLabel: a volume label that tries to leave LOOPS_MEDIA_DIR
// (`../../etc`, `/`, control characters) gives a sanitized directory
// directly inside it, on the kernel path (ext4) and the userspace one (ISO).
func TestHostileLabel(t *testing.T) {
	requireRoot(t)
	dir := blocklooptest.Dir(t)
	media := filepath.Join(dir, "media")
	if err := os.Mkdir(media, 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{"LOOPS_MEDIA_DIR=" + media}
	before := listDir(t, dir)
	iso := plainISO(t, dir, "PLAIN", 0)
	for i, label := range hostileLabels {
		for _, kind := range []string{"ext4", "iso"} {
			t.Run(fmt.Sprintf("%s/%q", kind, label), func(t *testing.T) {
				var img string
				switch kind {
				case "ext4":
					if len(label) > 16 || strings.ContainsRune(label, 0) {
						t.Skip("ext4 labels hold 16 bytes without NUL")
					}
					img = blocklooptest.Ext4(t, filepath.Join(dir, fmt.Sprintf("label%d.img", i)), label, "", 4<<20)
				case "iso":
					im := iso.clone()
					im.setLabel(label)
					img = im.save(dir, fmt.Sprintf("label%d.iso", i))
				}
				defer os.Remove(img)
				r := mustLoops(t, env, "mount", img)
				mp := strings.TrimSuffix(r.stdout, "\n")
				t.Logf("label %q -> %q", label, filepath.Base(mp))
				if filepath.Dir(mp) != media {
					t.Errorf("label %q: mounted at %q, not directly inside %s", label, mp, media)
				}
				base := filepath.Base(mp)
				if base == "." || base == ".." || base == "" || strings.ContainsRune(base, '/') {
					t.Errorf("label %q: directory name %q", label, base)
				}
				for _, c := range base {
					if unicode.IsControl(c) || !unicode.IsPrint(c) && c != ' ' {
						t.Errorf("label %q: directory name %q has %U", label, base, c)
					}
				}
				if len(blocklooptest.MountsUnder(media)) != 1 {
					t.Errorf("mounts under %s: %v", media, blocklooptest.MountsUnder(media))
				}
				mustLoops(t, nil, "umount", mp)
				if ents := listDir(t, media); len(ents) != 0 {
					t.Errorf("left in %s after umount: %q", media, ents)
				}
				noLeftovers(t, dir)
			})
		}
	}
	if after := listDir(t, dir); fmt.Sprint(after) != fmt.Sprint(append(before, "plain.iso")) && fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("the test directory changed: %q, was %q", after, before)
	}
}

func listDir(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// isoCase is a crafted ISO: an edit of the plain image.
type isoCase struct {
	name string
	edit func(im *isoImage)
	// valid is a file that must still read right when the mount succeeds.
	valid string
}

var hostileISOs = []isoCase{
	{"dir contains itself", func(im *isoImage) {
		sub := im.child(im.root(), "SUB")
		inner := im.child(sub, "INNER")
		im.setExtent(inner, im.extent(sub))
		im.setSize(inner, im.size(sub))
	}, "README.TXT"},
	{"dir contains the root", func(im *isoImage) {
		sub := im.child(im.root(), "SUB")
		inner := im.child(sub, "INNER")
		im.setExtent(inner, im.extent(im.root()))
		im.setSize(inner, im.size(im.root()))
	}, "README.TXT"},
	{"dir is its parent", func(im *isoImage) {
		sub := im.child(im.root(), "SUB")
		im.setExtent(sub, im.extent(im.root()))
		im.setSize(sub, im.size(im.root()))
	}, "README.TXT"},
	{"dir . points at itself only", func(im *isoImage) {
		sub := im.child(im.root(), "SUB")
		im.setExtent(im.dot(sub), im.extent(sub))
		inner := im.child(sub, "INNER")
		// INNER's .. points at INNER itself.
		dotdot := record(int(im.dot(inner)) + int(im.b[im.dot(inner)]))
		im.setExtent(dotdot, im.extent(inner))
	}, "SUB/FILE.TXT"},
	{"file extent beyond the end", func(im *isoImage) {
		im.setExtent(im.child(im.root(), "README.TXT"), 0x7ffffff0)
	}, "SUB/FILE.TXT"},
	{"file size beyond the end", func(im *isoImage) {
		im.setSize(im.child(im.root(), "README.TXT"), 0xffffffff)
	}, "SUB/FILE.TXT"},
	{"dir extent beyond the end", func(im *isoImage) {
		im.setExtent(im.child(im.root(), "SUB"), 0xfffffff0)
	}, "README.TXT"},
	{"dir claims 2^32-1 bytes", func(im *isoImage) {
		im.setSize(im.child(im.root(), "SUB"), 0xffffffff)
	}, "README.TXT"},
	{"root claims 2^32-1 bytes", func(im *isoImage) {
		im.setSize(im.root(), 0xffffffff)
		im.setSize(im.dot(im.root()), 0xffffffff)
	}, ""},
	{"root extent beyond the end", func(im *isoImage) {
		im.setExtent(im.root(), 0xfffffff0)
	}, ""},
	{"path table claims 2^32-1 bytes", func(im *isoImage) {
		im.setPathTableSize(0xffffffff)
	}, "SUB/INNER/DEEP.TXT"},
	{"volume space size 0", func(im *isoImage) {
		for _, off := range []int{pvdOff + 80} {
			for i := 0; i < 8; i++ {
				im.b[off+i] = 0
			}
		}
	}, "README.TXT"},
}

// TestHostileISO: crafted ISO images (a directory that contains itself or
// its parent, extents beyond the end of the image, a directory claiming 4
// GiB) are probed and mounted with every command bounded by a timeout:
// loops fails cleanly or serves what is valid, never hangs or panics, and
// leaves nothing behind.
func TestHostileISO(t *testing.T) {
	requireRoot(t)
	dir := blocklooptest.Dir(t)
	base := plainISO(t, dir, "HOSTILE", 0)
	for i, c := range hostileISOs {
		t.Run(c.name, func(t *testing.T) {
			im := base.clone()
			c.edit(im)
			img := im.save(dir, fmt.Sprintf("hostile%d.iso", i))
			defer os.Remove(img)
			p := loops(t, nil, "block", "probe", "--json", img)
			if p.code != 0 && p.code != 1 {
				t.Errorf("probe: %v", p)
			}
			mp := filepath.Join(dir, fmt.Sprintf("mnt%d", i))
			r := loops(t, nil, "mount", img, mp)
			t.Logf("probe exit %d; mount exit %d: %s", p.code, r.code, strings.TrimSpace(r.stderr))
			switch r.code {
			case 0:
				walk := runBounded(t, 15*time.Second, nil, nil, "find", mp, "-maxdepth", "64", "-printf", "%d %p\n")
				maxDepth := 0
				for _, l := range strings.Split(strings.TrimSpace(walk.stdout), "\n") {
					var d int
					fmt.Sscanf(l, "%d", &d)
					maxDepth = max(maxDepth, d)
				}
				t.Logf("served tree:\n%s", strings.ReplaceAll(walk.stdout, mp, ""))
				if maxDepth > 4 {
					t.Errorf("the tree served is %d deep (a cycle served as an endless tree):\n%s", maxDepth, walk.stdout[:min(len(walk.stdout), 2000)])
				}
				cat := runBounded(t, 15*time.Second, nil, nil, "sh", "-c", `find "$1" -maxdepth 8 -type f -exec cat {} + >/dev/null 2>&1; exit 0`, "sh", mp)
				_ = cat
				if c.valid != "" {
					b, err := os.ReadFile(filepath.Join(mp, c.valid))
					if err != nil {
						t.Errorf("the valid file %s: %v", c.valid, err)
					} else if len(b) == 0 {
						t.Errorf("the valid file %s is empty", c.valid)
					}
				}
				u := loops(t, nil, "umount", mp)
				if u.code != 0 {
					t.Errorf("umount: %v", u)
				}
			case 1:
				if !strings.HasPrefix(r.stderr, "loops: ") {
					t.Errorf("mount failed without a loops error: %v", r)
				}
				if _, err := os.Lstat(mp); err == nil {
					t.Errorf("a failed mount left %s", mp)
				}
			default:
				t.Errorf("mount: %v", r)
			}
			noLeftovers(t, dir)
		})
	}
}

// TestNosuidNodev: a setuid-root program inside an ext4 image, run as nobody
// through the mount, does not get euid 0 (nosuid), and a device node inside
// it (/dev/null's 1:3) cannot be opened (nodev).
func TestNosuidNodev(t *testing.T) {
	requireRoot(t)
	dir := blocklooptest.Dir(t)
	os.Chmod(dir, 0o755) // nobody must reach the mount
	src := filepath.Join(dir, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(testkit.Tool(t, "id"))
	if err != nil {
		t.Fatal(err)
	}
	suid := filepath.Join(src, "suid-id")
	writeFile(t, suid, data, 0o755)
	if err := os.Chmod(suid, 0o755|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(filepath.Join(src, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	// The control: the same program outside a nosuid mount does give
	// euid 0 (else this test could pass for the wrong reason).
	control := filepath.Join(dir, "control-id")
	writeFile(t, control, data, 0o755)
	os.Chmod(control, 0o755|os.ModeSetuid)
	nobody := []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"}
	if r := runBounded(t, 10*time.Second, nobody, nil, control, "-u"); strings.TrimSpace(r.stdout) != "0" {
		t.Fatalf("control: a setuid-root id run as nobody outside the mount says euid %q, want 0 (%v)", r.stdout, r)
	}

	img := blocklooptest.Ext4(t, filepath.Join(dir, "suid.img"), "SUID", src, 8<<20)
	mp := filepath.Join(dir, "mnt")
	mustLoops(t, nil, "mount", img, mp)
	defer func() {
		mustLoops(t, nil, "umount", mp)
		noLeftovers(t, dir)
	}()
	os.Chmod(mp, 0o755)

	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(mp, "suid-id"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&unix.S_ISUID == 0 || st.Uid != 0 {
		t.Fatalf("the image lost the setuid bit or owner (mode %o, uid %d): the test means nothing", st.Mode, st.Uid)
	}
	r := runBounded(t, 10*time.Second, nobody, nil, filepath.Join(mp, "suid-id"), "-u")
	if r.code != 0 {
		t.Fatalf("run the setuid program as nobody: %v", r)
	}
	if got := strings.TrimSpace(r.stdout); got != "65534" {
		t.Errorf("nosuid not honoured: a setuid-root program in the mount, run as nobody, has euid %s", got)
	}

	if err := unix.Stat(filepath.Join(mp, "null"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
		t.Fatalf("the device node did not survive mkfs -d (mode %o, rdev %x): the test means nothing", st.Mode, st.Rdev)
	}
	for _, flag := range []int{os.O_RDONLY, os.O_WRONLY} {
		f, err := os.OpenFile(filepath.Join(mp, "null"), flag, 0)
		if err == nil {
			f.Close()
			t.Errorf("nodev not honoured: opened the device node 1:3 in the mount (flags %d) as root", flag)
		} else if !errors.Is(err, unix.EACCES) && !errors.Is(err, unix.EPERM) {
			t.Errorf("open of the device node: %v, want EACCES or EPERM", err)
		}
	}
	if r := runBounded(t, 10*time.Second, nobody, nil, "sh", "-c", `echo x > "$1"`, "sh", filepath.Join(mp, "null")); r.code == 0 {
		t.Errorf("nodev not honoured: nobody wrote to the device node in the mount")
	}
	// The mount's options say so too.
	if !mountHasOpts(t, mp, "nosuid", "nodev") {
		t.Errorf("mountinfo of %s lacks nosuid,nodev", mp)
	}
}

// mountHasOpts tells whether the mount at mp has each of the per-mount
// options opts.
func mountHasOpts(t testing.TB, mp string, opts ...string) bool {
	have, _, ok := mountAt(t, mp)
	for _, o := range opts {
		if !strings.Contains(","+have+",", ","+o+",") {
			return false
		}
	}
	return ok
}
