package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

type explainOptions struct {
	IO     *IOStreams
	Topics []string
}

func newExplainCmd(f *Factory, runF func(*explainOptions) error) *cobra.Command {
	opts := &explainOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:       "explain [net|block|audio]",
		Short:     "Explain the three loopbacks, how they differ, and what each command replaces",
		ValidArgs: []string{"net", "block", "audio"},
		Long: `Explain what each of the three things called "loopback" is, how they differ,
and which classic command each loops command replaces. Without an argument,
all three.`,
		Example: "  $ loops explain\n  $ loops explain block",
		Args: func(cmd *cobra.Command, args []string) error {
			for _, a := range args {
				if _, ok := explanations[a]; !ok {
					return flagErrorf("no topic %q: choose net, block or audio", a)
				}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Topics = args
			if runF != nil {
				return runF(opts)
			}
			return explainRun(opts)
		},
	}
	return cmd
}

type explanation struct {
	title string
	what  string
	pairs [][2]string // classic command, loops command
}

var explanations = map[string]explanation{
	"net": {
		title: "net: the network loopback interface lo",
		what: `lo is a network interface that never touches a wire: packets sent to
127.0.0.1 (any 127.x address) or ::1 come straight back to the same machine.
The name localhost points at it. Programs use it to talk to servers on the
same machine (a database, a printer service at http://localhost:631, a dev
server), and it is the first thing to check when "localhost" fails. A server
listens on one address: one on 127.0.0.1 does not answer on ::1, and
"localhost" may mean ::1 first.`,
		pairs: [][2]string{
			{"ifconfig lo; ip -s addr show lo", "loops net status"},
			{"ip link set lo up", "sudo loops net up"},
			{"ip addr add 127.0.0.2/8 dev lo", "sudo loops net addr add 127.0.0.2"},
			{"ss -ltnp", "loops net listeners"},
			{"getent ahosts localhost; curl http://localhost:PORT", "loops net check"},
			{"editing /etc/hosts by hand", "sudo loops net hosts add NAME"},
		},
	},
	"block": {
		title: "block: loop devices",
		what: `A loop device (/dev/loopN) makes a regular file look like a disk, so the
kernel can mount the filesystem inside it: an .iso, a disk image, a
squashfs. Nothing goes over the network and no sound is involved; "loop"
here means the file is looped back in as a block device. Where the kernel
has no driver for the file's filesystem (no iso9660 here), loops reads the
image itself and serves it through FUSE.`,
		pairs: [][2]string{
			{"mount -o loop image.iso /mnt", "sudo loops mount image.iso /mnt"},
			{"umount /mnt; losetup -d /dev/loopN", "sudo loops umount /mnt"},
			{"losetup -a; losetup --list", "loops block list"},
			{"losetup -f --show image.img", "sudo loops block attach image.img"},
			{"losetup -d /dev/loopN", "sudo loops block detach /dev/loopN"},
			{"blkid -p image.img; fdisk -l image.img", "loops block probe image.img"},
			{"fuseiso image.iso /mnt", "loops mount image.iso /mnt"},
		},
	},
	"audio": {
		title: "audio: the sound server's loopback",
		what: `The sound server (PulseAudio, or PipeWire speaking its protocol) can copy
what a source records (a microphone, line-in, or what another output
plays) to a sink (speakers, headphones) as it happens: module-loopback.
It has nothing to do with networks or disks. Done twice it echoes twice;
pointed at its own output it howls; its delay is a setting. The other way
round, a null sink and a remap source make a virtual microphone: what plays
to a sink, or what one application plays, as a source a call can record.`,
		pairs: [][2]string{
			{"pactl load-module module-loopback source=S sink=K", "loops audio on --source S --sink K"},
			{"pactl unload-module N", "loops audio off"},
			{"pactl list short modules | grep loopback", "loops audio status"},
			{"pactl list short sources / sinks", "loops audio sources / loops audio sinks"},
			{"pactl load-module module-null-sink / module-remap-source / module-loopback", "loops audio mic on --from SINK|APP"},
		},
	},
}

func explainRun(opts *explainOptions) error {
	topics := opts.Topics
	if len(topics) == 0 {
		topics = []string{"net", "block", "audio"}
		fmt.Fprintln(opts.IO.Out, `"Loopback" names three unrelated things on Linux. loops keeps them apart:`)
		fmt.Fprintln(opts.IO.Out)
	}
	for i, name := range topics {
		e := explanations[name]
		if i > 0 {
			fmt.Fprintln(opts.IO.Out)
		}
		fmt.Fprintln(opts.IO.Out, e.title)
		fmt.Fprintln(opts.IO.Out, strings.Repeat("-", len(e.title)))
		fmt.Fprintln(opts.IO.Out, e.what)
		fmt.Fprintln(opts.IO.Out)
		t := newTable(opts.IO, "INSTEAD OF", "USE")
		t.tty = true // always aligned: this is prose, not data
		for _, p := range e.pairs {
			t.add("  "+p[0], p[1])
		}
		t.render()
	}
	return nil
}
