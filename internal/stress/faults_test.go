package stress

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/loops-cli/loops/audioloop/audiolooptest"
	"github.com/loops-cli/loops/blockloop/blocklooptest"
)

// TestKillFUSEServerDuringRead: the `loops __serve` server is killed
// (SIGKILL) while a file is being read through its mount. The read fails
// (no hang), and `loops umount` cleans up: no mount, no directory, no
// process. --fuse: as root on a kernel with erofs the mount would take the
// erofs index route, which has no server to kill.
func TestKillFUSEServerDuringRead(t *testing.T) {
	requireRoot(t)
	dir := blocklooptest.Dir(t)
	im := plainISO(t, dir, "KILLME", 8<<20)
	img := im.save(dir, "kill.iso")
	for _, target := range []string{"mountpoint", "image"} {
		t.Run("umount by "+target, func(t *testing.T) {
			mp := filepath.Join(dir, "mnt-"+target)
			mustLoops(t, nil, "mount", "--fuse", img, mp)
			pids := serverPIDs(mp)
			if len(pids) != 1 {
				t.Fatalf("servers of %s: %v", mp, pids)
			}
			f, err := os.Open(filepath.Join(mp, "BIG.BIN"))
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 64<<10)
			if _, err := io.ReadFull(f, buf); err != nil {
				t.Fatalf("first read: %v", err)
			}
			if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			// Read on until the error: the kernel answers ENOTCONN once
			// the server's /dev/fuse is closed. Pages already cached may
			// still come; the rest must fail, not hang.
			done := make(chan error, 1)
			go func() {
				_, err := io.Copy(io.Discard, f)
				done <- err
			}()
			select {
			case err := <-done:
				t.Logf("reading on after the kill: %v", err)
			case <-time.After(10 * time.Second):
				t.Fatalf("a read through the mount of a killed server hangs")
			}
			f.Close()
			if _, err := os.Stat(filepath.Join(mp, "README.TXT")); !errors.Is(err, unix.ENOTCONN) {
				t.Logf("stat in the dead mount: %v (ENOTCONN expected)", err)
			}
			arg := mp
			if target == "image" {
				arg = img
			}
			r := loops(t, nil, "umount", arg)
			if r.code != 0 {
				t.Errorf("umount of the dead mount: %v", r)
			} else {
				t.Logf("umount: %s", strings.TrimSpace(r.stderr))
			}
			if _, err := os.Lstat(mp); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("mount point %s still there: %v", mp, err)
			}
			noLeftovers(t, dir)
		})
	}
}

