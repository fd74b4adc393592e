package netloop_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/loops-cli/loops/internal/testkit"
	"github.com/loops-cli/loops/netloop"
)

// --- EditHostsFile, on real files ---

// hostsDir returns an empty directory for hosts files, and points TMPDIR
// (where EditHostsFile keeps lock files for files other than /etc/hosts) at
// another one, so tests leave nothing in /tmp.
func hostsDir(t *testing.T) string {
	t.Helper()
	t.Setenv("TMPDIR", t.TempDir())
	return t.TempDir()
}

func hostsWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func hostsRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// assertOnly fails unless dir holds exactly names: no temp file, no lock.
func hostsAssertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	slices.Sort(names)
	if !slices.Equal(got, names) {
		t.Fatalf("%s holds %q, want only %q", dir, got, names)
	}
}

func hostsAdder(name, a string) func(*netloop.HostsFile) (bool, error) {
	return func(f *netloop.HostsFile) (bool, error) { return f.Add(name, netip.MustParseAddr(a)) }
}

func hostsRemover(name string) func(*netloop.HostsFile) (bool, error) {
	return func(f *netloop.HostsFile) (bool, error) { return f.Remove(name) }
}

func TestEditHostsFileAddRemove(t *testing.T) {
	for _, in := range []string{debianHosts, "127.0.0.1 localhost", "127.0.0.1 localhost\r\n", ""} {
		dir := hostsDir(t)
		p := filepath.Join(dir, "hosts")
		hostsWrite(t, p, in)
		changed, err := netloop.EditHostsFile(p, hostsAdder("dev.test", "127.0.0.2"))
		if err != nil || !changed {
			t.Fatalf("add: %v, %v", changed, err)
		}
		hostsAssertOnly(t, dir, "hosts")
		f, err := netloop.ReadHostsFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.Lookup("dev.test"); fmt.Sprint(got) != "[127.0.0.2]" {
			t.Fatalf("after add, Lookup = %v", got)
		}
		if !strings.HasPrefix(hostsRead(t, p), strings.TrimRight(in, "\r\n")) {
			t.Fatalf("original lines changed: %q", hostsRead(t, p))
		}
		before, _ := os.Stat(p)
		changed, err = netloop.EditHostsFile(p, hostsAdder("dev.test", "127.0.0.2"))
		if err != nil || changed {
			t.Fatalf("second add: %v, %v; want false, nil", changed, err)
		}
		if after, _ := os.Stat(p); !os.SameFile(before, after) {
			t.Fatal("a no-op edit replaced the file")
		}
		changed, err = netloop.EditHostsFile(p, hostsRemover("dev.test"))
		if err != nil || !changed {
			t.Fatalf("remove: %v, %v", changed, err)
		}
		hostsAssertOnly(t, dir, "hosts")
		if got := hostsRead(t, p); got != in {
			t.Fatalf("after add+remove: %q, want the original %q", got, in)
		}
	}
}

func TestEditHostsFileEditError(t *testing.T) {
	dir := hostsDir(t)
	p := filepath.Join(dir, "hosts")
	hostsWrite(t, p, debianHosts)
	_, err := netloop.EditHostsFile(p, hostsAdder("dev.test", "192.168.1.1"))
	if !errors.Is(err, netloop.ErrNotLoopback) || !strings.Contains(err.Error(), p) {
		t.Fatalf("err = %v, want ErrNotLoopback naming %s", err, p)
	}
	_, err = netloop.EditHostsFile(p, hostsRemover("localhost"))
	if !errors.Is(err, netloop.ErrForeignEntry) {
		t.Fatalf("err = %v, want ErrForeignEntry", err)
	}
	if hostsRead(t, p) != debianHosts {
		t.Fatal("failed edits changed the file")
	}
	hostsAssertOnly(t, dir, "hosts")
}

