package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/loops-cli/loops/blockloop"
)

type umountOptions struct {
	IO     *IOStreams
	Host   func() *blockloop.Host
	Target string
	Lazy   bool
	JSON   bool
}

func newUmountCmd(f *Factory) *cobra.Command { return newUmountCmdWith(f, nil) }

func newUmountCmdWith(f *Factory, runF func(*umountOptions) error) *cobra.Command {
	opts := &umountOptions{IO: f.IO, Host: f.Block}
	cmd := &cobra.Command{
		Use:     "umount <mountpoint>|<image>|<device>",
		Aliases: []string{"unmount"},
		Short:   "Unmount a loop mount, detach its device, remove the directory loops made",
		Long: `Unmount a loop mount given as its mount point, its image (every mount of
that image) or its loop device, like 'umount', without following a symbolic
link. Then the loop device is detached, and the mount point removed if
loops created it and it is empty.

When the device stays attached, loops says why: something else still uses
it (another mount, an open file, a --lazy unmount), and the kernel will
detach it when that ends; or it was attached to stay ('loops block attach').

With --lazy, a busy mount is detached from the tree at once and cleaned up
by the kernel when it is no longer used (umount -l). Needs root.`,
		Example: `  $ sudo loops umount "/media/My Data"
  $ sudo loops umount disk.img
  $ sudo loops umount --lazy /dev/loop3`,
		Annotations: map[string]string{privilegeAnnotation: blockPrivilege},
		Args:        exactArgs(1, "one mount point, image or loop device"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Target = args[0]
			if runF != nil {
				return runF(opts)
			}
			return umountRun(opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Lazy, "lazy", "l", false, "detach a busy mount now, clean up when it is free")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print what was done as JSON")
	return cmd
}

type umountJSON struct {
	Schema    int             `json:"schema"`
	Unmounted []unmountedJSON `json:"unmounted"`
}

type unmountedJSON struct {
	Mountpoint string   `json:"mountpoint"`
	Device     string   `json:"device"`
	Image      string   `json:"image"`
	RemovedDir bool     `json:"removed_dir"`
	DirKept    string   `json:"dir_kept,omitempty"`
	Detached   bool     `json:"detached"`
	Deferred   bool     `json:"deferred"`
	Persistent bool     `json:"persistent"`
	OtherUsers []string `json:"other_mountpoints,omitempty"`
	Userspace  bool     `json:"userspace,omitempty"`
	Index      bool     `json:"erofs_index,omitempty"` // a kernel erofs index over the image
	// DiskServer: the device read a VM disk image served by loops; its
	// server ended (DiskServerStopped) once the device let go.
	DiskServer        bool `json:"disk_server,omitempty"`
	DiskServerStopped bool `json:"disk_server_stopped,omitempty"`
}

func umountRun(opts *umountOptions) error {
	us, err := opts.Host().Unmount(opts.Target, blockloop.UnmountOptions{Lazy: opts.Lazy})
	report := func() {
		for _, u := range us {
			fmt.Fprintln(opts.IO.ErrOut, describeUnmount(u))
		}
	}
	if err != nil {
		report()
		return blockHint(err, opts.Target)
	}
	if opts.JSON {
		doc := umountJSON{Schema: schemaVersion, Unmounted: []unmountedJSON{}}
		for _, u := range us {
			doc.Unmounted = append(doc.Unmounted, unmountedJSON{
				Mountpoint: u.Mountpoint, Device: u.Device, Image: u.Image, RemovedDir: u.RemovedDir,
				DirKept: u.DirKept, Detached: u.Detached, Deferred: u.Deferred, Persistent: u.Persistent,
				OtherUsers: u.OtherUsers, Userspace: u.Userspace, Index: u.Index,
				DiskServer: u.DiskServer, DiskServerStopped: u.DiskServerStopped,
			})
		}
		return writeJSON(opts.IO.Out, doc)
	}
	report()
	return nil
}

func describeUnmount(u blockloop.UnmountResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Unmounted %s", u.Mountpoint)
	switch {
	case u.Userspace:
		b.WriteString("; its userspace server exits")
	case u.Index:
		b.WriteString("; its erofs index went with it")
	case u.Detached && u.DiskServer && u.DiskServerStopped:
		fmt.Fprintf(&b, "; %s detached; the server of %s ended", u.Device, u.Image)
	case u.Detached && u.DiskServer:
		fmt.Fprintf(&b, "; %s detached; the server of %s ends when the kernel lets go of its file", u.Device, u.Image)
	case u.Detached:
		fmt.Fprintf(&b, "; %s detached", u.Device)
	case u.Persistent:
		fmt.Fprintf(&b, "; %s stays attached (it was attached to stay: sudo loops block detach %s)", u.Device, u.Device)
	case u.Deferred && len(u.OtherUsers) > 0:
		fmt.Fprintf(&b, "; %s is still mounted at %s, so it stays attached until that is unmounted", u.Device, strings.Join(u.OtherUsers, ", "))
	case u.Deferred:
		fmt.Fprintf(&b, "; %s is still busy (a lazy unmount, or a process holds it open): the kernel detaches it when it is free", u.Device)
	}
	switch {
	case u.RemovedDir:
		b.WriteString("; directory removed")
	case u.DirKept != "":
		fmt.Fprintf(&b, "; directory kept (%s)", u.DirKept)
	}
	b.WriteString(".")
	return b.String()
}
