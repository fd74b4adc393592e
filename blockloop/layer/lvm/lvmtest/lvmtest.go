// Package lvmtest runs the real lvm2 for tests, without device-mapper: on
// the test's own loop devices only, with a private LVM_SYSTEM_DIR (its
// lvm.conf accepts these devices alone, keeps no backup, archive or hints,
// activates nothing and locks in the test's directory), and writes data
// into an LV's extents where lvm2 reports them, as dm-linear and
// dm-stripe would map them. The host's LVM never sees the test VGs: the
// loop devices are detached when the test ends. Needs root.
package lvmtest

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/loops-cli/loops/blockloop/blocklooptest"
	"github.com/loops-cli/loops/internal/testkit"
)

// Env is one test's lvm2: its directory (the images and LVM_SYSTEM_DIR)
// and its loop devices.
type Env struct {
	Dir  string
	t    testing.TB
	lvm  string
	devs map[string]string // loop device -> image file
}

// New is an Env in a directory of the test's own; it skips (fails under
// CI) without root or lvm2.
func New(t testing.TB) *Env {
	t.Helper()
	blocklooptest.RequireRoot(t)
	e := &Env{t: t, lvm: testkit.Tool(t, "lvm"), Dir: blocklooptest.Dir(t), devs: map[string]string{}}
	testkit.Tool(t, "losetup")
	os.MkdirAll(filepath.Join(e.Dir, "lock"), 0o700)
	e.writeConf()
	return e
}

