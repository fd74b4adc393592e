package md

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/loops-cli/loops/blockloop/layer/md/mdtest"
	"github.com/loops-cli/loops/internal/testkit"
)

// FuzzOpen opens data as an md member and reads a little of its array.
// The seeds are members built as mdadm lays them out (build_test.go),
// checked by `mdadm --examine` in TestRAID1Versions. Run with
//
//	go test -run '^$' -fuzz FuzzOpen -fuzztime 30s ./blockloop/layer/md/
func FuzzOpen(f *testing.F) {
	const size = 128 << 10
	for _, s := range []mdtest.Spec{
		{Level: 1, Disks: 2, Name: "h:r", SuperAt: 4096, DataOff: 8192, Used: 64 << 10},
		{Level: 1, Disks: 2, SuperAt: 0, DataOff: 8192, Used: 64 << 10},
		{Level: 1, Disks: 2, SuperAt: mdtest.Super1EndOffset(size), Used: 64 << 10},
		{Level: 5, Disks: 3, SuperAt: 4096, DataOff: 8192, Used: 64 << 10},
	} {
		m := make([]byte, size)
		mdtest.Super1(m, s)
		f.Add(m)
	}
	m := make([]byte, size)
	mdtest.Super0(m, 1, 2, 32, false)
	f.Add(m)
	f.Fuzz(func(t *testing.T, data []byte) {
		defer testkit.Watchdog(t, 5*time.Second)()
		mem, err := Open(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		_ = mem.Info()
		d, err := mem.Data()
		if err != nil {
			return
		}
		buf := make([]byte, 4096)
		for _, off := range []int64{0, d.Size() / 2, d.Size() - 1} {
			if off < 0 {
				continue
			}
			if _, err := d.ReadAt(buf, off); err != nil && err != io.EOF {
				t.Fatalf("at %d: %v", off, err)
			}
		}
	})
}
