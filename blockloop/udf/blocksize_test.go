package udf

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/loops-cli/loops/blockloop/readkit/readkittest"
	"github.com/loops-cli/loops/internal/testkit"
)

// TestBlockSizesUdfclient reads the 1 KiB and 8 KiB-block images of
// udfclientCases file by file against udfclient's own extraction of them
// (mget), beside TestMkudffs's comparison with the source tree.
func TestBlockSizesUdfclient(t *testing.T) {
	imgs, _ := udfclientImages(t)
	uc := testkit.Tool(t, "udfclient")
	for _, tc := range udfclientCases {
		if tc.bs != 1024 && tc.bs != 8192 {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			img := imgs[tc.name]
			out := t.TempDir()
			cmd := testkit.Command(uc, "-b", itoa(tc.bs), img)
			cmd.Dir = out
			cmd.Stdin = strings.NewReader("cd " + testVol + "\nmget t\nquit\n")
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("udfclient mget: %v\n%s", err, b)
			}
			f := openImage(t, img, Options{})
			if f.BlockSize() != tc.bs || f.Recognition().Stride != max(tc.bs, 2048) || f.Recognition().NSR != 3 {
				t.Errorf("block size %d, recognition %+v", f.BlockSize(), f.Recognition())
			}
			got := walkFS(t, f)
			want := readkittest.HostTree(t, out)
			delete(want, "")
			if len(want) < 10 {
				t.Fatalf("udfclient extracted %d entries", len(want))
			}
			// udfclient extracts a name that is not ASCII as "_#" and a
			// hash ("café.txt" as "caf_#7C41.txt"): the reader's name is
			// the one TestMkudffs checks against the source.
			if w, ok := want["t/caf_#7C41.txt"]; ok {
				delete(want, "t/caf_#7C41.txt")
				want["t/"+latin1("café.txt")] = w
			}
			readkittest.Compare(t, want, got, readkittest.Fields{})
		})
	}
}

// TestLargeBlocks: mkudffs makes volumes with 16 KiB and 32 KiB blocks
// (udfclient cannot write files into them: "No space left on device"),
// whose recognition sequence is at the block size's stride and whose
// anchor is at byte 256 times the block size. They open, with the label
// and an empty root udfclient lists too.
func TestLargeBlocks(t *testing.T) {
	uc := testkit.Tool(t, "udfclient")
	for _, bs := range []int{16384, 32768} {
		t.Run(itoa(bs), func(t *testing.T) {
			img := mkudffs(t, 64<<20, bs, "--media-type=hd")
			f := openImage(t, img, Options{})
			if f.BlockSize() != bs || f.Label() != testLabel || f.Revision() != 0x0201 || f.Recognition().Stride != bs || f.Recognition().NSR != 3 {
				t.Errorf("block size %d label %q revision %#x recognition %+v", f.BlockSize(), f.Label(), f.Revision(), f.Recognition())
			}
			kids, err := f.Root().Entries()
			if err != nil || len(kids) != 0 {
				t.Errorf("root: %v %v", kids, err)
			}
			cmd := testkit.Command(uc, "-b", itoa(bs), img)
			cmd.Dir = filepath.Dir(img)
			cmd.Stdin = strings.NewReader("cd " + testVol + "\nls\nquit\n")
			b, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(b), "Logical volume  `"+testUUID+"LinuxUDF`:`"+testLabel+"`") {
				t.Errorf("udfclient does not see the volume: %v\n%s", err, b)
			}
		})
	}
}
