package main

// startupSection is "where a one-shot command's time goes": measured by
// hand (perf, strace, GODEBUG=inittrace=1 and gctrace=1) when the start of
// the CLI was worked on (issue 15), not by this program, which rewrites it
// with every report so that it stays next to the numbers it explains.
const startupSection = "## Where a one-shot command's time goes\n\n" +
	`Measured by hand on the machine above (2 vCPUs of a Firecracker VM, where a page fault and a ` + "`cpuid`" + ` trap cost more than on bare metal; the load of other work was high, so single numbers move by ±0.2 ms), on 2026-11-30, for the work on issue 15. Tools: ` + "`perf record -g`" + ` over 100–300 runs of each command (each sample counted once, in the outermost phase its stack is in), ` + "`perf stat`" + ` (CPU time and page faults, the 0.44 ms and 60 faults of the ` + "`sh -c`" + ` that runs them taken off), ` + "`strace -f -T`" + ` (syscalls, netlink round trips), ` + "`GODEBUG=inittrace=1`" + ` (package init) and ` + "`GODEBUG=gctrace=1`" + ` (GC). "before" is loops with the FUSE server inside (go-fuse and the format readers in every command), "after" is this tree.

**The floor.** A static Go program that prints one line costs what ` + "`ip -V`" + ` costs (1.2 ms wall, about 200 page faults: the runtime's start, ` + "`cpuid`" + ` probes, the cgroup files Go reads for GOMAXPROCS, its first threads), twice ` + "`/bin/true`" + ` (0.6 ms). Every loops command pays that floor before it does anything; the C tools pay less than half of it. Half of the CPU time of every one-shot loops command below is the Go runtime's start, which nothing in loops can remove.

| command | CPU ms before → after | page faults before → after | runtime start | package init (of it: klauspost/compress) | cobra: build the tree | cobra, render, other | the work | exec + exit (kernel) |
|:---|---:|---:|---:|---:|---:|---:|---:|---:|
| ` + "`loops net status`" + ` | 2.59 → 2.24 | 508 → 405 | 50% | 20% (9%) | 6% | 8% | 12% | 3% |
| ` + "`loops block probe IMG`" + ` (ext4) | 2.32 → 2.41 | 604 → 535 | 45% | 20% (8%) | 6% | 9% | 18% | 3% |
| ` + "`loops umount MNT`" + ` (ext4, with detach) | 1.15 → 1.17 (the mount before it taken off) | 389 → 253 | 45% | 15% (6%) | 5% | 7% | 25% | 3% |
| ` + "`loops block attach IMG; loops block detach DEV`" + ` | 4.96 → 4.08 | 934 → 853 | 48% | 20% (9%) | 6% | 8% | 14% | 3% |
| ` + "`loops mount ISO MNT`" + `: the CLI | 7.46 → 7.06 (CLI + server + umount) | 1339 → 1168 | 43% | 14% (6%) | 4% | 6% | 29% | 4% |
| ` + "`loops mount ISO MNT`" + `: the server until "ready" | (in the line above) | | 51% | 18% (klauspost 6%, go-fuse 6%) | | 3% | 16% | 3% |
| for comparison: ` + "`ip -s addr show lo`" + `, ` + "`blkid -p`" + `, ` + "`losetup -f --show; losetup -d`" + `, ` + "`fuseiso; fusermount -u`" + ` | 0.98, 0.94, 1.71, 2.44 | 130, 170, 210, 340 | | | | | | |

Before, package init was a quarter of every command: go-fuse's (its splice package reads ` + "`/proc/sys/fs/pipe-max-size`" + ` and makes a pipe at init, which also starts the runtime's poller) 7%, klauspost/compress's 7.5% (the crc32c table of its snappy package, built at init; flate's encoder tables), the rest the standard library, cobra and netlink.

**Round trips and syscalls.** Measured with strace; each is a few µs, so together they are a small part of the ms above.

- ` + "`loops net status`" + `: one RTM_GETLINK (lo by name), one RTM_GETADDR dump, one RTM_GETROUTE dump (the local table's routes, which ` + "`ip -s addr`" + ` does not show), four sock_diag dumps (TCP and UDP, IPv4 and IPv6, LISTEN and unconnected only: the count of loopback services) and no sysfs or procfs read (` + "`disable_ipv6`" + ` is read only when lo has no ::1). ` + "`ip -s addr show lo`" + ` makes two (a link dump and an address dump); loops shows more, so it asks more. With ` + "`--netns`" + ` loops now enters the namespace once to make both netlink sockets (before: three visits, setns there and back each). No GC cycle.
- ` + "`loops block probe`" + `: four preads (4 KiB for the VM disk magic, 68 KiB of head, the 256 KiB head and 192 KiB tail windows every prober shares) and a few small ones outside them (ZFS labels, md, partition tables), like blkid's. The allocation of the windows is most of its page faults.
- ` + "`loops umount`" + `: one read of ` + "`/proc/self/mountinfo`" + ` (before: two, the second only to name VM disk servers), the device's sysfs attributes (now 3 syscalls each, open, read, close: ` + "`os.ReadFile`" + ` first registers every sysfs file with the runtime's poller, 9 syscalls each and an epoll instance), ` + "`LOOP_GET_STATUS64`" + `, ` + "`umount2`" + `, then one look at ` + "`backing_file`" + `: the kernel clears an autoclear device on its last close, which the last mount's ` + "`umount2`" + ` is, before it returns, so the look finds it gone and nothing is polled. When the device is still mounted elsewhere, loops now says so at once (before it polled for 500 ms first); only a device still bound and mounted nowhere (a process holding it) is waited for, up to 500 ms, before loops says it is deferred.
- ` + "`loops block attach`" + `: one pread of the image's head (VM disk magic), ` + "`/proc/partitions`" + ` and the ` + "`backing_file`" + ` of bound devices (is the image attached already?), ` + "`LOOP_CTL_GET_FREE`" + ` and ` + "`LOOP_CONFIGURE`" + ` under a lock on ` + "`/dev/loop-control`" + `, the new device's sysfs attributes. ` + "`loops block detach`" + `: sysfs, ` + "`LOOP_GET_STATUS64`" + ` on a held fd (the device is still the one found), ` + "`LOOP_CLR_FD`" + `, one look at ` + "`backing_file`" + `. No poll in either.
- ` + "`loops mount ISO`" + `: the CLI probes (as above), reads ` + "`/proc/filesystems`" + ` and mountinfo, and starts the server with one fork and exec (before: ` + "`os/exec`" + `, which on the first start in a process forks a throwaway child to check pidfd support and opens ` + "`/dev/null`" + ` three times); the server (now ` + "`loops-serve`" + `, 5.7 MiB against the 11.6 MiB of the CLI that served before) starts its runtime, reads the volume descriptors (5 preads), mounts (` + "`mount(2)`" + `), answers the kernel's FUSE INIT, does go-fuse's poll check (one LOOKUP/OPEN on ` + "`.go-fuse-epoll-hack`" + `), sets the readahead and writes "ready". Two Go processes start where fuseiso starts one C process: about 2.5 ms of the 7 ms is the two runtime starts.
- **GC**: no GC cycle runs in any of these commands (` + "`GODEBUG=gctrace=1`" + `: the heap stays under the first 4 MiB goal), so turning the GC off for one-shot commands would save nothing, and loops does not.

**What changed** (issue 15): the FUSE server is its own binary, ` + "`loops-serve`" + ` (` + "`$(PREFIX)/lib/loops/`" + `, or beside ` + "`loops`" + `), so go-fuse and the four format readers are out of every CLI command (the CLI's binary went from 11.6 to 10.3 MiB); sysfs and procfs files are read with plain syscalls; ` + "`loops umount`" + ` reads the mount table once and does not wait when the kernel has already said what it did; ` + "`--netns`" + ` visits the namespace once; ` + "`loops mount`" + ` starts its server with one fork and exec; the server keeps a 24 MiB soft memory limit.

**Before and after, one quiet run each** (` + "`loops-bench -only net,block,iso,scale`" + `, 40 rounds, load average 1.5, the same day; "before" is the binary with the server inside; medians in ms, and loops ÷ the classic tool):

| comparison | before | after | classic tool | ratio before → after |
|:---|---:|---:|---:|---:|
| ` + "`loops --help`" + ` (start-up floor) vs ` + "`ip -V`" + ` | 2.11 | 1.88 | 1.07 | 1.96 → 1.76 |
| ` + "`loops net status`" + ` vs ` + "`ip -s addr show lo`" + ` | 2.40 | 2.14 | 1.13 | 2.13 → 1.89 |
| ` + "`loops net --netns NS status`" + ` vs ` + "`ip -n NS -s addr show lo`" + ` | 2.50 | 2.23 | 1.24 | 2.02 → 1.79 |
| ` + "`loops net status`" + `, 256 addresses, vs ` + "`ip -s addr show lo`" + ` | 3.83 | 3.21 | 1.52–1.58 | 2.42 → 2.11 |
| ` + "`loops mount; loops umount`" + ` vs ` + "`mount -o loop; umount`" + ` | 6.76 | 6.06 | 4.74–4.78 | 1.42 → 1.28 |
| ` + "`loops mount`" + ` vs ` + "`mount -o loop`" + ` | 3.38 | 3.20 | 3.12 | 1.08 → 1.03 |
| ` + "`loops umount`" + ` vs ` + "`umount`" + ` | 3.35 | 2.99 | 1.64–1.71 | 1.96 → 1.82 |
| ` + "`loops block attach; detach`" + ` vs ` + "`losetup -f --show; losetup -d`" + ` | 4.89 | 4.30 | 1.59–1.62 | 3.07 → 2.66 |
| ` + "`loops block probe`" + ` vs ` + "`blkid -p`" + ` | 2.44 | 2.29 | 0.95 | 2.54 → 2.41 |
| ` + "`loops mount ISO MNT`" + ` vs ` + "`fuseiso`" + ` | 5.48 | 5.00 | 1.35 | 4.05 → 3.70 |
| the server's peak RSS after the mount, kB, vs fuseiso's | 7552 | 4904 | 2348–2372 | |
| the server's peak RSS after reading 64 MiB + 1 GiB and the walk, kB | 23304 | 22636 | 11668–11716 | |

**What is left, and why.** (1) The Go runtime's start, half of each command, about ` + "`ip`" + `'s whole run: the one-shot rows cannot reach a ratio of 1.0 against small C tools while loops is a Go program. (2) klauspost/compress, 6–9% of every command's CPU: ` + "`blockloop/disk/qcow2`" + ` uses it for compressed clusters, and ` + "`blockloop`" + ` probes VM images in the CLI; its init (the crc32c table of its snappy code, flate's encoder tables) runs in every command. Taking it out needs the compressed-cluster codecs behind a registration in ` + "`qcow2`" + ` (zlib from the standard library in the CLI) and zstd-compressed images probed through the server. (3) cobra builds every command's tree for every run (5–6%). (4) The server's memory after the 10,000-file walk is go-fuse's inodes and the tree, which the kernel keeps referenced (24 h entry timeouts).
`
