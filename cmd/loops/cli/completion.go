package cli

import (
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/loops-cli/loops/audioloop"
	"github.com/loops-cli/loops/netloop"
)

// Dynamic completion of real things: image files, loop devices, mount
// points of loops' mounts, network namespaces.

// imageExtensions are the files `loops mount` and `loops block` offer.
var imageExtensions = []string{"iso", "img", "squashfs", "sqfs", "erofs", "raw", "ext4", "ext2", "ext3", "xfs", "btrfs", "bin", "udf", "vfat", "fat", "exfat", "qcow2", "qcow", "vmdk", "vhdx", "vdi", "vhd"}

func completeImages(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveFilterDirs
	}
	return imageExtensions, cobra.ShellCompDirectiveFilterFileExt
}

// completeMounted offers the mount points and images of loop and
// userspace mounts, and loop devices.
func completeMounted(f *Factory) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		h := f.Block()
		var out []string
		if devs, err := h.List(); err == nil {
			for _, d := range devs {
				out = append(out, d.Mountpoints...)
				if len(d.Mountpoints) > 0 {
					out = append(out, d.Path)
				}
			}
		}
		if ms, err := h.UserspaceMounts(); err == nil {
			for _, m := range ms {
				out = append(out, m.Mountpoint, m.Source)
			}
		}
		if ms, err := h.IndexMounts(); err == nil {
			for _, m := range ms {
				out = append(out, m.Mountpoint, m.Image)
			}
		}
		return filterPrefix(out, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// completeLoopDevices offers attached loop devices and their images.
func completeLoopDevices(f *Factory) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		if devs, err := f.Block().List(); err == nil {
			for _, d := range devs {
				out = append(out, d.Path+"\t"+d.BackingFile, d.BackingFile)
			}
		}
		return filterPrefix(out, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// completeNetns offers the named network namespaces, as `ip netns list`.
func completeNetns(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	entries, _ := os.ReadDir(netloop.NetnsDir)
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return filterPrefix(out, toComplete), cobra.ShellCompDirectiveNoFileComp
}

func filterPrefix(list []string, prefix string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range list {
		if s == "" || seen[s] || !strings.HasPrefix(s, prefix) {
			continue
		}
		seen[s] = true
		out = append(out, s)
	}
	return out
}

// completeAudio offers the sound server's sources or sinks, with their
// descriptions, asking with a short timeout so a dead server never stalls
// the shell.
func completeAudio(f *Factory, sinks bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		opts := audioloop.Options{Timeout: 300 * time.Millisecond}
		if f := cmd.Flag("server"); f != nil {
			opts.Server = f.Value.String()
		}
		c, err := f.Audio(opts)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer c.Close()
		list := c.Sources
		if sinks {
			list = c.Sinks
		}
		devs, err := list()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		for _, d := range devs {
			if strings.HasPrefix(d.Name, toComplete) {
				out = append(out, d.Name+"\t"+d.Description)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// addCompletions wires the completion functions into the tree.
func addCompletions(root *cobra.Command, f *Factory) {
	set := func(path string, fn cobra.CompletionFunc) {
		if c, _, err := root.Find(strings.Fields(path)); err == nil && c.CommandPath() == "loops "+path {
			c.ValidArgsFunction = fn
		}
	}
	set("mount", completeImages)
	set("block attach", completeImages)
	set("block probe", completeImages)
	set("umount", completeMounted(f))
	set("block detach", completeLoopDevices(f))
	for _, path := range [][]string{{"audio", "on"}, {"audio", "measure"}} {
		if c, _, err := root.Find(path); err == nil && c.Name() == path[1] {
			c.RegisterFlagCompletionFunc("source", completeAudio(f, false))
			c.RegisterFlagCompletionFunc("sink", completeAudio(f, true))
		}
	}
	if net, _, err := root.Find([]string{"net"}); err == nil {
		net.RegisterFlagCompletionFunc("netns", completeNetns)
		net.RegisterFlagCompletionFunc("netns-path", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return nil, cobra.ShellCompDirectiveDefault
		})
	}
}
