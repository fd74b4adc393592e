package cli

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/loops-cli/loops/blockloop"
)

type blockListOptions struct {
	IO    *IOStreams
	Host  func() *blockloop.Host
	JSON  bool
	Watch time.Duration // --watch: refresh every Watch (0: once)
	Title string        // the command, for the --watch header
}

func newBlockListCmd(f *Factory, runF func(*blockListOptions) error) *cobra.Command {
	opts := &blockListOptions{IO: f.IO, Host: f.Block}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List attached loop devices, their files and mount points",
		Long: `List every attached loop device, like 'losetup --list': the backing file
(its full path, marked "(deleted)" when it was removed), offset, size
limit, flags, the filesystem it holds and where it is mounted.
JSON field names follow 'losetup --list --json'. With --watch the list is
shown live, like 'watch losetup -a'. Needs no privilege.`,
		Example: `  $ loops block list
  $ loops block ls --json
  $ loops block list --watch
  $ loops block list --watch=1s --json`,
		Args: watchArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Title = cmd.CommandPath()
			if runF != nil {
				return runF(opts)
			}
			return blockListRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	addWatchFlag(cmd, &opts.Watch)
	return cmd
}

// blockListJSON is the --json document of `loops block list`; the device
// fields use the names of `losetup --list --json`.
// userspaceMountJSON is an image served by loops' userspace reader.
type userspaceMountJSON struct {
	BackFile   string `json:"back-file"`
	FSType     string `json:"fstype"`
	Mountpoint string `json:"mountpoint"`
	RO         bool   `json:"ro"`
}

type blockListJSON struct {
	Schema      int                  `json:"schema,omitempty"` // 0 only inside loops status
	Time        string               `json:"time,omitempty"`   // --watch only
	LoopDevices []loopDevJSON        `json:"loopdevices"`
	Userspace   []userspaceMountJSON `json:"userspace_mounts"`
	Index       []indexMountJSON     `json:"erofs_index_mounts"`
}

// indexMountJSON is a mount of a kernel erofs index over an image.
type indexMountJSON struct {
	BackFile   string `json:"back-file"`
	FSType     string `json:"fstype"` // the image's filesystem
	Offset     int64  `json:"offset"`
	Mountpoint string `json:"mountpoint"`
	RO         bool   `json:"ro"`
	Route      string `json:"route"`
}

type loopDevJSON struct {
	Name        string   `json:"name"`
	BackFile    string   `json:"back-file"`
	Deleted     bool     `json:"deleted"`
	BackIno     uint64   `json:"back-ino"`
	BackMajMin  string   `json:"back-maj:min"`
	MajMin      string   `json:"maj:min"`
	Offset      int64    `json:"offset"`
	SizeLimit   int64    `json:"sizelimit"`
	Size        int64    `json:"size"`
	RO          bool     `json:"ro"`
	AutoClear   bool     `json:"autoclear"`
	PartScan    bool     `json:"partscan"`
	DIO         bool     `json:"dio"`
	LogSec      int      `json:"log-sec"`
	FSType      string   `json:"fstype"`
	Label       string   `json:"label"`
	Mountpoints []string `json:"mountpoints"`
	// Image and DiskFormat: the VM disk image whose virtual disk loops
	// serves to the device (back-file is then the served file).
	Image      string `json:"image,omitempty"`
	DiskFormat string `json:"disk-format,omitempty"`
	// Layers: what loops opened between the image and the device, bottom
	// first ("luks").
	Layers []string `json:"layers,omitempty"`
}

func blockListRun(opts *blockListOptions) error {
	h := opts.Host()
	frame := func(io *IOStreams, first bool) error { return blockListFrame(io, h, opts.JSON, opts.Watch > 0) }
	if opts.Watch > 0 {
		return runWatch(opts.IO, watchSpec{Interval: opts.Watch, Title: opts.Title, JSON: opts.JSON}, frame)
	}
	return frame(opts.IO, true)
}

