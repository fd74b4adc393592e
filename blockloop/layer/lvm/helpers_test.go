package lvm

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/loops-cli/loops/blockloop/blocklooptest"
	"github.com/loops-cli/loops/blockloop/disk/disktest"
	"github.com/loops-cli/loops/blockloop/layer/lvm/lvmtest"
)

func TestMain(m *testing.M) { os.Exit(blocklooptest.Main(m)) }

// newLVM is the test's own lvm2 (lvmtest.Env).
func newLVM(t testing.TB) *lvmtest.Env { return lvmtest.New(t) }

func num(t testing.TB, s string) int64 { return lvmtest.Num(t, s) }

// source reads a PV image file as a PVSource.
func source(t testing.TB, path string) PVSource {
	t.Helper()
	r, n, err := disktest.OpenRaw(t, path)
	if err != nil {
		t.Fatal(err)
	}
	return PVSource{Name: filepath.Base(path), R: r, Size: n}
}

// rawLocnOf is the first raw location of the metadata area at off.
func rawLocnOf(b []byte, off int) (loc, size uint64) {
	return binary.LittleEndian.Uint64(b[off+40:]), binary.LittleEndian.Uint64(b[off+48:])
}
