package userfs_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/loops-cli/loops/blockloop/udf/udftest"
	"github.com/loops-cli/loops/blockloop/userfs"
	"github.com/loops-cli/loops/internal/testkit"
)

// TestMountUDFBig: through the mount, the 4.5 GiB file of udftest.BigFile
// (holes of both unrecorded types continued in an allocation extent
// descriptor, recorded blocks across 4 GiB, a recorded tail, in a sparse
// 16 MiB image) has its size, and reads its bytes across 4 GiB and at the
// end, zeros in the holes and io.EOF past the end.
func TestMountUDFBig(t *testing.T) {
	testkit.RequireRoot(t)
	b := udftest.BigFile(t)
	s, _ := serve(t, b.Path, userfs.Options{Type: "udf"})
	if m := mountOf(s.Mountpoint); m == nil || m.FSType != "fuse.udf" {
		t.Errorf("mountinfo %+v, want fuse.udf", m)
	}
	p := filepath.Join(s.Mountpoint, filepath.FromSlash(b.Name))
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != b.Size || !st.Mode().IsRegular() {
		t.Errorf("stat: size %d mode %v, want %d, a regular file", st.Size(), st.Mode(), b.Size)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b.Check(t, f)
}
