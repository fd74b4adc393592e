package ntfs

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/loops-cli/loops/blockloop/ntfs/ntfstest"
	"github.com/loops-cli/loops/internal/testkit"
)

// imageCase is one mkntfs layout the reader is checked on.
type imageCase struct {
	name string
	size int64
	many bool // the 2,000 small files and the 3,000-entry directory
	args []string
}

var imageCases = []imageCase{
	{"rich-4k", 512 << 20, true, nil},
	{"c512", 256 << 20, false, []string{"-c", "512"}},
	{"c4096-s4096", 256 << 20, false, []string{"-c", "4096", "-s", "4096"}},
	{"c64k", 512 << 20, false, []string{"-c", "65536"}},
}

// fixtures are the images of imageCases, made once per package run (in
// parallel) and removed by TestMain.
var fixtures struct {
	once sync.Once
	dir  string
	imgs map[string]string
	err  error
}

func images(t testing.TB) map[string]string {
	t.Helper()
	testkit.RequireRoot(t)
	testkit.Tool(t, "mkntfs")
	testkit.Tool(t, "ntfs-3g")
	fixtures.once.Do(func() {
		fixtures.dir, fixtures.err = os.MkdirTemp("", "ntfs-fixtures-")
		if fixtures.err != nil {
			return
		}
		fixtures.imgs = map[string]string{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, c := range imageCases {
			img := filepath.Join(fixtures.dir, c.name+".img")
			fixtures.imgs[c.name] = img
			wg.Go(func() {
				err := ntfstest.Build(img, c.size, "LBL-"+c.name, c.many, c.args...)
				mu.Lock()
				defer mu.Unlock()
				if err != nil && fixtures.err == nil {
					fixtures.err = err
				}
			})
		}
		wg.Wait()
	})
	if fixtures.err != nil {
		t.Fatal(fixtures.err)
	}
	return fixtures.imgs
}

func TestMain(m *testing.M) {
	code := testkit.Main(m, nil)
	if fixtures.dir != "" {
		os.RemoveAll(fixtures.dir)
	}
	os.Exit(code)
}

// openImage opens img with the reader (MountPoint mp), closed at cleanup.
func openImage(t testing.TB, img, mp string) *FS {
	t.Helper()
	r, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	st, _ := r.Stat()
	f, err := OpenOptions(r, st.Size(), Options{MountPoint: mp})
	if err != nil {
		t.Fatalf("open %s: %v", img, err)
	}
	return f
}

// walk lists the reader's tree as ntfstest.Infos, reading every file.
func walk(t testing.TB, f *FS) map[string]ntfstest.Info {
	t.Helper()
	out := map[string]ntfstest.Info{}
	var rec func(e *Entry, p string)
	rec = func(e *Entry, p string) {
		kids, err := e.Entries()
		if err != nil {
			t.Errorf("%s: %v", p, err)
			return
		}
		for _, k := range kids {
			q := p + k.Name
			i := ntfstest.Info{Mtime: k.ModTime, Ino: k.Ino}
			switch {
			case k.IsDir():
				i.Type = 'd'
				rec(k, q+"/")
			case k.IsSymlink():
				i.Type, i.Target, i.Size = 'l', k.Target, k.Size
			default:
				i.Type, i.Size, i.Nlink = 'f', k.Size, k.Nlink
				if k.DataErr() != nil {
					i.Err = k.DataErr().Error()
				} else if i.Sum, err = ntfstest.Sum(k.ReaderAt(), k.Size); err != nil {
					i.Err = err.Error()
				}
			}
			if !k.IsSymlink() {
				for _, s := range k.Streams {
					r, n, err := k.Stream(s)
					if err != nil {
						t.Errorf("%s: stream %s: %v", q, s, err)
						continue
					}
					b := make([]byte, n)
					if _, err := r.ReadAt(b, 0); err != nil && n > 0 {
						t.Errorf("%s: stream %s: %v", q, s, err)
					}
					if i.Xattrs == nil {
						i.Xattrs = map[string]string{}
					}
					i.Xattrs["user."+s] = ntfstest.XattrSum(b)
				}
			}
			out[q] = i
		}
	}
	rec(f.Root(), "")
	return out
}
