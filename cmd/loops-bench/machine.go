package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// firstLine is the first line a tool prints (its version).
func firstLine(argv ...string) string {
	p, err := exec.LookPath(argv[0])
	if err != nil {
		return argv[0] + ": not installed"
	}
	out, _ := exec.Command(p, argv[1:]...).CombinedOutput()
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return argv[0] + ": no version"
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// machine writes the report's "## Machine" section.
func (h *harness) machine() {
	model, cpus := "unknown", 0
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(l, ":")
			k = strings.TrimSpace(k)
			if k == "model name" && model == "unknown" {
				model = strings.TrimSpace(v)
			}
			if k == "processor" {
				cpus++
			}
		}
	}
	var u unix.Utsname
	unix.Uname(&u)
	mem := "?"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(strings.SplitN(string(b), "\n", 2)[0], "MemTotal: %d kB", &kb)
		mem = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
	}
	commit := "unknown"
	if out, err := exec.Command("git", "-C", h.repo, "rev-parse", "--short", "HEAD").Output(); err == nil {
		commit = strings.TrimSpace(string(out))
		c := exec.Command("git", "-C", h.repo, "status", "--porcelain", "--untracked-files=no")
		c.Env = append(os.Environ(), "GIT_OPTIONAL_LOCKS=0")
		if out, err := c.Output(); err == nil && len(strings.TrimSpace(string(out))) > 0 {
			commit += " with uncommitted changes"
		}
	}
	pw := firstLine("pipewire", "--version")
	if out, err := exec.Command("pipewire", "--version").CombinedOutput(); err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "Linked with libpipewire") {
				pw = "pipewire " + strings.TrimPrefix(l, "Linked with libpipewire ")
			}
		}
	}
	ifc := firstLine("ifconfig", "--version")
	if !strings.Contains(ifc, "net-tools") {
		ifc = "net-tools " + ifc
	}
	w := &h.rep.Head
	fmt.Fprintf(w, "## Machine\n\n")
	fmt.Fprintf(w, "- CPU: %d cores (%d for Go), %s; memory %s\n", cpus, runtime.NumCPU(), model, mem)
	fmt.Fprintf(w, "- Kernel: Linux %s (%s)\n", cstr(u.Release[:]), cstr(u.Machine[:]))
	fmt.Fprintf(w, "- iproute2: `%s`; `%s`\n", firstLine("ip", "-V"), firstLine("ss", "-V"))
	fmt.Fprintf(w, "- net-tools: `%s`\n", ifc)
	fmt.Fprintf(w, "- util-linux: `%s`; `%s`\n", firstLine("mount", "--version"), firstLine("losetup", "--version"))
	fmt.Fprintf(w, "- fuseiso: `%s`; xorriso: `%s`\n", firstLine("fuseiso", "-h"), firstLine("xorriso", "-version"))
	fmt.Fprintf(w, "- PulseAudio: `%s`; PipeWire: `%s`; `%s`\n", firstLine("pulseaudio", "--version"), pw, firstLine("pactl", "--version"))
	fmt.Fprintf(w, "- Go: `%s`\n", firstLine(h.goBin, "version"))
	fmt.Fprintf(w, "- loops: %s at %s (%s)\n", h.rep.Paths.Short(h.loops), commit, fileSize(h.loops))
}

func fileSize(p string) string {
	st, err := os.Stat(p)
	if err != nil {
		return "?"
	}
	return fmt.Sprintf("%.1f MiB static binary", float64(st.Size())/(1<<20))
}

func cstr(b []byte) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		return string(b[:i])
	}
	return string(b)
}
