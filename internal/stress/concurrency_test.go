package stress

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loops-cli/loops/audioloop/audiolooptest"
	"github.com/loops-cli/loops/blockloop/blocklooptest"
)

// parallel runs f(0..n-1) at once and waits for all.
func parallel(n int, f func(i int)) time.Duration {
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); f(i) }()
	}
	wg.Wait()
	return time.Since(start)
}

// TestConcurrentMounts: N parallel `loops mount` of distinct ext4 images,
// then N parallel `loops umount`: all succeed, no loop device is shared,
// none is left, and every directory loops made is removed.
func TestConcurrentMounts(t *testing.T) {
	requireRoot(t)
	n := count(8, 32)
	dir := blocklooptest.Dir(t)
	src, sums := blocklooptest.Tree(t, dir)
	imgs := make([]string, n)
	for i := range n { // distinct filesystems (own UUIDs and labels), not copies
		imgs[i] = blocklooptest.Ext4(t, filepath.Join(dir, fmt.Sprintf("i%02d.img", i)), fmt.Sprintf("stress%02d", i), src, 8<<20)
	}
	if err := os.Mkdir(filepath.Join(dir, "mnt"), 0o755); err != nil {
		t.Fatal(err)
	}
	mps := make([]string, n)
	devs := make([]string, n)
	results := make([]result, n)
	took := parallel(n, func(i int) {
		mps[i] = filepath.Join(dir, "mnt", fmt.Sprintf("m%02d", i))
		results[i] = loops(t, nil, "mount", "--json", imgs[i], mps[i])
	})
	t.Logf("%d parallel mounts took %v", n, took.Round(time.Millisecond))
	for i, r := range results {
		if r.code != 0 {
			t.Errorf("mount %d: %v", i, r)
			continue
		}
		var doc struct{ Device, Mountpoint string }
		if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
			t.Errorf("mount %d --json: %v\n%s", i, err, r.stdout)
			continue
		}
		devs[i] = doc.Device
		if doc.Mountpoint != mps[i] {
			t.Errorf("mount %d at %s, want %s", i, doc.Mountpoint, mps[i])
		}
	}
	seen := map[string]int{}
	for i, d := range devs {
		if d == "" {
			continue
		}
		if j, ok := seen[d]; ok {
			t.Errorf("%s serves both %s and %s", d, imgs[j], imgs[i])
		}
		seen[d] = i
	}
	if got := len(blocklooptest.MountsUnder(filepath.Join(dir, "mnt"))); got != n {
		t.Errorf("%d mounts under the test dir, want %d", got, n)
	}
	for i := range min(n, 4) {
		blocklooptest.CheckTree(t, mps[i], sums)
	}
	list := mustLoops(t, nil, "block", "list", "--json")
	var doc struct {
		Loopdevices []struct {
			Name        string   `json:"name"`
			BackFile    string   `json:"back-file"`
			Mountpoints []string `json:"mountpoints"`
		} `json:"loopdevices"`
	}
	if err := json.Unmarshal([]byte(list.stdout), &doc); err != nil {
		t.Fatal(err)
	}
	listed := 0
	for _, d := range doc.Loopdevices {
		if strings.HasPrefix(d.BackFile, dir) {
			listed++
			if len(d.Mountpoints) != 1 {
				t.Errorf("%s (%s) mounted at %v", d.Name, d.BackFile, d.Mountpoints)
			}
		}
	}
	if listed != n {
		t.Errorf("loops block list shows %d devices of the test, want %d", listed, n)
	}

	took = parallel(n, func(i int) { results[i] = loops(t, nil, "umount", mps[i]) })
	t.Logf("%d parallel umounts took %v", n, took.Round(time.Millisecond))
	for i, r := range results {
		if r.code != 0 {
			t.Errorf("umount %d: %v", i, r)
		} else if !strings.Contains(r.stderr, "detached") || !strings.Contains(r.stderr, "directory removed") {
			t.Errorf("umount %d: %s", i, r.stderr)
		}
	}
	if ents := listDir(t, filepath.Join(dir, "mnt")); len(ents) > 0 {
		t.Errorf("mount points left: %v", ents)
	}
	noLeftovers(t, dir)
}

// hostsOriginal is a hosts file with the shapes loops must keep byte for
// byte: comments, tabs, odd spacing, upper case, an invalid line, no
// loops marks.
const hostsOriginal = "# /etc/hosts of a stress test\n" +
	"127.0.0.1\tlocalhost\n" +
	"::1     localhost ip6-localhost ip6-loopback\n" +
	"127.0.1.1   Stress-Host.example   stress-host   # the hostname\n" +
	"\n" +
	"   # an indented comment\n" +
	"10.0.0.1 Router.LAN\n" +
	"this line is not valid\n" +
	"ff02::1 ip6-allnodes\n"

