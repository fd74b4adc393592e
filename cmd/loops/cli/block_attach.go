package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/loops-cli/loops/blockloop"
)

type blockAttachOptions struct {
	IO        *IOStreams
	Host      func() *blockloop.Host
	Image     string
	ReadOnly  bool
	Offset    int64
	SizeLimit int64
	PartScan  bool
	DirectIO  bool
	JSON      bool
}

func newBlockAttachCmd(f *Factory, runF func(*blockAttachOptions) error) *cobra.Command {
	opts := &blockAttachOptions{IO: f.IO, Host: f.Block}
	cmd := &cobra.Command{
		Use:   "attach <image>",
		Short: "Attach an image to a free loop device and print the device",
		Long: `Attach an image to a free loop device and print the device, like
'losetup --find --show'. The device stays until 'loops block detach'.
If a loop device already backs the same file with the same offset and size
limit, that one is printed instead of making a second (two writable loop
devices on one file corrupt it). A VM disk image (qcow2, vmdk, vhdx, vdi,
vhd) gets a read-only device of its virtual disk, which a loops server
serves until the device is detached.

--partscan asks the kernel to make /dev/loopNpM devices; kernels built
without partition parsers make none: use 'loops mount --partition N'.
Needs root.`,
		Example: `  $ sudo loops block attach disk.img
  /dev/loop3
  $ sudo loops block attach --ro --offset 1048576 --sizelimit 33554432 disk.img`,
		Annotations: map[string]string{privilegeAnnotation: blockPrivilege},
		Args:        exactArgs(1, "one image"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Image = args[0]
			if opts.Offset < 0 || opts.SizeLimit < 0 {
				return flagErrorf("--offset and --sizelimit cannot be negative")
			}
			if runF != nil {
				return runF(opts)
			}
			return blockAttachRun(opts)
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&opts.ReadOnly, "ro", "r", false, "attach read-only")
	fl.Int64VarP(&opts.Offset, "offset", "o", 0, "start the device at this byte `offset` of the file")
	fl.Int64Var(&opts.SizeLimit, "sizelimit", 0, "make the device at most this many `bytes`")
	fl.BoolVarP(&opts.PartScan, "partscan", "P", false, "ask the kernel to scan for partitions")
	fl.BoolVar(&opts.DirectIO, "direct-io", false, "bypass the page cache of the backing file")
	fl.BoolVar(&opts.JSON, "json", false, "print the device as JSON")
	return cmd
}

func blockAttachRun(opts *blockAttachOptions) error {
	d, err := opts.Host().Attach(opts.Image, blockloop.AttachOptions{
		ReadOnly: opts.ReadOnly, Offset: opts.Offset, SizeLimit: opts.SizeLimit,
		PartScan: opts.PartScan, DirectIO: opts.DirectIO, ServeUserspace: startUserspaceServer,
	})
	if err != nil {
		return blockHint(err, opts.Image)
	}
	if opts.JSON {
		return writeJSON(opts.IO.Out, struct {
			Schema int `json:"schema"`
			loopDevJSON
		}{schemaVersion, loopDevJSON{
			Name: d.Path, BackFile: d.BackingFile, BackIno: d.BackingInode, MajMin: fmt.Sprintf("%d:%d", d.Major, d.Minor),
			Offset: d.Offset, SizeLimit: d.SizeLimit, Size: d.Size, RO: d.ReadOnly, AutoClear: d.Autoclear,
			PartScan: d.PartScan, DIO: d.DirectIO, LogSec: d.LogicalSectorSize, Mountpoints: []string{},
			Image: d.Image, DiskFormat: d.DiskFormat,
		}})
	}
	switch {
	case d.Image != "":
		fmt.Fprintf(opts.IO.ErrOut, "%s reads the virtual disk of %s (%s), served by loops, read-only.\n", d.Path, d.Image, d.DiskFormat)
	case opts.ReadOnly != d.ReadOnly && d.ReadOnly:
		fmt.Fprintf(opts.IO.ErrOut, "%s is read-only: the image file is not writable.\n", d.Path)
	}
	if opts.DirectIO && !d.DirectIO {
		fmt.Fprintf(opts.IO.ErrOut, "The kernel refused direct I/O for %s (the backing filesystem does not support it).\n", d.Path)
	}
	fmt.Fprintln(opts.IO.Out, d.Path)
	return nil
}
