package lvm

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/loops-cli/loops/blockloop/blocklooptest"
	"github.com/loops-cli/loops/blockloop/disk/disktest"
	"github.com/loops-cli/loops/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(blocklooptest.Main(m)) }

// lvmEnv runs the real lvm2 on the test's own loop devices only, with a
// private LVM_SYSTEM_DIR: its lvm.conf accepts these devices alone, keeps
// no backup, archive or hints, activates nothing (no device-mapper) and
// locks in the test's directory. The host's LVM never sees the test VGs:
// the loop devices are detached when the test ends.
type lvmEnv struct {
	t    testing.TB
	lvm  string
	dir  string
	devs map[string]string // loop device -> image file
}

func newLVM(t testing.TB) *lvmEnv {
	t.Helper()
	blocklooptest.RequireRoot(t)
	e := &lvmEnv{t: t, lvm: testkit.Tool(t, "lvm"), dir: blocklooptest.Dir(t), devs: map[string]string{}}
	testkit.Tool(t, "losetup")
	os.MkdirAll(filepath.Join(e.dir, "lock"), 0o700)
	e.writeConf()
	return e
}

func (e *lvmEnv) writeConf() {
	var accept []string
	for d := range e.devs {
		accept = append(accept, fmt.Sprintf(`"a|^%s$|"`, d))
	}
	filter := "[ " + strings.Join(append(accept, `"r|.*|"`), ", ") + " ]"
	conf := fmt.Sprintf(`devices {
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
`, filter, filter, filepath.Join(e.dir, "lock"))
	if err := os.WriteFile(filepath.Join(e.dir, "lvm.conf"), []byte(conf), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// run runs `lvm args...` in the private environment.
func (e *lvmEnv) run(args ...string) string {
	e.t.Helper()
	c := exec.Command(e.lvm, args...)
	c.Env = append(testkit.FixtureEnv(), "LVM_SYSTEM_DIR="+e.dir, "LVM_SUPPRESS_FD_WARNINGS=1")
	out, err := c.CombinedOutput()
	if err != nil {
		e.t.Fatalf("lvm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// image makes a sparse file of size MiB and attaches it to a loop device,
// detached when the test ends; it returns the file and the device.
func (e *lvmEnv) image(name string, mib int64) (string, string) {
	e.t.Helper()
	p := filepath.Join(e.dir, name)
	f, err := os.Create(p)
	if err != nil {
		e.t.Fatal(err)
	}
	f.Truncate(mib << 20)
	f.Close()
	dev := strings.TrimSpace(testkit.Run(e.t, "losetup", "-f", "--show", p))
	e.t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	e.devs[dev] = p
	e.writeConf()
	return p, dev
}

// report runs an lvm reporting command with JSON output and returns its
// rows.
func (e *lvmEnv) report(kind string, args ...string) []map[string]string {
	e.t.Helper()
	out := e.run(append([]string{kind, "--reportformat", "json", "--units", "b", "--nosuffix"}, args...)...)
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

func num(t testing.TB, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		t.Fatalf("number %q: %v", s, err)
	}
	return n
}

// lvmSeg is a segment as `lvs -o seg_pe_ranges,...` reports it.
type lvmSeg struct {
	start, size int64 // bytes of the LV
	stripeSize  int64
	ranges      []peRange
}

type peRange struct {
	dev      string
	first, n int64 // extents
}

// segments is where lvm2 says the LV's segments lie.
func (e *lvmEnv) segments(vg, lv string) []lvmSeg {
	e.t.Helper()
	var out []lvmSeg
	for _, r := range e.report("lvs", "-o", "lv_name,seg_start,seg_size,seg_pe_ranges,stripe_size,segtype", vg+"/"+lv) {
		s := lvmSeg{start: num(e.t, r["seg_start"]), size: num(e.t, r["seg_size"]), stripeSize: num(e.t, r["stripe_size"])}
		for _, f := range strings.Fields(r["seg_pe_ranges"]) {
			dev, rng, _ := strings.Cut(f, ":")
			a, b, _ := strings.Cut(rng, "-")
			s.ranges = append(s.ranges, peRange{dev: dev, first: num(e.t, a), n: num(e.t, b) - num(e.t, a) + 1})
		}
		out = append(out, s)
	}
	return out
}

func (e *lvmEnv) peStart(dev string) int64 {
	e.t.Helper()
	return num(e.t, e.report("pvs", "-o", "pe_start", dev)[0]["pe_start"])
}

func (e *lvmEnv) extentSize(vg string) int64 {
	e.t.Helper()
	return num(e.t, e.report("vgs", "-o", "vg_extent_size", vg)[0]["vg_extent_size"])
}

// writeLV writes data as the LV's contents into its PVs' image files at the
// places lvm2 reports (the test's own reckoning of striping: chunk k of a
// segment on stripe k mod n, row k div n), as dm-linear and dm-stripe
// would.
func (e *lvmEnv) writeLV(vg, lv string, data []byte) {
	e.t.Helper()
	ext := e.extentSize(vg)
	files := map[string]*os.File{}
	starts := map[string]int64{}
	for _, s := range e.segments(vg, lv) {
		n := int64(len(s.ranges))
		chunk := s.size / n
		if n > 1 {
			chunk = s.stripeSize
		}
		for k := int64(0); k*chunk < s.size; k++ {
			r := s.ranges[k%n]
			f := files[r.dev]
			if f == nil {
				var err error
				if f, err = os.OpenFile(e.devs[r.dev], os.O_WRONLY, 0); err != nil {
					e.t.Fatal(err)
				}
				defer f.Close()
				files[r.dev] = f
				starts[r.dev] = e.peStart(r.dev)
			}
			pvOff := starts[r.dev] + r.first*ext + (k/n)*chunk
			lvOff := s.start + k*chunk
			if _, err := f.WriteAt(data[lvOff:lvOff+chunk], pvOff); err != nil {
				e.t.Fatal(err)
			}
		}
	}
}

// source reads a PV image file as a PVSource.
func source(t testing.TB, path string) PVSource {
	t.Helper()
	r, n, err := disktest.OpenRaw(t, path)
	if err != nil {
		t.Fatal(err)
	}
	return PVSource{Name: filepath.Base(path), R: r, Size: n}
}

// rawLocnOf is the first raw location of the metadata area at off.
func rawLocnOf(b []byte, off int) (loc, size uint64) {
	return binary.LittleEndian.Uint64(b[off+40:]), binary.LittleEndian.Uint64(b[off+48:])
}
