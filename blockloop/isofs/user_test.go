package isofs_test

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
	"github.com/loops-cli/loops/blockloop/isofs"
	"github.com/loops-cli/loops/netloop/netlooptest"
)

// The test binary re-executed as a normal user serves an image, reads a
// file through the mount, and unmounts (TestMountAsUser).
func init() {
	if os.Getenv("ISOFS_TEST_SERVE_AS_USER") == "" {
		return
	}
	img, mp := os.Args[len(os.Args)-2], os.Args[len(os.Args)-1]
	s, err := isofs.Serve(context.Background(), img, mp, isofs.Options{})
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
// not open to other users (this VM: 0600, no udev), the error says so.
func TestMountAsUser(t *testing.T) {
	netlooptest.RequireRoot(t)
	if _, err := exec.LookPath("fusermount"); err != nil {
		if _, err := exec.LookPath("fusermount3"); err != nil {
			t.Skip("no fusermount")
		}
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
	exe := filepath.Join(dir, "isofs.test")
	if err := os.WriteFile(exe, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$", img, mp)
	cmd.Env = append(os.Environ(), "ISOFS_TEST_SERVE_AS_USER=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	var st syscall.Stat_t
	syscall.Stat("/dev/fuse", &st)
	if st.Mode&0o006 != 0o006 {
		// This host keeps /dev/fuse to root: the error must say so.
		if err == nil || !strings.Contains(string(out), "/dev/fuse is not readable and writable by you") {
			t.Errorf("as uid 65534 with /dev/fuse %o: %v\n%s", st.Mode&0o777, err, out)
		}
	} else {
		want := sha256.Sum256([]byte("second\n"))
		if err != nil || !strings.Contains(string(out), "read <nil> "+hex.EncodeToString(want[:])) {
			t.Errorf("as uid 65534: %v\n%s", err, out)
		}
	}
	// And where /dev/fuse is open to users: in a private mount namespace
	// with a 0666 /dev/fuse bound over the real one (the host's stays as is).
	if _, err := exec.LookPath("unshare"); err == nil {
		node := filepath.Join(dir, "fuse")
		if err := syscall.Mknod(node, syscall.S_IFCHR|0o666, int(10<<8|229)); err != nil {
			t.Fatal(err)
		}
		os.Chmod(node, 0o666)
		script := fmt.Sprintf("mount --bind %s /dev/fuse && exec setpriv --reuid 65534 --regid 65534 --clear-groups %s -test.run=^$ %s %s", node, exe, img, mp)
		cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", script)
		cmd.Env = append(os.Environ(), "ISOFS_TEST_SERVE_AS_USER=1")
		out, err := cmd.CombinedOutput()
		want := sha256.Sum256([]byte("second\n"))
		if err != nil || !strings.Contains(string(out), "read <nil> "+hex.EncodeToString(want[:])) {
			t.Errorf("as uid 65534 with a 0666 /dev/fuse: %v\n%s", err, out)
		}
	}
	if m := mountOf(mp); m != nil {
		t.Errorf("left mounted: %+v", m)
		syscall.Unmount(mp, syscall.MNT_DETACH)
	}
}
