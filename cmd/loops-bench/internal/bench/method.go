package bench

// method is the report's "## Method" section: how the engine measures.
const method = `## Method

- **Alternation.** Every comparison runs its sides in rounds, A B A B … (A B C A B C … with three
  sides), never all of A then all of B: a machine that slows down during the run (other work,
  thermal, page cache) slows both sides alike. A few warm-up rounds run first and are not recorded.
- **What is timed.** Each side is one or more real execs of the installed tools and of ` + "`bin/loops`" + `,
  timed from fork to reap by this program (` + "`cmd/loops-bench`" + `), **with no shell in between**: a
  side of several commands ("the three commands a user types today") is the sum of their execs.
  Standard output and error go to a file (neither a terminal nor a pipe), the same for every tool;
  ` + "`LOOPS_FORCE_TTY=0`" + ` and ` + "`LC_ALL=C`" + ` are set for all. Setup and cleanup around a timed step (the
  unmount after a timed mount, a mount before a timed read) run in the same round, untimed.
- **Numbers.** Median, 10th and 90th percentile (linear interpolation) of the recorded rounds;
  "loops ÷ this" is the ratio of the medians (below 1: loops is faster). "loops ahead" says
  **yes** below 0.97, **even** from 0.97 to 1.03, no above.
- **Network namespaces.** The net comparisons run in a fresh namespace made for the run (lo up,
  a few listeners held by a helper process): the benchmark enters it with setns(2) on a locked
  thread and starts every command from that thread, so every tool is born in the namespace and
  reads it as its own, with no ` + "`ip netns exec`" + ` or ` + "`nsenter`" + ` wrapper (whose cost, a mount
  namespace and a remount of /sys for ` + "`ip netns exec`" + `, would dwarf the commands). One
  comparison also shows each tool entering the namespace by itself (` + "`loops net --netns`" + ` vs
  ` + "`ip -n`" + `). Nothing touches the host's lo.
- **Reading it.** Most loops commands here are one-shot reads of a few milliseconds, so the cost of
  starting a process is a large part of them: see "start-up floor" under Network for what starting
  ` + "`bin/loops`" + ` (a static Go binary of several MiB: the runtime's start and its page faults, which are
  expensive on this VM) costs against ` + "`ip`" + ` and ` + "`ss`" + `. Where loops replaces several commands, or does
  the work itself (ISO reads, listeners under many connections), that cost is paid once.
- **Privilege.** Everything runs as root (mounts, namespaces); the sound servers are private ones
  started for the run, with their own ` + "`XDG_RUNTIME_DIR`" + ` and ` + "`HOME`" + ` and two null sinks a and b.
`