// TestKillSoundServerDuringOn: the sound server is stopped (SIGSTOP) so that
// `loops audio on` is waiting on it, then killed (SIGKILL). loops must fail
// at once with an error naming the server, not wait out its timeout (set to
// 20 s here, so that only the kill can end it in time).
func TestKillSoundServerDuringOn(t *testing.T) {
	s := audiolooptest.Start(t, audiolooptest.PulseAudio)
	pid := soundServerPID(t)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(loopsBin, "audio", "on", "--source", "a.monitor", "--sink", "b", "--timeout", "20s")
	cmd.Env = baseEnv(s.Env()...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until loops holds a socket (it has connected, and waits for an
	// answer the stopped server cannot give).
	deadline := time.Now().Add(10 * time.Second)
	for !hasSocket(cmd.Process.Pid) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	killed := time.Now()
	s.Kill() // SIGKILL works on a stopped process
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		took := time.Since(killed)
		t.Logf("loops audio on ended %v after the kill: %v\n%s", took.Round(time.Millisecond), err, stderr.String())
		if cmd.ProcessState.ExitCode() != 1 {
			t.Errorf("exit %d, want 1", cmd.ProcessState.ExitCode())
		}
		msg := stderr.String()
		if !strings.Contains(msg, "sound server") && !strings.Contains(msg, s.Socket) {
			t.Errorf("the error does not name the server: %s", msg)
		}
		if strings.Contains(msg, "panic") {
			t.Errorf("panic: %s", msg)
		}
	case <-time.After(3 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("loops audio on still runs 3 s after the sound server was killed\n%s", stderr.String())
	}
	// And with no server at all: a clear error at once too.
	r := loops(t, s.Env(), "audio", "on", "--source", "a.monitor", "--sink", "b")
	if r.code != 1 || !strings.Contains(r.stderr, s.Socket) {
		t.Errorf("with the server dead: %v", r)
	}
}

// soundServerPID is the pid of the pulseaudio this test process started.
func soundServerPID(t testing.TB) int {
	t.Helper()
	for _, l := range audiolooptest.Leftovers() { // "sound server NAME (pid N)"
		var pid int
		if i := strings.LastIndex(l, "(pid "); i >= 0 {
			fmt.Sscanf(l[i:], "(pid %d)", &pid)
			return pid
		}
	}
	t.Fatal("no sound server process found")
	return 0
}

func hasSocket(pid int) bool {
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, fd := range fds {
		if l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); strings.HasPrefix(l, "socket:") {
			return true
		}
	}
	return false
}

// fullDiskScript runs in a private mount namespace (unshare -m): a tmpfs of
// a few KiB holds the hosts file and a filler that takes all the rest; loops
// then edits the file. The script prints the file and the directory after.
const fullDiskScript = `
set -e
d="$1"; loops="$2"; orig="$3"; opts="$4"
mount -t tmpfs -o "$opts" loops-stress-full "$d"
cp "$orig" "$d/hosts"
dd if=/dev/zero of="$d/filler" bs=1k 2>/dev/null || true
set +e
"$loops" net hosts add full.localhost --hosts-file "$d/hosts"
echo "exit=$?"
echo "--- hosts"
cat "$d/hosts"
echo "--- ls"
ls -A "$d"
`

// TestFullDiskHostsEdit: the disk is full while loops edits a hosts file
// (no block, or no inode, for the temp file): loops fails with the reason,
// the original file is intact, and no temp file remains. The tmpfs lives in
// a private mount namespace, so nothing can leak to the host.
func TestFullDiskHostsEdit(t *testing.T) {
	requireRoot(t)
	dir := blocklooptest.Dir(t)
	orig := filepath.Join(dir, "hosts.orig")
	writeFile(t, orig, []byte(hostsOriginal), 0o644)
	for _, c := range []struct{ name, opts, want string }{
		{"no space", "size=16k,nr_inodes=64", "no space left on device"},
		{"no inode", "size=64k,nr_inodes=3", "no space left on device"},
	} {
		t.Run(c.name, func(t *testing.T) {
			mnt := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-"))
			if err := os.Mkdir(mnt, 0o755); err != nil {
				t.Fatal(err)
			}
			r := runBounded(t, 30*time.Second, nil, nil, "unshare", "-m", "--propagation", "private",
				"sh", "-c", fullDiskScript, "sh", mnt, loopsBin, orig, c.opts)
			out := r.stdout
			exit, rest, _ := strings.Cut(out, "\n--- hosts\n")
			hosts, ls, _ := strings.Cut(rest, "--- ls\n")
			t.Logf("loops: %s%s", exit, r.stderr)
			if !strings.Contains(exit, "exit=1") {
				t.Errorf("loops net hosts add on a full disk: %s\n%s", exit, r.stderr)
			}
			if !strings.Contains(strings.ToLower(r.stderr), c.want) {
				t.Errorf("the error does not say %q: %s", c.want, r.stderr)
			}
			if hosts != hostsOriginal {
				t.Errorf("the hosts file changed on a full disk:\n%q\nwant\n%q", hosts, hostsOriginal)
			}
			if names := strings.Fields(ls); strings.Join(names, " ") != "filler hosts" {
				t.Errorf("files on the full disk after the edit: %v (a temp file left?)", names)
			}
			noLeftovers(t, dir)
		})
	}
}

// TestLoopDetachedBehindBack: a device `loops block attach` made is detached
// with losetup -d behind loops' back. `loops block list` no longer shows it,
// `loops block detach IMAGE` says it is not attached; when the device number
// is reused for another file, `loops block detach IMAGE` leaves it alone.
func TestLoopDetachedBehindBack(t *testing.T) {
	requireRoot(t)
	losetup := blocklooptest.Tool(t, "losetup")
	dir := blocklooptest.Dir(t)
	img := blocklooptest.Ext4(t, filepath.Join(dir, "first.img"), "FIRST", "", 4<<20)
	other := blocklooptest.Ext4(t, filepath.Join(dir, "other.img"), "OTHER", "", 4<<20)
	dev := strings.TrimSpace(mustLoops(t, nil, "block", "attach", img).stdout)
	if !strings.HasPrefix(dev, "/dev/loop") {
		t.Fatalf("attach printed %q", dev)
	}
	blocklooptest.Run(t, losetup, "-d", dev)
	if l := mustLoops(t, nil, "block", "list"); strings.Contains(l.stdout, img) {
		t.Errorf("block list still shows %s:\n%s", img, l.stdout)
	}
	r := loops(t, nil, "block", "detach", img)
	t.Logf("detach after losetup -d: exit %d: %s", r.code, strings.TrimSpace(r.stderr))
	if r.code != 1 || !strings.Contains(r.stderr, img) {
		t.Errorf("detach of an image no longer attached: %v", r)
	}
	// The number is reused for another file (ours, so the test harms no one).
	if out, err := exec.Command(losetup, dev, other).CombinedOutput(); err != nil {
		t.Logf("could not reuse %s (someone else took it?): %v %s", dev, err, out)
	} else {
		r := loops(t, nil, "block", "detach", img)
		if r.code != 1 {
			t.Errorf("detach %s with %s now backing %s: %v", img, dev, other, r)
		}
		if b, _ := os.ReadFile("/sys/block/" + filepath.Base(dev) + "/loop/backing_file"); strings.TrimSpace(string(b)) != other {
			t.Errorf("%s was detached or changed: backs %q, want %s", dev, b, other)
		}
		mustLoops(t, nil, "block", "detach", dev)
	}
	noLeftovers(t, dir)
}

// TestMountpointRemovedWhileMounted: someone lazily unmounts a loops mount
// and removes its directory. `loops umount` gives a clear error (nothing is
// mounted there) and nothing leaks: the loop device goes with its last user,
// the FUSE server exits (an ISO by --fuse; as root without it, the erofs
// index's loop devices go). Also with a process holding a file open in the
// detached mount: the device stays until it closes, then goes.
func TestMountpointRemovedWhileMounted(t *testing.T) {
	requireRoot(t)
	dir := blocklooptest.Dir(t)
	src, _ := blocklooptest.Tree(t, dir)
	ext4 := blocklooptest.Ext4(t, filepath.Join(dir, "gone.img"), "GONE", src, 8<<20)
	iso := plainISO(t, dir, "GONE", 1<<20).save(dir, "gone.iso")
	for _, c := range []struct {
		name, img, file string
		hold            bool
		fuse            bool // --fuse: as root, an ISO goes through the erofs index otherwise
	}{
		{"ext4", ext4, "big.bin", false, false},
		{"ext4 held open", ext4, "big.bin", true, false},
		{"iso", iso, "BIG.BIN", false, false},
		{"iso held open", iso, "BIG.BIN", true, false},
		{"iso by FUSE", iso, "BIG.BIN", false, true},
		{"iso by FUSE held open", iso, "BIG.BIN", true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			mp := filepath.Join(dir, "mnt")
			if c.fuse {
				mustLoops(t, nil, "mount", "--fuse", c.img, mp)
			} else {
				mustLoops(t, nil, "mount", c.img, mp)
			}
			var held *os.File
			if c.hold {
				f, err := os.Open(filepath.Join(mp, c.file))
				if err != nil {
					t.Fatal(err)
				}
				held = f
			}
			if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(mp); err != nil {
				t.Fatal(err)
			}
			r := loops(t, nil, "umount", mp)
			t.Logf("umount of the removed mount point: exit %d: %s", r.code, strings.TrimSpace(r.stderr))
			if r.code != 1 || !strings.Contains(r.stderr, mp) {
				t.Errorf("umount of a removed mount point: %v", r)
			}
			r = loops(t, nil, "umount", c.img)
			t.Logf("umount of its image: exit %d: %s", r.code, strings.TrimSpace(r.stderr))
			if r.code != 1 && r.code != 0 {
				t.Errorf("umount of the image: %v", r)
			}
			if held != nil {
				// Still readable through the detached mount, then closed.
				if _, err := io.Copy(io.Discard, held); err != nil {
					t.Errorf("read from the detached mount: %v", err)
				}
				l := mustLoops(t, nil, "block", "list")
				t.Logf("block list while held: %s", strings.TrimSpace(l.stdout))
				held.Close()
			}
			noLeftovers(t, dir)
		})
	}
}