// blockListFrame reads the devices and prints them once; watching, as one
// JSON line with a "time".
func blockListFrame(io *IOStreams, h *blockloop.Host, asJSON, watching bool) error {
	devs, err := h.List()
	if err != nil {
		return err
	}
	// Images served by loops' userspace reader have no loop device; they
	// are listed beside the devices.
	fuse, _ := h.UserspaceMounts()
	index, _ := h.IndexMounts()
	if asJSON {
		doc := blockListDoc(devs, fuse, index)
		if watching {
			doc.Time = watchTime()
			return writeJSONLine(io.Out, doc)
		}
		return writeJSON(io.Out, doc)
	}
	if len(devs) == 0 && len(fuse) == 0 && len(index) == 0 {
		if io.IsTerminal() {
			fmt.Fprintln(io.ErrOut, "No loop devices are attached.")
		}
		return nil
	}
	t := newTable(io, "DEVICE", "BACK-FILE", "OFFSET", "SIZELIMIT", "RO", "AUTOCLEAR", "DIO", "TYPE", "LABEL", "MOUNTPOINTS")
	for _, d := range devs {
		file := d.BackingFile
		if d.Deleted {
			file += " (deleted)"
		}
		if d.Image != "" {
			file = servedImage(d.Image, d.DiskFormat, d.Layers)
		}
		t.add(d.Path, file, strconv.FormatInt(d.Offset, 10), strconv.FormatInt(d.SizeLimit, 10),
			boolWord(d.ReadOnly), boolWord(d.Autoclear), boolWord(d.DirectIO), dash(d.FSType), dash(d.Label),
			dash(strings.Join(d.Mountpoints, ",")))
	}
	for _, m := range fuse {
		t.add("(userspace)", m.Source, "0", "0", boolWord(m.ReadOnly()), "-", "-", m.FSType, "-", m.Mountpoint)
	}
	for _, m := range index {
		t.add("(erofs index)", m.Image, strconv.FormatInt(m.Offset, 10), "0", boolWord(m.ReadOnly()), "-", "-", m.Type, "-", m.Mountpoint)
	}
	return t.render()
}

// servedImage names what loops serves a loop device from: the image and
// the readers in between, "vm.qcow2 (qcow2+luks)".
func servedImage(image, format string, layers []string) string {
	readers := slices.DeleteFunc(append([]string{format}, layers...), func(s string) bool { return s == "" })
	return image + " (" + strings.Join(readers, "+") + ")"
}

// shownFile is the file a loop device reads as a person wants it named:
// the image loops serves it from, else its backing file.
func (d loopDevJSON) shownFile() string {
	if d.Image != "" {
		return servedImage(d.Image, d.DiskFormat, d.Layers)
	}
	return d.BackFile
}

func boolWord(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// blockListDoc is the --json document of `loops block list`, also the block
// section of `loops status`.
func blockListDoc(devs []blockloop.Device, fuse []blockloop.MountEntry, index []blockloop.IndexMount) blockListJSON {
	doc := blockListJSON{Schema: schemaVersion, LoopDevices: []loopDevJSON{}}
	for _, d := range devs {
		j := loopDevJSON{
			Name: d.Path, BackFile: d.BackingFile, Deleted: d.Deleted, BackIno: d.BackingInode,
			MajMin: fmt.Sprintf("%d:%d", d.Major, d.Minor), Offset: d.Offset, SizeLimit: d.SizeLimit,
			Size: d.Size, RO: d.ReadOnly, AutoClear: d.Autoclear, PartScan: d.PartScan, DIO: d.DirectIO,
			LogSec: d.LogicalSectorSize, FSType: d.FSType, Label: d.Label, Mountpoints: d.Mountpoints,
			Image: d.Image, DiskFormat: d.DiskFormat, Layers: d.Layers,
		}
		if d.BackingInode != 0 {
			j.BackMajMin = fmt.Sprintf("%d:%d", d.BackingDev>>8&0xfff, d.BackingDev&0xff|(d.BackingDev>>12)&0xfff00)
		}
		if j.Mountpoints == nil {
			j.Mountpoints = []string{}
		}
		doc.LoopDevices = append(doc.LoopDevices, j)
	}
	doc.Userspace = []userspaceMountJSON{}
	for _, m := range fuse {
		doc.Userspace = append(doc.Userspace, userspaceMountJSON{
			BackFile: m.Source, FSType: m.FSType, Mountpoint: m.Mountpoint, RO: m.ReadOnly(),
		})
	}
	doc.Index = []indexMountJSON{}
	for _, m := range index {
		doc.Index = append(doc.Index, indexMountJSON{
			BackFile: m.Image, FSType: m.Type, Offset: m.Offset, Mountpoint: m.Mountpoint, RO: m.ReadOnly(), Route: indexRouteName,
		})
	}
	return doc
}
