package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/loops-cli/loops/blockloop/kernfile"
)

// sweep is the last cleanup: whatever is still mounted under the work
// directory is unmounted, loop devices backed by its files are detached,
// and the directory is removed (a kept one keeps its image caches only:
// iso, erofs, ntfs).
func (h *harness) sweep(keep bool) {
	for _, mp := range mountsUnder(h.work) {
		if err := unix.Unmount(mp, 0); err != nil {
			logf("cleanup: umount %s: %v; lazy", mp, err)
			unix.Unmount(mp, unix.MNT_DETACH)
		}
	}
	for _, dev := range loopsBackedUnder(h.work) {
		if err := quiet("losetup", "-d", dev); err != nil {
			logf("cleanup: %v", err)
		}
	}
	if !keep {
		os.RemoveAll(h.work)
		return
	}
	ents, _ := os.ReadDir(h.work)
	for _, e := range ents {
		switch e.Name() {
		case "iso", "erofs", "ntfs":
		default:
			os.RemoveAll(filepath.Join(h.work, e.Name()))
		}
	}
}

// mountsUnder lists the mount points under dir, deepest first.
func mountsUnder(dir string) []string {
	ms, _ := kernfile.Mountinfo("/proc/self/mountinfo")
	var mps []string
	for _, m := range ms {
		if strings.HasPrefix(m.Mountpoint, dir+"/") {
			mps = append(mps, m.Mountpoint)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(mps)))
	return mps
}

func loopsBackedUnder(dir string) []string {
	files, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	var devs []string
	for _, f := range files {
		b, _ := kernfile.ReadFile(f)
		if strings.HasPrefix(strings.TrimSpace(string(b)), dir+"/") {
			devs = append(devs, "/dev/"+filepath.Base(filepath.Dir(filepath.Dir(f))))
		}
	}
	return devs
}

// newNetns makes a network namespace with lo up, deleted at cleanup.
func (h *harness) newNetns(name string) (string, error) {
	if err := quiet("ip", "netns", "add", name); err != nil {
		return "", err
	}
	h.undo.add(func() {
		if err := quiet("ip", "netns", "del", name); err != nil {
			logf("cleanup: %v", err)
		}
	})
	if err := quiet("ip", "-n", name, "link", "set", "lo", "up"); err != nil {
		return "", err
	}
	return name, nil
}

// inNetns runs f on a thread that has entered the namespace: every process
// f starts is born in it, with no wrapper (ip netns exec, nsenter) in
// between, whichever tool it is. f must not start goroutines that exec.
func inNetns(name string, f func() error) error {
	runtime.LockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer unix.Close(orig)
	target, err := unix.Open("/run/netns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	err = unix.Setns(target, unix.CLONE_NEWNET)
	unix.Close(target)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("setns %s: %w", name, err)
	}
	defer func() {
		// A thread that cannot go back stays locked: it dies with the goroutine.
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err == nil {
			runtime.UnlockOSThread()
		}
	}()
	return f()
}

// daemon starts a background process in its own process group, killed
// (group and all) at cleanup. Started inside inNetns, it lives in that
// namespace.
func (h *harness) daemon(env []string, logName string, argv ...string) error {
	c := exec.Command(argv[0], argv[1:]...)
	c.Env = env
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if logName != "" {
		if f, err := os.Create(filepath.Join(h.work, logName)); err == nil {
			c.Stdout, c.Stderr = f, f
			defer f.Close()
		}
	}
	if err := c.Start(); err != nil {
		return fmt.Errorf("start %s: %w", argv[0], err)
	}
	h.undo.add(func() { stop(c) })
	return nil
}

func stop(c *exec.Cmd) {
	if c.Process == nil || c.ProcessState != nil {
		return
	}
	syscall.Kill(-c.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// hold starts `loops-bench __hold` in the namespace with args (listeners,
// a server accepting connections, or clients holding them open) and waits
// until it says ready. It runs until cleanup, or until the returned stop.
func (h *harness) hold(ns string, args ...string) (stopIt func(), err error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var c *exec.Cmd
	var stdout io.ReadCloser
	var stdin io.WriteCloser
	err = inNetns(ns, func() error {
		c = exec.Command(self, append([]string{"__hold"}, args...)...)
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		c.Stderr = os.Stderr
		stdout, _ = c.StdoutPipe()
		stdin, _ = c.StdinPipe() // it exits when this closes: when we do
		if err := c.Start(); err != nil {
			return fmt.Errorf("start hold: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	stopIt = func() { stdin.Close(); stop(c) }
	h.undo.add(stopIt)
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- strings.TrimSpace(line)
	}()
	select {
	case l := <-ready:
		if l != "ready" {
			stopIt()
			return nil, fmt.Errorf("hold %s in %s: %q", strings.Join(args, " "), ns, l)
		}
	case <-time.After(120 * time.Second):
		stopIt()
		return nil, fmt.Errorf("hold in %s: not ready after 120 s", ns)
	}
	return stopIt, nil
}

// holdConns holds n established TCP connections in the namespace: one
// process accepts (and keeps) them, another dials them, so that neither
// needs more than n+some descriptors.
func (h *harness) holdConns(ns string, n int) (stopIt func(), err error) {
	const addr = "127.0.0.1:7999"
	s1, err := h.hold(ns, "-accept", addr)
	if err != nil {
		return nil, err
	}
	s2, err := h.hold(ns, "-dial", addr, "-conns", fmt.Sprint(n))
	if err != nil {
		s1()
		return nil, err
	}
	return func() { s2(); s1() }, nil
}

// holdMain is `loops-bench __hold [-listen tcp:ADDR,udp:ADDR] [-accept ADDR] [-dial ADDR -conns N]`.
func holdMain(args []string) {
	fs := flag.NewFlagSet("__hold", flag.ExitOnError)
	listen := fs.String("listen", "", "tcp:ADDR,udp:ADDR,...: listen there")
	accept := fs.String("accept", "", "listen on ADDR and keep every connection accepted")
	dial := fs.String("dial", "", "make -conns connections to ADDR and keep them")
	conns := fs.Int("conns", 0, "connections to dial")
	fs.Parse(args)
	die := func(err error) { fmt.Println("error:", err); os.Exit(1) }
	var rl unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &rl)
	rl.Cur = rl.Max
	unix.Setrlimit(unix.RLIMIT_NOFILE, &rl)
	var keep []any
	if *listen != "" {
		for _, l := range strings.Split(*listen, ",") {
			proto, addr, _ := strings.Cut(l, ":")
			switch proto {
			case "tcp":
				ln, err := net.Listen("tcp", addr)
				if err != nil {
					die(err)
				}
				keep = append(keep, ln)
			case "udp":
				pc, err := net.ListenPacket("udp", addr)
				if err != nil {
					die(err)
				}
				keep = append(keep, pc)
			}
		}
	}
	if *accept != "" {
		ln, err := net.Listen("tcp", *accept)
		if err != nil {
			die(err)
		}
		keep = append(keep, ln)
		var mu sync.Mutex
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				keep = append(keep, c)
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < *conns; i++ {
		c, err := net.Dial("tcp", *dial)
		if err != nil {
			die(fmt.Errorf("connection %d: %w", i, err))
		}
		keep = append(keep, c)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	runtime.KeepAlive(keep)
}