func (e *Env) writeConf() {
	var devs []string
	for d := range e.devs {
		devs = append(devs, d)
	}
	conf := Config(devs, filepath.Join(e.Dir, "lock"))
	if err := os.WriteFile(filepath.Join(e.Dir, "lvm.conf"), []byte(conf), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// Run runs `lvm args...` in the private environment and returns its
// output; it fails the test if lvm fails.
func (e *Env) Run(args ...string) string {
	e.t.Helper()
	c := exec.Command(e.lvm, args...)
	c.Env = append(testkit.FixtureEnv(), "LVM_SYSTEM_DIR="+e.Dir, "LVM_SUPPRESS_FD_WARNINGS=1")
	out, err := c.CombinedOutput()
	if err != nil {
		e.t.Fatalf("lvm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Image makes a sparse file of mib MiB in Dir and attaches it to a loop
// device, detached when the test ends; it returns the file and the device.
func (e *Env) Image(name string, mib int64) (file, dev string) {
	e.t.Helper()
	p := filepath.Join(e.Dir, name)
	f, err := os.Create(p)
	if err != nil {
		e.t.Fatal(err)
	}
	f.Truncate(mib << 20)
	f.Close()
	return p, e.Attach(p)
}

// Attach attaches an existing file to a loop device lvm2 may use,
// detached when the test ends.
func (e *Env) Attach(file string) string {
	e.t.Helper()
	dev := strings.TrimSpace(testkit.Run(e.t, "losetup", "-f", "--show", file))
	e.t.Cleanup(func() {
		if e.devs[dev] == file {
			exec.Command("losetup", "-d", dev).Run()
		}
	})
	e.devs[dev] = file
	e.writeConf()
	return dev
}

// Detach detaches the loop devices of the images made so far (when lvm2
// is done with them and something else should find the images alone).
func (e *Env) Detach() {
	e.t.Helper()
	for dev := range e.devs {
		testkit.Run(e.t, "losetup", "-d", dev)
		delete(e.devs, dev)
	}
	e.writeConf()
}

// Report runs an lvm reporting command (pvs, vgs, lvs) with JSON output,
// sizes in bytes, and returns its rows.
func (e *Env) Report(kind string, args ...string) []map[string]string {
	e.t.Helper()
	out := e.Run(append([]string{kind, "--reportformat", "json", "--units", "b", "--nosuffix"}, args...)...)
	i := strings.IndexByte(out, '{')
	if i < 0 {
		e.t.Fatalf("lvm %s: no JSON in %q", kind, out)
	}
	var r struct {
		Report []map[string][]map[string]string `json:"report"`
	}
	if err := json.Unmarshal([]byte(out[i:]), &r); err != nil {
		e.t.Fatalf("lvm %s: %v\n%s", kind, err, out)
	}
	var rows []map[string]string
	for _, m := range r.Report {
		for _, v := range m {
			rows = append(rows, v...)
		}
	}
	return rows
}

// Num parses a number lvm2 reported.
func Num(t testing.TB, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		t.Fatalf("number %q: %v", s, err)
	}
	return n
}

// A Seg is a segment as `lvs -o seg_start,seg_size,seg_pe_ranges,stripe_size`
// reports it.
type Seg struct {
	Start, Size int64 // bytes of the LV
	StripeSize  int64
	Ranges      []Range
}

// A Range is a run of extents on one PV.
type Range struct {
	Dev      string
	First, N int64 // extents
}

// Segments is where lvm2 says the LV's segments lie.
func (e *Env) Segments(vg, lv string) []Seg {
	e.t.Helper()
	var out []Seg
	for _, r := range e.Report("lvs", "-o", "lv_name,seg_start,seg_size,seg_pe_ranges,stripe_size,segtype", vg+"/"+lv) {
		s := Seg{Start: Num(e.t, r["seg_start"]), Size: Num(e.t, r["seg_size"]), StripeSize: Num(e.t, r["stripe_size"])}
		for _, f := range strings.Fields(r["seg_pe_ranges"]) {
			dev, rng, _ := strings.Cut(f, ":")
			a, b, _ := strings.Cut(rng, "-")
			s.Ranges = append(s.Ranges, Range{Dev: dev, First: Num(e.t, a), N: Num(e.t, b) - Num(e.t, a) + 1})
		}
		out = append(out, s)
	}
	return out
}

// PEStart is the byte where dev's first extent starts.
func (e *Env) PEStart(dev string) int64 {
	e.t.Helper()
	return Num(e.t, e.Report("pvs", "-o", "pe_start", dev)[0]["pe_start"])
}

// ExtentSize is vg's extent size in bytes.
func (e *Env) ExtentSize(vg string) int64 {
	e.t.Helper()
	return Num(e.t, e.Report("vgs", "-o", "vg_extent_size", vg)[0]["vg_extent_size"])
}

// WriteLV writes data as the LV's contents into its PVs' image files at
// the places lvm2 reports (the test's own reckoning of striping: chunk k
// of a segment on stripe k mod n, row k div n), as dm-linear and
// dm-stripe would. data may be shorter than the LV.
func (e *Env) WriteLV(vg, lv string, data []byte) {
	e.t.Helper()
	ext := e.ExtentSize(vg)
	files := map[string]*os.File{}
	starts := map[string]int64{}
	for _, s := range e.Segments(vg, lv) {
		n := int64(len(s.Ranges))
		chunk := s.Size / n
		if n > 1 {
			chunk = s.StripeSize
		}
		for k := int64(0); k*chunk < s.Size; k++ {
			lvOff := s.Start + k*chunk
			if lvOff >= int64(len(data)) {
				break
			}
			r := s.Ranges[k%n]
			f := files[r.Dev]
			if f == nil {
				var err error
				if f, err = os.OpenFile(e.devs[r.Dev], os.O_WRONLY, 0); err != nil {
					e.t.Fatal(err)
				}
				defer f.Close()
				files[r.Dev] = f
				starts[r.Dev] = e.PEStart(r.Dev)
			}
			pvOff := starts[r.Dev] + r.First*ext + (k/n)*chunk
			if _, err := f.WriteAt(data[lvOff:min(lvOff+chunk, int64(len(data)))], pvOff); err != nil {
				e.t.Fatal(err)
			}
		}
	}
}

// WriteLVFile writes the file at path (a filesystem image) as the LV's
// contents, as WriteLV.
func (e *Env) WriteLVFile(vg, lv, path string) {
	e.t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		e.t.Fatal(err)
	}
	e.WriteLV(vg, lv, data)
}

// Config is an lvm.conf for lvm2 run beside the host's own: it sees only
// devs, activates nothing (no device-mapper needed), asks udev nothing,
// keeps no backups and locks in lockDir. The tests and the bench's lvm
// suite use it (LVM_SYSTEM_DIR names its directory).
func Config(devs []string, lockDir string) string {
	var accept []string
	for _, d := range devs {
		accept = append(accept, fmt.Sprintf(`"a|^%s$|"`, d))
	}
	filter := "[ " + strings.Join(append(accept, `"r|.*|"`), ", ") + " ]"
	return fmt.Sprintf(`devices {
	filter = %s
	global_filter = %s
	obtain_device_list_from_udev = 0
	use_devicesfile = 0
	external_device_info_source = "none"
	hints = "none"
	scan_lvs = 0
}
global { activation = 0 use_lvmlockd = 0 event_activation = 0 locking_dir = %q }
backup { backup = 0 archive = 0 }
activation { udev_sync = 0 udev_rules = 0 monitoring = 0 }
`, filter, filter, lockDir)
}
