package erofs_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loops-cli/loops/blockloop/blocklooptest"
	"github.com/loops-cli/loops/blockloop/erofs"
)

func TestMain(m *testing.M) { os.Exit(blocklooptest.Main(m)) }

// mountIndex mounts index over dev (file-backed where the kernel can, else on loop devices), as
// mount -t erofs -o ro,device=DEV INDEX DIR; unmounted at cleanup.
func mountIndex(t testing.TB, index, dev string) string {
	t.Helper()
	mnt := filepath.Join(filepath.Dir(index), "mnt")
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	blocklooptest.MountErofs(t, index, dev, mnt, 0)
	return mnt
}

// checkMounted compares the kernel's view of the mount with the
// description, file by file.
func checkMounted(t testing.TB, f *fixture, mnt string, base int64) {
	t.Helper()
	inos := map[uint64]uint64{}
	for p, n := range paths(f.root) {
		full := mnt + p
		var st syscall.Stat_t
		if err := syscall.Lstat(full, &st); err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		checkAttr(t, p, n, shown{st.Mode, st.Uid, st.Gid, uint32(st.Nlink), st.Ino, time.Unix(st.Mtim.Sec, st.Mtim.Nsec)}, inos)
		switch n.Mode & 0o170000 {
		case modeReg:
			b, err := os.ReadFile(full)
			if err != nil {
				t.Errorf("%s: %v", p, err)
			} else if w := nodeData(t, n, f.dev, base); !bytes.Equal(b, w) {
				t.Errorf("%s: %d bytes differ from the %d described (first at %d)", p, len(b), len(w), firstDiff(b, w))
			}
		case modeLink:
			if s, err := os.Readlink(full); err != nil || s != n.Target {
				t.Errorf("%s: readlink %q, %v", p, s, err)
			}
		case modeChr:
			if st.Rdev != n.Rdev {
				t.Errorf("%s: rdev %#x, want %#x", p, st.Rdev, n.Rdev)
			}
		case modeDir:
			ents, err := os.ReadDir(full)
			if err != nil || len(ents) != len(n.Children) {
				t.Errorf("%s: %d entries, want %d (%v)", p, len(ents), len(n.Children), err)
			}
		}
	}
}

// TestKernelMount mounts the mixed tree's index over its device at each
// alignment and block size, compared file by file.
func TestKernelMount(t *testing.T) {
	blocklooptest.RequireRoot(t)
	complaints := kmsgMark(t)
	for _, align := range []int64{512, 2048, 4096} {
		for _, bs := range []int{0, 512} {
			f := mixed(align)
			index, info := f.write(t, erofs.Options{BlockSize: bs, CompactMtime: bs == 0, Label: "mixed"})
			dir := blocklooptest.Dir(t)
			dev := tempFile(t, dir, "image", f.dev)
			mnt := mountIndex(t, tempFile(t, dir, "index", index), dev)
			t.Logf("align %d: %d-byte blocks, %d inodes, %d bytes of index", align, info.BlockSize, info.Inodes, info.Size)
			checkMounted(t, f, mnt, 0)
		}
	}
	if c := complaints(); len(c) > 0 {
		t.Errorf("the kernel complained:\n%s", strings.Join(c, "\n"))
	}
}

// kmsgMark writes a line to the kernel log and returns a function listing
// the erofs complaints logged after it (dmesg must stay clean).
func kmsgMark(t testing.TB) func() []string {
	t.Helper()
	mark := "loops-test erofs " + t.Name() + " " + time.Now().Format(time.RFC3339Nano)
	if err := os.WriteFile("/dev/kmsg", []byte(mark+"\n"), 0); err != nil {
		t.Fatalf("writing to /dev/kmsg: %v", err)
	}
	return func() []string {
		buf := make([]byte, 1<<21)
		n, err := syscall.Klogctl(3, buf) // SYSLOG_ACTION_READ_ALL, as dmesg
		if err != nil {
			t.Fatalf("reading the kernel log: %v", err)
		}
		log := string(buf[:n])
		i := strings.LastIndex(log, mark)
		if i < 0 {
			t.Fatalf("the kernel log lost its mark (rotated?)")
		}
		var out []string
		for _, line := range strings.Split(log[i:], "\n") {
			if strings.Contains(line, "erofs") && !strings.Contains(line, "mounted with root inode") && !strings.Contains(line, "loops-test") {
				out = append(out, line)
			}
		}
		return out
	}
}

// asNobody runs a command as nobody, its combined output and error.
func asNobody(name string, args ...string) (string, error) {
	out, err := exec.Command("setpriv", append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", name}, args...)...).CombinedOutput()
	return string(out), err
}

// TestKernelPermissions: the kernel enforces the index's owners and modes.
func TestKernelPermissions(t *testing.T) {
	blocklooptest.RequireRoot(t)
	blocklooptest.Tool(t, "setpriv")
	f := mixed(512)
	index, _ := f.write(t, erofs.Options{CompactMtime: true})
	dir := blocklooptest.Dir(t)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	mnt := mountIndex(t, tempFile(t, dir, "index", index), tempFile(t, dir, "image", f.dev))
	if out, err := asNobody("cat", mnt+"/embedded"); err == nil || !strings.Contains(out, "Permission denied") {
		t.Errorf("nobody read a 0600 file of uid 1000: %v %q", err, out)
	}
	if out, err := asNobody("ls", mnt+"/sub"); err == nil || !strings.Contains(out, "Permission denied") {
		t.Errorf("nobody listed a 0700 directory of root: %v %q", err, out)
	}
	if out, err := asNobody("cat", mnt+"/group-read"); err != nil {
		t.Errorf("nobody (group 65534) could not read a 0640 file of its group: %v %q", err, out)
	}
	if out, err := asNobody("cat", mnt+"/hard1"); err != nil {
		t.Errorf("nobody could not read a 0644 file: %v %q", err, out)
	}
}

// TestKernelImageChanged: the image shrinking and changing under a
// mount gives errors or other bytes, never a crash or hang; the mount
// still goes.
func TestKernelImageChanged(t *testing.T) {
	blocklooptest.RequireRoot(t)
	f := mixed(2048)
	index, _ := f.write(t, erofs.Options{CompactMtime: true})
	dir := blocklooptest.Dir(t)
	dev := tempFile(t, dir, "image", f.dev)
	mnt := mountIndex(t, tempFile(t, dir, "index", index), dev)
	if err := os.Truncate(dev, int64(len(f.dev)/3)); err != nil {
		t.Fatal(err)
	}
	g, err := os.OpenFile(dev, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	g.WriteAt(bytes.Repeat([]byte{0xee}, 4096), 0)
	g.Close()
	read, failed := 0, 0
	filepath.WalkDir(mnt, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if _, err := os.ReadFile(p); err != nil {
				failed++
			} else {
				read++
			}
		}
		return nil
	})
	t.Logf("after truncation: %d files read, %d failed", read, failed)
	if read == 0 {
		t.Errorf("no file read at all after the image shrank (metadata is in the index)")
	}
}
