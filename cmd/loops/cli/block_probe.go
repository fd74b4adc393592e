package cli

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/loops-cli/loops/blockloop"
	"github.com/loops-cli/loops/blockloop/probe"
)

type blockProbeOptions struct {
	IO        *IOStreams
	Host      func() *blockloop.Host
	Image     string
	Partition int
	Type      string
	KeyFile   string
	LV        string
	PVs       []string
	JSON      bool
}

func newBlockProbeCmd(f *Factory, runF func(*blockProbeOptions) error) *cobra.Command {
	opts := &blockProbeOptions{IO: f.IO, Host: f.Block}
	cmd := &cobra.Command{
		Use:   "probe <image>",
		Short: "Show what an image holds and how loops mount would mount it",
		Long: `Read an image's superblocks, like 'blkid -p': its type, label, UUID,
version and size, its MBR or GPT partitions and what each holds, and for
a VM disk image (qcow2, vmdk, vhdx, vdi, vhd) its format, virtual size and
backing chain and what its virtual disk holds. Then which path 'loops
mount' would take, and why: the kernel when it has a driver for the type,
loops' userspace reader (ISO 9660, UDF, FAT, exFAT) when it has none, or
an error naming what is missing and what to use instead (for LVM, md
RAID, ZFS: the command that opens them). A LUKS volume shows as a layer:
its version, label, cipher and keyslots, and, given its passphrase with
--key-file FILE (- for stdin), what it holds and how loops mount would
mount it. --partition and --type show
the decision for those 'loops mount' flags. Needs read access to the
image only.`,
		Example: `  $ loops block probe disk.img
  $ loops block probe --partition 2 sdcard.img
  $ loops block probe --json disk.img`,
		Args: exactArgs(1, "one image"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Image = args[0]
			if opts.Partition < 0 {
				return flagErrorf("--partition cannot be negative")
			}
			if runF != nil {
				return runF(opts)
			}
			return blockProbeRun(opts)
		},
	}
	cmd.Flags().IntVar(&opts.Partition, "partition", 0, "show the decision for partition `N`")
	cmd.Flags().StringVar(&opts.Type, "type", "", "show the decision for filesystem `type`")
	cmd.Flags().StringVar(&opts.KeyFile, "key-file", "", "unlock an encrypted volume with the passphrase in `file` (- for stdin) and show what it holds")
	cmd.Flags().StringVar(&opts.LV, "lv", "", "show the decision for the LVM logical volume `VG/LV`")
	cmd.Flags().StringArrayVar(&opts.PVs, "pv", nil, "a `file` holding another LVM physical volume of the image's volume group (repeatable)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

type probeJSON struct {
	Schema    int      `json:"schema"`
	Image     string   `json:"image"`
	Size      int64    `json:"size"`
	Usage     string   `json:"usage"`
	Type      string   `json:"type"`
	Label     string   `json:"label"`
	UUID      string   `json:"uuid"`
	Version   string   `json:"version,omitempty"` // blkid's VERSION
	FSSize    int64    `json:"fssize"`
	Truncated bool     `json:"truncated"`
	Ambiguous []string `json:"ambiguous"`
	// Also are filesystems present by design beside type: the ISO 9660
	// tree of a UDF bridge disc (mounted with --type iso9660).
	Also       []string        `json:"also"`
	PTType     string          `json:"pttype"`
	PTUUID     string          `json:"ptuuid"`
	Partitions []partitionJSON `json:"partitions"`
	// Disk describes a VM disk image (type qcow2, vmdk, vhdx, vdi, vpc); the
	// partitions and pttype are then those of its virtual disk.
	Disk *diskJSON `json:"disk,omitempty"`
	// LVs are the LVM logical volumes of the volume groups found, with
	// what each holds.
	LVs  []blockloop.LogicalVolume `json:"lvs,omitempty"`
	Plan planJSON                  `json:"plan"`
}

type diskJSON struct {
	Format      string      `json:"format"`
	VirtualSize int64       `json:"virtual_size"`
	Layers      []layerJSON `json:"layers"` // the image, then the files it refers to
	Error       string      `json:"error,omitempty"`
}

type layerJSON struct {
	Path        string   `json:"path"`
	Format      string   `json:"format"`
	Variant     string   `json:"variant,omitempty"`
	VirtualSize int64    `json:"virtual_size,omitempty"`
	ClusterSize int64    `json:"cluster_size,omitempty"`
	Compression string   `json:"compression,omitempty"`
	Parent      string   `json:"parent,omitempty"`
	Warnings    []string `json:"warnings,omitempty"`
}

type partitionJSON struct {
	Number   int    `json:"number"`
	Start    int64  `json:"start"`
	Size     int64  `json:"size"`
	Type     string `json:"type"`
	TypeName string `json:"type_name"`
	Name     string `json:"name"`
	UUID     string `json:"partuuid"`
	FSType   string `json:"fstype"`
	Label    string `json:"label"`
	FSUUID   string `json:"uuid"`
}

type planJSON struct {
	Route     string `json:"route"`
	FSType    string `json:"fstype"`
	Partition int    `json:"partition"`
	Offset    int64  `json:"offset"`
	SizeLimit int64  `json:"sizelimit"`
	RO        bool   `json:"ro"`
	Reason    string `json:"reason"`
	Hint      string `json:"hint,omitempty"` // what to do instead, when the route is none
	// Layers is the stack loops opens between the image (or virtual disk)
	// and the filesystem (an encrypted volume), partition first.
	Layers []blockloop.Layer `json:"layers,omitempty"`
}

func blockProbeRun(opts *blockProbeOptions) error {
	mo := blockloop.MountOptions{Partition: opts.Partition, Type: opts.Type, Userspace: userspaceTypes, WriteIndex: writeIndex, LV: opts.LV, PVs: opts.PVs}
	if opts.KeyFile != "" {
		pass := newPassphrase(opts.KeyFile, opts.IO.In, opts.Image)
		mo.Passphrase, mo.PassphraseTries = pass.get, pass.tries()
	}
	pr, plan, err := opts.Host().PlanMount(opts.Image, mo)
	if err != nil {
		return err
	}
	doc := probeJSON{
		Schema: schemaVersion, Image: opts.Image, Size: pr.Size, Usage: string(pr.Kind), Type: pr.Type,
		Label: pr.Label, UUID: pr.UUID, Version: pr.Version, FSSize: pr.FSSize, Truncated: pr.Truncated(), Ambiguous: pr.Ambiguous,
		PTType: pr.PTType, PTUUID: pr.PTUUID, Partitions: []partitionJSON{},
		Plan: planJSON{Route: string(plan.Route), FSType: plan.Type, Partition: plan.Partition,
			Offset: plan.Offset, SizeLimit: plan.SizeLimit, RO: plan.ReadOnly, Reason: plan.Reason, Layers: plan.Layers},
	}
	doc.LVs = plan.LVs
	if plan.Err != nil {
		var h *hintError
		if errors.As(blockHint(plan.Err, opts.Image), &h) {
			doc.Plan.Hint = h.hint
		}
	}
	if doc.Ambiguous == nil {
		doc.Ambiguous = []string{}
	}
	doc.Also = append([]string{}, pr.Also...)
	parts := pr.Partitions
	if d := plan.Disk; d != nil {
		doc.Disk = &diskJSON{Format: d.Format, VirtualSize: d.VirtualSize, Layers: []layerJSON{}}
		if d.Err != nil {
			doc.Disk.Error = d.Err.Error()
		}
		for _, l := range d.Layers {
			doc.Disk.Layers = append(doc.Disk.Layers, layerJSON{Path: l.Path, Format: l.Format, Variant: l.Variant,
				VirtualSize: l.VirtualSize, ClusterSize: l.ClusterSize, Compression: l.Compression, Parent: l.Parent, Warnings: l.Warnings})
		}
		if d.Inner != nil {
			parts = d.Inner.Partitions
			doc.PTType, doc.PTUUID = d.Inner.PTType, d.Inner.PTUUID
		}
	}
	for _, p := range parts {
		j := partitionJSON{Number: p.Number, Start: p.Start, Size: p.Size, Type: p.Type, TypeName: p.TypeName, Name: p.Name, UUID: p.UUID}
		if p.FS != nil {
			j.FSType, j.Label, j.FSUUID = p.FS.Type, p.FS.Label, p.FS.UUID
		}
		doc.Partitions = append(doc.Partitions, j)
	}
	if opts.JSON {
		return writeJSON(opts.IO.Out, doc)
	}
	return renderProbe(opts.IO, doc, pr)
}

func renderProbe(io *IOStreams, d probeJSON, pr *probe.Result) error {
	what := d.Type
	switch {
	case d.Usage == string(probe.KindPartitionTable):
		what = map[string]string{"dos": "MBR", "gpt": "GPT"}[d.PTType] + " partition table"
	case d.Type == "":
		what = "unknown"
	}
	t := newTable(io)
	t.add("image", d.Image)
	t.add("size", fmt.Sprintf("%s (%d bytes)", blockloop.HumanSize(d.Size), d.Size))
	t.add("type", what)
	if d.Label != "" {
		t.add("label", d.Label)
	}
	if d.UUID != "" {
		t.add("uuid", d.UUID)
	}
	if d.Version != "" {
		t.add("version", d.Version)
	}
	if d.PTType != "" && d.Usage != string(probe.KindPartitionTable) && d.Disk == nil {
		t.add("table", d.PTType+" partition table too (a hybrid image); the whole-image filesystem wins")
	}
	if d.PTUUID != "" {
		t.add("ptuuid", d.PTUUID)
	}
	if d.Disk != nil {
		for i, l := range d.Disk.Layers {
			what := l.Format
			if l.Variant != "" {
				what += " " + l.Variant
			}
			if i == 0 {
				what += ", " + blockloop.HumanSize(d.Disk.VirtualSize) + " virtual disk"
			}
			if l.ClusterSize > 0 {
				what += ", " + blockloop.HumanSize(l.ClusterSize) + " clusters"
			}
			if l.Compression != "" {
				what += ", " + l.Compression + " compressed"
			}
			if i == 0 {
				t.add("disk", what)
			} else {
				t.add("backing", l.Path+" ("+what+")")
			}
			for _, w := range l.Warnings {
				t.add("warning", l.Path+": "+w)
			}
		}
		if d.Disk.Error != "" {
			t.add("error", d.Disk.Error)
		}
		if d.PTType != "" {
			t.add("table", map[string]string{"dos": "MBR", "gpt": "GPT"}[d.PTType]+" partition table in the virtual disk")
		}
	}
	if d.Truncated {
		t.add("truncated", fmt.Sprintf("the superblock claims %d bytes, the file has %d", d.FSSize, d.Size))
	}
	for _, a := range d.Also {
		t.add("also", fmt.Sprintf("%s tree too (a bridge disc): --type %s mounts it", a, a))
	}
	if len(d.Ambiguous) > 0 {
		t.add("also", strings.Join(d.Ambiguous, ", ")+" signature(s): ambiguous")
	}
	if pr.PTError != nil {
		t.add("table", "damaged: "+pr.PTError.Error())
	}
	for _, l := range d.Plan.Layers {
		if l.Kind == blockloop.LayerPartition {
			continue
		}
		what := l.Name
		if l.Label != "" {
			what += fmt.Sprintf(" %q", l.Label)
		}
		what += ", " + l.Detail
		if l.Locked {
			what += "; loops mount asks for the passphrase"
		}
		t.add("layer", what)
	}
	route := d.Plan.Route
	if route == string(blockloop.RouteKernel) || route == string(blockloop.RouteUserspace) || route == string(blockloop.RouteIndex) {
		mode := "read-write"
		if d.Plan.RO {
			mode = "read-only"
		}
		route += fmt.Sprintf(" (%s, %s", d.Plan.FSType, mode)
		if d.Plan.Partition > 0 {
			route += fmt.Sprintf(", partition %d at offset %d, size limit %d", d.Plan.Partition, d.Plan.Offset, d.Plan.SizeLimit)
		}
		route += ")"
	}
	t.add("mount", route)
	t.add("why", d.Plan.Reason)
	for _, l := range strings.Split(d.Plan.Hint, "\n") {
		if l != "" {
			t.add("hint", l)
		}
	}
	if !io.IsTerminal() {
		// One table for scripts: partitions are rows starting "partition".
		for _, p := range d.Partitions {
			t.add("partition", strconv.Itoa(p.Number), strconv.FormatInt(p.Start, 10), strconv.FormatInt(p.Size, 10),
				dash(p.Type), dash(p.FSType), dash(p.Label), dash(p.FSUUID))
		}
		// And LVs are rows starting "lv".
		for _, l := range d.LVs {
			t.add("lv", l.FullName(), strconv.FormatInt(l.Size, 10), strings.Join(l.Types, ","), dash(l.FS), dash(l.Label))
		}
		return t.render()
	}
	if err := t.render(); err != nil {
		return err
	}
	if len(d.LVs) > 0 {
		fmt.Fprintln(io.Out)
		lt := newTable(io, "LV", "SIZE", "SEGMENTS", "FSTYPE", "LABEL")
		for _, l := range d.LVs {
			fs := dash(l.FS)
			if l.Why != "" {
				fs = "(loops cannot read it)"
			}
			lt.add(l.FullName(), blockloop.HumanSize(l.Size), strings.Join(l.Types, ","), fs, dash(l.Label))
		}
		if err := lt.render(); err != nil {
			return err
		}
	}
	if len(d.Partitions) == 0 {
		return nil
	}
	fmt.Fprintln(io.Out)
	pt := newTable(io, "PART", "START", "SIZE", "TYPE", "NAME", "FSTYPE", "LABEL", "UUID")
	for _, p := range d.Partitions {
		typ := p.TypeName
		if typ == "" {
			typ = p.Type
		}
		pt.add(strconv.Itoa(p.Number), strconv.FormatInt(p.Start, 10), blockloop.HumanSize(p.Size), typ,
			dash(p.Name), dash(p.FSType), dash(p.Label), dash(p.FSUUID))
	}
	return pt.render()
}
