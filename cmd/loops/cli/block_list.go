package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/loops-cli/loops/blockloop"
)

type blockListOptions struct {
	IO   *IOStreams
	Host func() *blockloop.Host
	JSON bool
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
JSON field names follow 'losetup --list --json'. Needs no privilege.`,
		Example: `  $ loops block list
  $ loops block ls --json`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return blockListRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
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
	LoopDevices []loopDevJSON        `json:"loopdevices"`
	Userspace   []userspaceMountJSON `json:"userspace_mounts"`
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
}

func blockListRun(opts *blockListOptions) error {
	devs, err := opts.Host().List()
	if err != nil {
		return err
	}
	// Images served by loops' userspace reader have no loop device; they
	// are listed beside the devices.
	fuse, _ := opts.Host().UserspaceMounts()
	if opts.JSON {
		return writeJSON(opts.IO.Out, blockListDoc(devs, fuse))
	}
	if len(devs) == 0 && len(fuse) == 0 {
		if opts.IO.IsTerminal() {
			fmt.Fprintln(opts.IO.ErrOut, "No loop devices are attached.")
		}
		return nil
	}
	t := newTable(opts.IO, "DEVICE", "BACK-FILE", "OFFSET", "SIZELIMIT", "RO", "AUTOCLEAR", "DIO", "TYPE", "LABEL", "MOUNTPOINTS")
	for _, d := range devs {
		file := d.BackingFile
		if d.Deleted {
			file += " (deleted)"
		}
		if d.Image != "" {
			file = d.Image + " (" + d.DiskFormat + ")"
		}
		t.add(d.Path, file, strconv.FormatInt(d.Offset, 10), strconv.FormatInt(d.SizeLimit, 10),
			boolWord(d.ReadOnly), boolWord(d.Autoclear), boolWord(d.DirectIO), dash(d.FSType), dash(d.Label),
			dash(strings.Join(d.Mountpoints, ",")))
	}
	for _, m := range fuse {
		t.add("(userspace)", m.Source, "0", "0", boolWord(m.ReadOnly()), "-", "-", m.FSType, "-", m.Mountpoint)
	}
	return t.render()
}

func boolWord(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// blockListDoc is the --json document of `loops block list`, also the block
// section of `loops status`.
func blockListDoc(devs []blockloop.Device, fuse []blockloop.MountEntry) blockListJSON {
	doc := blockListJSON{Schema: schemaVersion, LoopDevices: []loopDevJSON{}}
	for _, d := range devs {
		j := loopDevJSON{
			Name: d.Path, BackFile: d.BackingFile, Deleted: d.Deleted, BackIno: d.BackingInode,
			MajMin: fmt.Sprintf("%d:%d", d.Major, d.Minor), Offset: d.Offset, SizeLimit: d.SizeLimit,
			Size: d.Size, RO: d.ReadOnly, AutoClear: d.Autoclear, PartScan: d.PartScan, DIO: d.DirectIO,
			LogSec: d.LogicalSectorSize, FSType: d.FSType, Label: d.Label, Mountpoints: d.Mountpoints,
			Image: d.Image, DiskFormat: d.DiskFormat,
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
	return doc
}
