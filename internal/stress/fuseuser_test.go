package stress

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/loops-cli/loops/blockloop/blocklooptest"
	"github.com/loops-cli/loops/internal/testkit"
)

// A user who is not root mounts an ISO through FUSE when /dev/fuse is open
// to them and a setuid fusermount is there, and is told to use sudo when
// not. Which of the two a machine offers differs (/dev/fuse is 0600 on
// some, 0666 on others), so each test makes its case itself: a private
// mount namespace where /dev/fuse is replaced by a node of the mode the
// case needs. The host's /dev/fuse is never touched.

// otherUserID is a third user, neither root nor nobody.
const otherUserID = 65533

// mountNS is a private mount namespace held open by a sleeping process,
// with its own /dev/fuse.
type mountNS struct {
	pid int
}

// newMountNS makes a private mount namespace for t whose /dev/fuse is a
// node of the given mode (the host's device numbers, owner root), on a
// tmpfs of its own under dir.
func newMountNS(t *testing.T, dir string, fuseMode os.FileMode) *mountNS {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat("/dev/fuse", &st); err != nil {
		testkit.Skip(t, "no /dev/fuse on this machine: %v", err)
	}
	cmd := exec.Command(testkit.Tool(t, "unshare"), "--mount", "--propagation", "private", "sleep", "3600")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	ns := &mountNS{pid: cmd.Process.Pid}
	self, _ := os.Readlink("/proc/self/ns/mnt")
	for deadline := time.Now().Add(5 * time.Second); ; {
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", ns.pid)); err == nil && l != self {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("unshare did not enter a new mount namespace")
		}
		time.Sleep(5 * time.Millisecond)
	}
	devDir := filepath.Join(dir, fmt.Sprintf("dev-%04o", fuseMode))
	if err := os.Mkdir(devDir, 0o755); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf("mount -t tmpfs -o mode=0755 loops-test-dev %[1]s && mknod -m %04[2]o %[1]s/fuse c %[3]d %[4]d && mount --bind %[1]s/fuse /dev/fuse",
		devDir, fuseMode, unix.Major(st.Rdev), unix.Minor(st.Rdev))
	if out, err := ns.command("sh", "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("replace /dev/fuse in the private namespace: %v\n%s", err, out)
	}
	var got unix.Stat_t
	if out, err := ns.command("stat", "-c", "%a", "/dev/fuse").Output(); err != nil || strings.TrimSpace(string(out)) != strconv.FormatUint(uint64(fuseMode), 8) {
		t.Fatalf("/dev/fuse in the namespace is %q (%v), want %o", out, err, fuseMode)
	}
	if unix.Stat("/dev/fuse", &got) == nil && got.Mode != st.Mode {
		t.Fatalf("the host's /dev/fuse changed mode: %o -> %o", st.Mode, got.Mode)
	}
	return ns
}

// command runs name (an absolute path or one found in the test's PATH)
// inside the namespace, as root.
func (ns *mountNS) command(name string, args ...string) *exec.Cmd {
	if p, err := exec.LookPath(name); err == nil {
		name = p
	}
	return exec.Command("nsenter", append(ns.enter(), append([]string{name}, args...)...)...)
}

// enter are nsenter's arguments to enter the namespace. Entering a mount
// namespace resets the root directory to the namespace's: -r and -w keep
// the sleeping process's, which matters when the tests run in a chroot.
func (ns *mountNS) enter() []string {
	return []string{"-t", strconv.Itoa(ns.pid), "-m", "-r", "-w", "--"}
}

// as is the wrapper that runs a command inside the namespace as uid.
func (ns *mountNS) as(t testing.TB, uid int) []string {
	setpriv := testkit.Tool(t, "setpriv")
	id := strconv.Itoa(uid)
	return append(append([]string{testkit.Tool(t, "nsenter")}, ns.enter()...),
		setpriv, "--reuid="+id, "--regid="+id, "--clear-groups")
}

// mount returns the mountinfo fields of the mount at dir in the namespace:
// its options and filesystem type, and whether it is there.
func (ns *mountNS) mount(t testing.TB, dir string) (opts, fstype string, ok bool) {
	t.Helper()
	return mountIn(t, fmt.Sprintf("/proc/%d/mountinfo", ns.pid), dir)
}