// TestConcurrentHostsAdd: N parallel `loops net hosts add` of distinct names
// on one file: every name is there, every original line unchanged; then N
// parallel removes give the original file back byte for byte.
func TestConcurrentHostsAdd(t *testing.T) {
	n := count(16, 32)
	dir := blocklooptest.Dir(t)
	hosts := filepath.Join(dir, "hosts")
	writeFile(t, hosts, []byte(hostsOriginal), 0o644)
	names := make([]string, n)
	results := make([]result, n)
	for i := range n {
		names[i] = fmt.Sprintf("stress%02d.localhost", i)
	}
	took := parallel(n, func(i int) {
		addr := fmt.Sprintf("127.0.0.%d", 2+i%3)
		results[i] = loops(t, nil, "net", "hosts", "add", names[i], addr, "--hosts-file", hosts)
	})
	t.Logf("%d parallel hosts adds took %v", n, took.Round(time.Millisecond))
	for i, r := range results {
		if r.code != 0 {
			t.Errorf("add %s: %v", names[i], r)
		}
	}
	got, err := os.ReadFile(hosts)
	if err != nil {
		t.Fatal(err)
	}
	var kept, added []string
	for _, l := range strings.SplitAfter(string(got), "\n") {
		if strings.HasSuffix(strings.TrimRight(l, "\n"), "# added by loops") {
			added = append(added, l)
		} else {
			kept = append(kept, l)
		}
	}
	if strings.Join(kept, "") != hostsOriginal {
		t.Errorf("original lines changed:\n%s\nwant:\n%s", strings.Join(kept, ""), hostsOriginal)
	}
	if !bytes.HasPrefix(got, []byte(hostsOriginal)) {
		t.Logf("note: loops did not append at the end:\n%s", got)
	}
	list := mustLoops(t, nil, "net", "hosts", "list", "--hosts-file", hosts)
	for _, name := range names {
		c := 0
		for _, l := range strings.Split(string(got), "\n") {
			for _, f := range strings.Fields(l) {
				if f == name {
					c++
				}
			}
		}
		if c != 1 {
			t.Errorf("%s appears %d times in the file:\n%s", name, c, got)
		}
		if !strings.Contains(list.stdout, name) {
			t.Errorf("loops net hosts list lacks %s", name)
		}
	}
	if len(added) > n {
		t.Errorf("%d lines added for %d names", len(added), n)
	}
	took = parallel(n, func(i int) {
		results[i] = loops(t, nil, "net", "hosts", "remove", names[i], "--hosts-file", hosts)
	})
	t.Logf("%d parallel hosts removes took %v", n, took.Round(time.Millisecond))
	for i, r := range results {
		if r.code != 0 {
			t.Errorf("remove %s: %v", names[i], r)
		}
	}
	if got, _ := os.ReadFile(hosts); string(got) != hostsOriginal {
		t.Errorf("after removing every name the file is\n%q\nwant\n%q", got, hostsOriginal)
	}
	if tmps, _ := filepath.Glob(filepath.Join(dir, ".hosts*")); len(tmps) > 0 {
		t.Errorf("temp files left: %v", tmps)
	}
}

// modules lists the server's modules as sorted "index name args" lines.
func modules(t testing.TB, s *audiolooptest.Server) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s.Pactl(t, "list", "short", "modules")), "\n") {
		out = append(out, strings.TrimSpace(l))
	}
	sort.Strings(out)
	return out
}

// TestAudioCycles: N `loops audio on`/`off` cycles against a private
// PulseAudio, some of them concurrent (several pairs at once, and two `on`
// of the same pair at once): every command succeeds, a pair never has two
// loopbacks after the commands settle, and the server ends with exactly the
// modules it started with.
func TestAudioCycles(t *testing.T) {
	n := count(20, 200)
	s := audiolooptest.Start(t, audiolooptest.PulseAudio,
		audiolooptest.Sink{Name: "a", Description: "Stress A"}, audiolooptest.Sink{Name: "b", Description: "Stress B"},
		audiolooptest.Sink{Name: "c", Description: "Stress C"})
	env := s.Env()
	before := modules(t, s)
	pairs := [][2]string{{"a.monitor", "b"}, {"b.monitor", "c"}, {"c.monitor", "a"}}
	on := func(p [2]string) result {
		return loops(t, env, "audio", "on", "--source", p[0], "--sink", p[1], "--timeout", "5s")
	}
	off := func() result { return loops(t, env, "audio", "off", "--timeout", "5s") }
	start := time.Now()
	var dups []string
	for i := 0; i < n; i++ {
		switch i % 4 {
		case 0, 1: // sequential on, on again (idempotent), off
			p := pairs[i%len(pairs)]
			for _, r := range []result{on(p), on(p), off()} {
				if r.code != 0 {
					t.Errorf("cycle %d: %v", i, r)
				}
			}
		case 2: // three pairs on at once, then off
			rs := make([]result, len(pairs))
			parallel(len(pairs), func(j int) { rs[j] = on(pairs[j]) })
			for _, r := range rs {
				if r.code != 0 {
					t.Errorf("cycle %d: %v", i, r)
				}
			}
			if got := countLoopbacks(t, s); got != len(pairs) {
				t.Errorf("cycle %d: %d loopbacks after %d parallel ons of distinct pairs", i, got, len(pairs))
			}
			if r := off(); r.code != 0 {
				t.Errorf("cycle %d: %v", i, r)
			}
		case 3: // the same pair twice at once, with an off racing them
			rs := make([]result, 3)
			parallel(3, func(j int) {
				if j < 2 {
					rs[j] = on(pairs[0])
				} else {
					rs[j] = off()
				}
			})
			for _, r := range rs {
				if r.code != 0 {
					t.Errorf("cycle %d: %v", i, r)
				}
			}
			if got := countLoopbacks(t, s); got > 1 {
				dups = append(dups, fmt.Sprintf("cycle %d: %d", i, got))
			}
			if r := off(); r.code != 0 {
				t.Errorf("cycle %d: %v", i, r)
			}
		}
	}
	t.Logf("%d on/off cycles took %v", n, time.Since(start).Round(time.Millisecond))
	if len(dups) > 0 {
		t.Errorf("two concurrent `on` of one pair left duplicate loopbacks (%d of %d racing cycles): %v", len(dups), n/4, dups)
	}
	if after := modules(t, s); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("modules after the cycles:\n%s\nbefore:\n%s", strings.Join(after, "\n"), strings.Join(before, "\n"))
	}
}

func countLoopbacks(t testing.TB, s *audiolooptest.Server) int {
	t.Helper()
	n := 0
	for _, m := range modules(t, s) {
		if strings.Contains(m, "module-loopback") {
			n++
		}
	}
	return n
}
