package vhdx

import (
	"errors"
	"io"
	"os"
	"testing"

	"github.com/loops-cli/loops/blockloop/disk/disktest"
	"github.com/loops-cli/loops/internal/testkit"
)

// The helpers the tests share with the other readers' are in disktest.

func TestMain(m *testing.M) { os.Exit(testkit.Main(m, nil)) }

// openFile opens an image file, the files it refers to relative to it.
func openFile(t testing.TB, path string) *Image {
	t.Helper()
	return disktest.OpenFile(t, path, func(r io.ReaderAt, size int64, other disktest.Opener) (*Image, error) {
		return Open(r, size, Options{Open: other})
	})
}

func isFormat(err error) bool {
	var fe *FormatError
	var le *LimitError
	return errors.As(err, &fe) || errors.As(err, &le)
}
