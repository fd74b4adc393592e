package userfs_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/loops-cli/loops/blockloop/iso9660/isotest"
	"github.com/loops-cli/loops/blockloop/userfs"
	"github.com/loops-cli/loops/internal/testkit"
	"golang.org/x/sys/unix"
)

// The test binary re-executed as a normal user serves an image, reads a
// file through the mount, and unmounts (TestMountAsUser).
func init() {
	if os.Getenv("ISOFS_TEST_SERVE_AS_USER") == "" {
		return
	}
	img, mp := os.Args[len(os.Args)-2], os.Args[len(os.Args)-1]
	s, err := userfs.Serve(context.Background(), img, mp, userfs.Options{})
	if err != nil {
		fmt.Println("serve:", err)
		os.Exit(1)
	}
	b, err := os.ReadFile(filepath.Join(mp, "Dir One", "second.md"))
	sum := sha256.Sum256(b)
	fmt.Printf("read %v %s\n", err, hex.EncodeToString(sum[:]))
	if err := s.Unmount(); err != nil {
		fmt.Println("unmount:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// TestMountAsUser: a normal user (uid 65534) mounts through fusermount,
// reads a file, and unmounts; nothing is left mounted. Where /dev/fuse is
// not open to other users, the error says so. Both cases are made here, in
// private mount namespaces whose /dev/fuse is a node of mode 0600 or 0666
// on a tmpfs of their own (the host's /dev/fuse stays as it is).
func TestMountAsUser(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.Tool(t, "fusermount3")
	unshare := testkit.Tool(t, "unshare")
	var fuseDev syscall.Stat_t
	if err := syscall.Stat("/dev/fuse", &fuseDev); err != nil {
		testkit.Skip(t, "no /dev/fuse: %v", err)
	}
	dir, err := os.MkdirTemp("", marker+"user-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	src := isotest.JolietTree(t)
	iso := isotest.BuildISO(t, src, "-R")
	data, _ := os.ReadFile(iso)
	img := filepath.Join(dir, "image.iso")
	os.WriteFile(img, data, 0o644)
	mp := filepath.Join(dir, "mnt")
	os.Mkdir(mp, 0o755)
	os.Chown(mp, 65534, 65534)
	// The test binary's own directory is private to root: run a copy.
	self, _ := os.Executable()
	bin, _ := os.ReadFile(self)
	exe := filepath.Join(dir, "userfs.test")
	if err := os.WriteFile(exe, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256([]byte("second\n"))
	for _, mode := range []uint32{0o600, 0o666} {
		devDir := filepath.Join(dir, fmt.Sprintf("dev-%o", mode))
		os.Mkdir(devDir, 0o755)
		script := fmt.Sprintf("mount -t tmpfs -o mode=0755 loops-test-dev %[1]s && mknod -m %04[2]o %[1]s/fuse c %[3]d %[4]d && mount --bind %[1]s/fuse /dev/fuse && exec setpriv --reuid 65534 --regid 65534 --clear-groups %[5]s -test.run=^$ %[6]s %[7]s",
			devDir, mode, unix.Major(fuseDev.Rdev), unix.Minor(fuseDev.Rdev), exe, img, mp)
		cmd := exec.Command(unshare, "-m", "--propagation", "private", "sh", "-c", script)
		cmd.Env = append(os.Environ(), "ISOFS_TEST_SERVE_AS_USER=1")
		out, err := cmd.CombinedOutput()
		if mode == 0o600 {
			if err == nil || !strings.Contains(string(out), "/dev/fuse is not readable and writable by you") {
				t.Errorf("as uid 65534 with /dev/fuse 0600: %v\n%s", err, out)
			}
			continue
		}
		if err != nil || !strings.Contains(string(out), "read <nil> "+hex.EncodeToString(want[:])) {
			t.Errorf("as uid 65534 with a 0666 /dev/fuse: %v\n%s", err, out)
		}
	}
	if m := mountOf(mp); m != nil {
		t.Errorf("left mounted: %+v", m)
		syscall.Unmount(mp, syscall.MNT_DETACH)
	}
}
