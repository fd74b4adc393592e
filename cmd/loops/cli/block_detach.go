package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/loops-cli/loops/blockloop"
)

type blockDetachOptions struct {
	IO     *IOStreams
	Host   func() *blockloop.Host
	Target string
	JSON   bool
}

func newBlockDetachCmd(f *Factory, runF func(*blockDetachOptions) error) *cobra.Command {
	opts := &blockDetachOptions{IO: f.IO, Host: f.Block}
	cmd := &cobra.Command{
		Use:   "detach <device>|<image>",
		Short: "Detach a loop device, or every device backing an image",
		Long: `Detach a loop device, like 'losetup -d', or every loop device backing an
image. loops holds the device open and checks that it still backs the file
it was found backing before detaching it: devices are reused within
milliseconds, and detaching by name alone can hit someone else's.

A device still in use (mounted, or open) cannot go at once: the kernel
marks it to detach when the last user lets go, and loops says so.
Needs root.`,
		Example: `  $ sudo loops block detach /dev/loop3
  $ sudo loops block detach disk.img`,
		Annotations: map[string]string{privilegeAnnotation: blockPrivilege},
		Args:        exactArgs(1, "one loop device or image"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Target = args[0]
			if runF != nil {
				return runF(opts)
			}
			return blockDetachRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print what was done as JSON")
	return cmd
}

type detachedJSON struct {
	Name        string   `json:"name"`
	BackFile    string   `json:"back-file"`
	Deferred    bool     `json:"deferred"`
	Mountpoints []string `json:"mountpoints"`
	// DiskServer: a VM disk image served by loops; DiskServerStopped: its
	// server has ended.
	DiskServer        bool `json:"disk_server,omitempty"`
	DiskServerStopped bool `json:"disk_server_stopped,omitempty"`
}

func blockDetachRun(opts *blockDetachOptions) error {
	rs, err := opts.Host().Detach(opts.Target)
	for _, r := range rs {
		if !opts.JSON {
			fmt.Fprintln(opts.IO.ErrOut, describeDetach(r))
		}
	}
	if err != nil {
		return blockHint(err, opts.Target)
	}
	if opts.JSON {
		doc := struct {
			Schema   int            `json:"schema"`
			Detached []detachedJSON `json:"detached"`
		}{Schema: schemaVersion, Detached: []detachedJSON{}}
		for _, r := range rs {
			mp := r.Mountpoints
			if mp == nil {
				mp = []string{}
			}
			doc.Detached = append(doc.Detached, detachedJSON{Name: r.Device, BackFile: r.Image, Deferred: r.Deferred, Mountpoints: mp,
				DiskServer: r.DiskServer, DiskServerStopped: r.DiskServerStopped})
		}
		return writeJSON(opts.IO.Out, doc)
	}
	return nil
}

func describeDetach(r blockloop.DetachResult) string {
	switch {
	case !r.Deferred && r.DiskServer && r.DiskServerStopped:
		return fmt.Sprintf("Detached %s (%s); its server ended.", r.Device, r.Image)
	case !r.Deferred && r.DiskServer:
		return fmt.Sprintf("Detached %s (%s); its server ends when the kernel lets go of its file.", r.Device, r.Image)
	case !r.Deferred:
		return fmt.Sprintf("Detached %s (%s).", r.Device, r.Image)
	case len(r.Mountpoints) > 0:
		return fmt.Sprintf("%s is mounted at %s: it will be detached when that is unmounted (sudo loops umount %s).",
			r.Device, strings.Join(r.Mountpoints, ", "), r.Mountpoints[0])
	}
	return fmt.Sprintf("%s is still open by a process: it will be detached when that process closes it.", r.Device)
}
