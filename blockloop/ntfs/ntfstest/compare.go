package ntfstest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Info is what the comparison checks of one file, directory or symlink.
type Info struct {
	Type   byte // 'd', 'f', 'l'
	Size   int64
	Sum    string // of the data (sampled for files over 64 MiB)
	Target string
	Mtime  time.Time
	Ino    uint64
	Nlink  uint32
	Xattrs map[string]string // user.* name -> sha256 of the value
	Err    string            // why the data could not be read
}

func (i Info) String() string {
	return fmt.Sprintf("%c size=%d sum=%.12s target=%q mtime=%s ino=%d nlink=%d xattrs=%v err=%q",
		i.Type, i.Size, i.Sum, i.Target, i.Mtime.UTC().Format(time.RFC3339Nano), i.Ino, i.Nlink, i.Xattrs, i.Err)
}

// bigFile is the size over which a file's data is sampled, not read whole.
const bigFile = 64 << 20

// Sum hashes r's size bytes: all of them, or for a big file 1 MiB
// windows at 17 evenly spaced offsets and at every 512 MiB step.
func Sum(r io.ReaderAt, size int64) (string, error) {
	h := sha256.New()
	if size <= bigFile {
		if _, err := io.Copy(h, io.NewSectionReader(r, 0, size)); err != nil {
			return "", err
		}
		return hex.EncodeToString(h.Sum(nil)), nil
	}
	var offs []int64
	for k := int64(0); k <= 16; k++ {
		offs = append(offs, min(k*(size/16), size-1<<20))
	}
	for o := int64(512 << 20); o < size; o += 512 << 20 {
		offs = append(offs, min(o, size-1<<20), min(o+12345-(1<<19), size-1<<20))
	}
	buf := make([]byte, 1<<20)
	for _, o := range offs {
		if _, err := r.ReadAt(buf, o); err != nil && err != io.EOF {
			return "", err
		}
		h.Write(buf)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// WalkDir lists the tree at root (a mount) as Infos by slash path.
func WalkDir(root string) (map[string]Info, error) {
	out := map[string]Info{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			return err
		}
		i := Info{Mtime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec), Ino: st.Ino}
		switch st.Mode & syscall.S_IFMT {
		case syscall.S_IFDIR:
			i.Type = 'd'
		case syscall.S_IFLNK:
			i.Type = 'l'
			i.Target, err = os.Readlink(p)
			i.Size = st.Size
			if err != nil {
				return err
			}
		default:
			i.Type, i.Size, i.Nlink = 'f', st.Size, uint32(st.Nlink)
			f, err := os.Open(p)
			if err != nil {
				i.Err = err.Error()
				break
			}
			i.Sum, err = Sum(f, st.Size)
			f.Close()
			if err != nil {
				i.Err = err.Error()
			}
		}
		if i.Type != 'l' {
			i.Xattrs, err = userXattrs(p)
			if err != nil {
				return err
			}
		}
		out[filepath.ToSlash(rel)] = i
		return nil
	})
	return out, err
}

// userXattrs are the user.* extended attributes of p, hashed.
func userXattrs(p string) (map[string]string, error) {
	buf := make([]byte, 64<<10)
	n, err := unix.Llistxattr(p, buf)
	if err != nil {
		return nil, err
	}
	var out map[string]string
	for _, name := range strings.Split(string(buf[:n]), "\x00") {
		if !strings.HasPrefix(name, "user.") {
			continue
		}
		v := make([]byte, 1<<20)
		m, err := unix.Lgetxattr(p, name, v)
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = map[string]string{}
		}
		out[name] = XattrSum(v[:m])
	}
	return out, nil
}

// XattrSum is how an xattr value is compared.
func XattrSum(v []byte) string {
	s := sha256.Sum256(v)
	return hex.EncodeToString(s[:8])
}

// Diff lists the differences between want (the reference) and got, one
// line each, sorted; mtimes compared to the second when coarse.
func Diff(want, got map[string]Info, coarse bool) []string {
	var out []string
	for p, w := range want {
		g, ok := got[p]
		if !ok {
			out = append(out, "missing "+p+": "+w.String())
			continue
		}
		if w.Type == 'd' {
			w.Size, g.Size, w.Nlink, g.Nlink = 0, 0, 0, 0
		}
		if coarse {
			w.Mtime, g.Mtime = w.Mtime.Truncate(time.Second), g.Mtime.Truncate(time.Second)
		}
		if w.String() != g.String() {
			out = append(out, fmt.Sprintf("%s:\n  want %s\n  got  %s", p, w, g))
		}
	}
	for p, g := range got {
		if _, ok := want[p]; !ok {
			out = append(out, "extra "+p+": "+g.String())
		}
	}
	sort.Strings(out)
	return out
}