// userMountpoint makes, under dir, a directory every user can search holding a
// mount point owned by uid.
func userMountpoint(t testing.TB, dir, name string, uid int) string {
	t.Helper()
	parent := filepath.Join(dir, "users")
	os.MkdirAll(parent, 0o755)
	os.Chmod(parent, 0o755)
	mp := filepath.Join(parent, name)
	if err := os.Mkdir(mp, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(mp, uid, uid); err != nil {
		t.Fatal(err)
	}
	return mp
}

// TestUserFUSEMount: where /dev/fuse is 0666 and fusermount3 is setuid
// root, nobody mounts an ISO with `loops mount`: the mount is nosuid,nodev,
// readable by nobody, unreachable by a third user (no allow_other), and
// nobody's `loops umount` removes it and its server.
func TestUserFUSEMount(t *testing.T) {
	requireRoot(t)
	fm := testkit.Tool(t, "fusermount3")
	if st, err := os.Stat(fm); err != nil || st.Mode()&os.ModeSetuid == 0 {
		testkit.Skip(t, "%s is not setuid root (Debian's fuse3 installs it so)", fm)
	}
	dir := testDir(t)
	iso := plainISO(t, dir, "USERISO", 0).save(dir, "cd.iso")
	ns := newMountNS(t, dir, 0o666)
	mp := userMountpoint(t, dir, "nobody-mnt", nobodyID)
	nobody := ns.as(t, nobodyID)

	r := runBounded(t, cmdTimeout, nobody, nil, loopsBin, "mount", iso, mp)
	if r.code != 0 {
		t.Fatalf("nobody could not mount with /dev/fuse 0666 and a setuid fusermount3: %v", r)
	}
	opts, fstype, ok := ns.mount(t, mp)
	if !ok {
		t.Fatalf("loops mount said %q but %s is not a mount point in the namespace", r.stderr, mp)
	}
	if fstype != "fuse.iso9660" {
		t.Errorf("fstype %q, want fuse.iso9660", fstype)
	}
	for _, o := range []string{"ro", "nosuid", "nodev"} {
		if !strings.Contains(","+opts+",", ","+o+",") {
			t.Errorf("mount options %q lack %s", opts, o)
		}
	}
	want := map[string]string{"README.TXT": "readme\n", "SUB/FILE.TXT": "in sub\n", "SUB/INNER/DEEP.TXT": "deep\n"}
	for name, content := range want {
		r := runBounded(t, cmdTimeout, nobody, nil, testkit.Tool(t, "cat"), filepath.Join(mp, name))
		if r.code != 0 || r.stdout != content {
			t.Errorf("nobody reads %s through the mount: %v", name, r)
		}
	}
	other := runBounded(t, cmdTimeout, ns.as(t, otherUserID), nil, testkit.Tool(t, "ls"), mp)
	if other.code == 0 || !strings.Contains(other.stderr, "Permission denied") {
		t.Errorf("a third user reached nobody's own mount: %v", other)
	}
	if len(serverPIDs(mp)) != 1 {
		t.Errorf("want one server for %s, have pids %v", mp, serverPIDs(mp))
	}

	r = runBounded(t, cmdTimeout, nobody, nil, loopsBin, "umount", mp)
	if r.code != 0 {
		t.Fatalf("nobody's loops umount of nobody's mount: %v", r)
	}
	if _, _, ok := ns.mount(t, mp); ok {
		t.Errorf("%s is still mounted after loops umount", mp)
	}
	deadline := time.Now().Add(3 * time.Second)
	for len(serverPIDs(mp)) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if pids := serverPIDs(mp); len(pids) > 0 {
		t.Errorf("the userspace server outlived the unmount: %v", pids)
	}
	if _, err := os.Stat(mp); err != nil {
		t.Errorf("loops umount removed a mount point it did not make: %v", err)
	}
}

// TestUserFUSEMountRefused: where nobody cannot mount through FUSE,
// `loops mount` of an ISO fails with exit 1, names what is missing, prints
// the sudo command line, and leaves nothing: /dev/fuse 0600 (and no
// fusermount reachable), or /dev/fuse 0666 and no fusermount.
func TestUserFUSEMountRefused(t *testing.T) {
	requireRoot(t)
	for _, c := range []struct {
		fuseMode os.FileMode
		missing  string
	}{{0o600, "/dev/fuse"}, {0o666, "fusermount"}} {
		t.Run(fmt.Sprintf("fuse-%04o", c.fuseMode), func(t *testing.T) {
			dir := testDir(t)
			iso := plainISO(t, dir, "USERISO", 0).save(dir, "cd.iso")
			ns := newMountNS(t, dir, c.fuseMode)
			mp := userMountpoint(t, dir, "nobody-mnt", nobodyID)
			noPath := []string{"PATH=" + filepath.Join(dir, "no-such-bin")}
			r := runBounded(t, cmdTimeout, ns.as(t, nobodyID), noPath, loopsBin, "mount", iso, mp)
			if r.code != 1 {
				t.Fatalf("exit %d, want 1: %v", r.code, r)
			}
			for _, must := range []string{c.missing, "sudo loops mount " + iso + " " + mp} {
				if !strings.Contains(r.stderr, must) {
					t.Errorf("stderr does not say %q:\n%s", must, r.stderr)
				}
			}
			if _, _, ok := ns.mount(t, mp); ok {
				t.Errorf("%s was mounted although loops failed", mp)
			}
			if pids := serverPIDs(mp); len(pids) > 0 {
				t.Errorf("a userspace server was left: %v", pids)
			}
			if ents := listDir(t, mp); len(ents) > 0 {
				t.Errorf("the mount point is not empty: %v", ents)
			}
		})
	}
}

// testDir is blocklooptest.Dir made searchable by every user.
func testDir(t *testing.T) string {
	t.Helper()
	d := blocklooptest.Dir(t)
	os.Chmod(d, 0o755)
	return d
}