// TestEditHostsFileKeepsModeAndOwner checks mode 0640, owner 1234:1234 and
// the SELinux label survive the temp file and rename (vagrant-hostmanager
// #120 and #160 lost them).
func TestEditHostsFileKeepsModeAndOwner(t *testing.T) {
	testkit.RequireRoot(t)
	dir := hostsDir(t)
	p := filepath.Join(dir, "hosts")
	hostsWrite(t, p, debianHosts)
	if err := os.Chown(p, 1234, 1234); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o640); err != nil {
		t.Fatal(err)
	}
	// Without SELinux, root may still store the attribute on ext4 and tmpfs.
	label := []byte("system_u:object_r:net_conf_t:s0\x00")
	labeled := unix.Setxattr(p, "security.selinux", label, 0) == nil
	before, _ := os.Stat(p)
	if _, err := netloop.EditHostsFile(p, hostsAdder("dev.test", "127.0.0.2")); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := after.Sys().(*syscall.Stat_t)
	if after.Mode() != 0o640 || st.Uid != 1234 || st.Gid != 1234 {
		t.Fatalf("after edit: mode %v owner %d:%d, want -rw-r----- 1234:1234", after.Mode(), st.Uid, st.Gid)
	}
	if os.SameFile(before, after) {
		t.Error("the file kept its inode: the edit did not go through the temp file and rename")
	}
	if labeled {
		buf := make([]byte, 256)
		n, err := unix.Getxattr(p, "security.selinux", buf)
		if err != nil || !bytes.Equal(buf[:n], label) {
			t.Errorf("SELinux label after edit = %q, %v; want %q", buf[:max(n, 0)], err, label)
		}
	} else {
		t.Log("this file system refused a security.selinux attribute; label copy not checked")
	}
	hostsAssertOnly(t, dir, "hosts")
}

func TestEditHostsFileFollowsSymlink(t *testing.T) {
	dir := hostsDir(t)
	real := filepath.Join(dir, "hosts.real")
	link := filepath.Join(dir, "hosts")
	hostsWrite(t, real, debianHosts)
	if err := os.Symlink("hosts.real", link); err != nil {
		t.Fatal(err)
	}
	if _, err := netloop.EditHostsFile(link, hostsAdder("dev.test", "127.0.0.2")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("%s is no longer a symlink: %v %v", link, fi, err)
	}
	if got := hostsRead(t, real); !strings.HasSuffix(got, "127.0.0.2\tdev.test\t# added by loops\n") {
		t.Fatalf("target = %q", got)
	}
	hostsAssertOnly(t, dir, "hosts", "hosts.real")
}

// bindMount mounts src over dst, like `mount --bind src dst`, and unmounts
// it when the test ends.
func hostsBindMount(t *testing.T, src, dst string, readOnly bool) {
	t.Helper()
	testkit.RequireRoot(t)
	if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("mount --bind %s %s: %v", src, dst, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dst, 0); err != nil {
			t.Errorf("umount %s: %v", dst, err)
		}
	})
	if readOnly {
		if err := unix.Mount("", dst, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
			t.Fatalf("remount %s read-only: %v", dst, err)
		}
	}
}

// TestEditHostsFileBindMount edits a bind-mounted file, as /etc/hosts is in
// Docker and Kubernetes: rename over a mount point fails with EBUSY, so the
// edit must go in place.
func TestEditHostsFileBindMount(t *testing.T) {
	dir := hostsDir(t)
	a, b := filepath.Join(dir, "hosts"), filepath.Join(dir, "hosts.source")
	hostsWrite(t, a, "placeholder\n")
	hostsWrite(t, b, hostsSamples["docker"])
	hostsBindMount(t, b, a, false)
	tmp := filepath.Join(dir, "probe")
	hostsWrite(t, tmp, "")
	if err := os.Rename(tmp, a); !errors.Is(err, unix.EBUSY) {
		t.Fatalf("rename over the mount point: %v, want EBUSY", err)
	}
	os.Remove(tmp)
	before, _ := os.Stat(a)
	changed, err := netloop.EditHostsFile(a, hostsAdder("dev.test", "127.0.0.2"))
	if err != nil || !changed {
		t.Fatalf("EditHostsFile = %v, %v", changed, err)
	}
	want := hostsSamples["docker"] + "127.0.0.2\tdev.test\t# added by loops\n"
	if got := hostsRead(t, a); got != want {
		t.Fatalf("through the mount: %q, want %q", got, want)
	}
	if got := hostsRead(t, b); got != want {
		t.Fatalf("mount source: %q, want %q", got, want)
	}
	if after, _ := os.Stat(a); !os.SameFile(before, after) {
		t.Error("the in-place write changed the inode")
	}
	hostsAssertOnly(t, dir, "hosts", "hosts.source")
	if _, err := netloop.EditHostsFile(a, hostsRemover("dev.test")); err != nil {
		t.Fatal(err)
	}
	if got := hostsRead(t, b); got != hostsSamples["docker"] {
		t.Fatalf("after remove: %q", got)
	}
}

