package userfs_test

import (
	"path/filepath"
	"testing"

	"github.com/loops-cli/loops/blockloop/readkit/readkittest"
	"github.com/loops-cli/loops/blockloop/userfs"
	"github.com/loops-cli/loops/internal/testkit"
)

// TestMountUDF: a UDF bridge image made by genisoimage, served as udf:
// the tree and every file's bytes match the source; the mount is fuse.udf.
func TestMountUDF(t *testing.T) {
	testkit.RequireRoot(t)
	src := fatTree(t)
	img := filepath.Join(t.TempDir(), "bridge.iso")
	testkit.Run(t, testkit.Tool(t, "genisoimage"), "-quiet", "-input-charset", "utf-8", "-udf", "-V", "UDFTEST", "-o", img, src)
	s, _ := serve(t, img, userfs.Options{Type: "udf"})
	if m := mountOf(s.Mountpoint); m == nil || m.FSType != "fuse.udf" {
		t.Errorf("mountinfo %+v, want fuse.udf", m)
	}
	if s.Tree.Label != "UDFTEST" {
		t.Errorf("label %q", s.Tree.Label)
	}
	readkittest.Compare(t, readkittest.HostTree(t, src), readkittest.HostTree(t, s.Mountpoint), readkittest.Fields{})
}
