package udf_test

import (
	"io"
	"os"
	"slices"
	"syscall"
	"testing"

	"github.com/loops-cli/loops/blockloop/udf"
	"github.com/loops-cli/loops/blockloop/udf/udftest"
)

// TestBigFile: a file of 4.5 GiB + 36 bytes in a 16 MiB sparse image (udftest:
// a udfclient file whose entry describes holes of both unrecorded types,
// continued in an allocation extent descriptor, 4 recorded blocks across
// 4 GiB and a recorded tail) has its size and extents, and reads its
// bytes across 4 GiB and at the end, zeros in the holes, io.EOF past the
// end.
func TestBigFile(t *testing.T) {
	b := udftest.BigFile(t)
	fh, err := os.Open(b.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > 16<<20 {
		t.Fatalf("image of %d bytes", st.Size())
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		t.Logf("image: %d bytes, %d KiB on disk", st.Size(), sys.Blocks/2)
	}
	// Every read goes through r, which fails a read past the image.
	f, err := udf.Open(fh, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	e, err := f.Lookup(b.Name)
	if err != nil {
		t.Fatal(err)
	}
	if e.DataErr() != nil {
		t.Fatal(e.DataErr())
	}
	if e.Size != udftest.Size || e.Size != b.Size || e.Size <= 1<<32+1<<29 {
		t.Errorf("size %d, want %d", e.Size, b.Size)
	}
	if !slices.Equal(e.Extents, b.Extents) {
		t.Errorf("extents %+v, want %+v", e.Extents, b.Extents)
	}
	var sum int64
	for _, x := range e.Extents {
		sum += x.Length
		if !x.Zero && x.Offset+x.Length > st.Size() {
			t.Errorf("extent %+v past the image", x)
		}
	}
	if sum != e.Size {
		t.Errorf("extents cover %d bytes of %d", sum, e.Size)
	}
	b.Check(t, e.ReaderAt())
	// The section reader too, across 4 GiB.
	r := e.Open()
	if _, err := r.Seek(1<<32-int64(len(udftest.Before4G)), io.SeekStart); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(udftest.Before4G)+len(udftest.At4G))
	if _, err := io.ReadFull(r, got); err != nil || string(got) != udftest.Before4G+udftest.At4G {
		t.Errorf("across 4 GiB: %q %v", got, err)
	}
}