// TestEditHostsFileReadOnlyBindMount: the rename fails (EBUSY), then the
// in-place write fails (EROFS): the error keeps the errno, the file is
// untouched and the temp file is gone.
func TestEditHostsFileReadOnlyBindMount(t *testing.T) {
	dir := hostsDir(t)
	a, b := filepath.Join(dir, "hosts"), filepath.Join(dir, "hosts.source")
	hostsWrite(t, a, "")
	hostsWrite(t, b, debianHosts)
	hostsBindMount(t, b, a, true)
	_, err := netloop.EditHostsFile(a, hostsAdder("dev.test", "127.0.0.2"))
	if !errors.Is(err, unix.EROFS) {
		t.Fatalf("err = %v, want EROFS", err)
	}
	if hostsRead(t, b) != debianHosts {
		t.Fatal("file changed")
	}
	hostsAssertOnly(t, dir, "hosts", "hosts.source")
}

// TestEditHostsFileRenameFailsLeavesNoTemp makes the rename fail after the
// temp file is written (an immutable target: EPERM even for root).
func TestEditHostsFileRenameFailsLeavesNoTemp(t *testing.T) {
	testkit.RequireRoot(t)
	dir := hostsDir(t)
	p := filepath.Join(dir, "hosts")
	hostsWrite(t, p, debianHosts)
	const immutable = 0x10 // FS_IMMUTABLE_FL, `chattr +i`
	setFlags := func(on bool) error {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
		if err != nil {
			return err
		}
		if on {
			flags |= immutable
		} else {
			flags &^= immutable
		}
		return unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, int(flags))
	}
	if err := setFlags(true); err != nil {
		testkit.Skip(t, "chattr +i not supported here: %v", err)
	}
	t.Cleanup(func() {
		if err := setFlags(false); err != nil {
			t.Errorf("chattr -i: %v", err)
		}
	})
	_, err := netloop.EditHostsFile(p, hostsAdder("dev.test", "127.0.0.2"))
	if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "rename") {
		t.Fatalf("err = %v, want a permission error from rename", err)
	}
	if hostsRead(t, p) != debianHosts {
		t.Fatal("file changed")
	}
	hostsAssertOnly(t, dir, "hosts")
}

func TestEditHostsFileMissing(t *testing.T) {
	dir := hostsDir(t)
	for _, p := range []string{filepath.Join(dir, "no-such-dir", "hosts"), filepath.Join(dir, "hosts")} {
		_, err := netloop.EditHostsFile(p, hostsAdder("dev.test", "127.0.0.2"))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("EditHostsFile(%s) err = %v, want ErrNotExist", p, err)
		}
		hostsAssertOnly(t, dir)
	}
	if _, err := netloop.ReadHostsFile(filepath.Join(dir, "hosts")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadHostsFile err = %v, want ErrNotExist", err)
	}
}

// TestEditHostsFileConcurrent runs 32 edits at once on one file: the lock
// must serialize them so none is lost.
func TestEditHostsFileConcurrent(t *testing.T) {
	dir := hostsDir(t)
	p := filepath.Join(dir, "hosts")
	hostsWrite(t, p, debianHosts)
	const n = 32
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = netloop.EditHostsFile(p, hostsAdder(fmt.Sprintf("svc%d.test", i), fmt.Sprintf("127.0.0.%d", i+2)))
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	got := hostsRead(t, p)
	if !strings.HasPrefix(got, debianHosts) {
		t.Fatalf("original lines changed: %q", got)
	}
	f := netloop.ParseHosts([]byte(got))
	for i := range n {
		name := fmt.Sprintf("svc%d.test", i)
		if a := f.Lookup(name); fmt.Sprint(a) != fmt.Sprintf("[127.0.0.%d]", i+2) {
			t.Errorf("Lookup(%s) = %v", name, a)
		}
	}
	if len(f.Entries()) != 5+n {
		t.Errorf("%d entries, want %d", len(f.Entries()), 5+n)
	}
	hostsAssertOnly(t, dir, "hosts")
}

// TestEditHostsFileAsUser runs EditHostsFile as user nobody in a child
// process: a permission error must keep its errno (so the CLI can say
// "use sudo"), and a file nobody may write but not own is written in place
// rather than given a new owner.
func TestEditHostsFileAsUser(t *testing.T) {
	testkit.RequireRoot(t)
	const nobody = 65534
	// The test binary sits in a directory only root may enter: copy it.
	root := t.TempDir()
	hostsChmod(t, filepath.Dir(root), 0o755)
	hostsChmod(t, root, 0o755)
	bin := filepath.Join(root, "netloop.test")
	hostsCopyExecutable(t, bin)
	lockDir := filepath.Join(root, "tmp")
	hostsMkdir(t, lockDir, 0o1777)

	for _, tc := range []struct {
		name    string
		dirMode os.FileMode
		mode    os.FileMode
		want    string // what the helper checks
	}{
		{"denied", 0o755, 0o644, "denied"},
		{"in place", 0o777 | os.ModeSticky, 0o666, "written"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(root, strings.ReplaceAll(tc.name, " ", "-"))
			hostsMkdir(t, dir, tc.dirMode)
			p := filepath.Join(dir, "hosts")
			hostsWrite(t, p, debianHosts)
			hostsChmod(t, p, tc.mode)
			before, _ := os.Stat(p)
			cmd := exec.Command(bin, "-test.run=^TestHostsHelperProcess$", "-test.count=1", "-test.v")
			cmd.Dir = "/"
			cmd.Env = append(os.Environ(), "LOOPS_HOSTS_HELPER="+tc.want, "LOOPS_HOSTS_PATH="+p, "TMPDIR="+lockDir)
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("helper as uid %d: %v\n%s", nobody, err, out)
			}
			if !strings.Contains(string(out), "helper ok") {
				t.Fatalf("helper did not run:\n%s", out)
			}
			after, _ := os.Stat(p)
			st := after.Sys().(*syscall.Stat_t)
			if !os.SameFile(before, after) || st.Uid != 0 || after.Mode() != tc.mode {
				t.Errorf("file replaced or owner/mode changed: uid %d mode %v", st.Uid, after.Mode())
			}
			hostsAssertOnly(t, dir, "hosts")
			got := hostsRead(t, p)
			switch tc.want {
			case "denied":
				if got != debianHosts {
					t.Errorf("denied edit changed the file: %q", got)
				}
			case "written":
				if got != debianHosts+"127.0.0.2\tdev.test\t# added by loops\n" {
					t.Errorf("file = %q", got)
				}
			}
		})
	}
}

// TestHostsHelperProcess is the child of TestEditHostsFileAsUser.
func TestHostsHelperProcess(t *testing.T) {
	want := os.Getenv("LOOPS_HOSTS_HELPER")
	if want == "" {
		return
	}
	if os.Geteuid() == 0 {
		t.Fatal("helper runs as root")
	}
	changed, err := netloop.EditHostsFile(os.Getenv("LOOPS_HOSTS_PATH"), hostsAdder("dev.test", "127.0.0.2"))
	switch want {
	case "denied":
		if !errors.Is(err, fs.ErrPermission) || !errors.Is(err, unix.EACCES) {
			t.Fatalf("err = %v, want EACCES", err)
		}
		t.Logf("error as the CLI will see it: %v", err)
	case "written":
		if err != nil || !changed {
			t.Fatalf("EditHostsFile = %v, %v; want true, nil", changed, err)
		}
	}
	fmt.Println("helper ok")
}

func hostsChmod(t *testing.T, p string, m os.FileMode) {
	t.Helper()
	if err := os.Chmod(p, m); err != nil {
		t.Fatal(err)
	}
}

func hostsMkdir(t *testing.T, p string, m os.FileMode) {
	t.Helper()
	if err := os.Mkdir(p, 0o700); err != nil {
		t.Fatal(err)
	}
	hostsChmod(t, p, m)
}

func hostsCopyExecutable(t *testing.T, dst string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
