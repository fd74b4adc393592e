package kernfile

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Mount is one line of /proc/self/mountinfo, unescaped.
type Mount struct {
	ID         int
	Major      uint32
	Minor      uint32
	Root       string
	Mountpoint string
	Options    string // per-mount options (ro, nosuid…)
	FSType     string
	Source     string
	SuperOpts  string
}

// ReadOnly reports whether the mount is read-only.
func (m Mount) ReadOnly() bool {
	for _, o := range strings.Split(m.Options, ",") {
		if o == "ro" {
			return true
		}
	}
	return false
}

// Mountinfo reads and parses a mountinfo file: /proc/self/mountinfo, or
// /proc/PID/mountinfo for another mount namespace.
func Mountinfo(path string) ([]Mount, error) {
	b, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseMountinfo(b)
}

// ParseMountinfo parses the format of /proc/self/mountinfo (proc(5)),
// undoing the octal escapes (\040 for a space, \011, \012, \134).
func ParseMountinfo(b []byte) ([]Mount, error) {
	var out []Mount
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if len(f) < 7 || sep < 0 || len(f) < sep+3 {
			return nil, fmt.Errorf("mountinfo line %d: malformed: %q", n, line)
		}
		id, err := strconv.Atoi(f[0])
		if err != nil {
			return nil, fmt.Errorf("mountinfo line %d: bad mount id %q", n, f[0])
		}
		maj, min, ok := strings.Cut(f[2], ":")
		ma, err1 := strconv.ParseUint(maj, 10, 32)
		mi, err2 := strconv.ParseUint(min, 10, 32)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("mountinfo line %d: bad device %q", n, f[2])
		}
		e := Mount{
			ID: id, Major: uint32(ma), Minor: uint32(mi),
			Root: unescapeOctal(f[3]), Mountpoint: unescapeOctal(f[4]), Options: f[5],
			FSType: unescapeOctal(f[sep+1]), Source: unescapeOctal(f[sep+2]),
		}
		if len(f) > sep+3 {
			e.SuperOpts = f[sep+3]
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// unescapeOctal undoes the kernel's \ooo escapes in mountinfo fields.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && isOctal(s[i+1:]) {
			v, _ := strconv.ParseUint(s[i+1:i+4], 8, 8)
			b.WriteByte(byte(v))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(s string) bool {
	if len(s) < 3 {
		return false
	}
	for _, c := range s[:3] {
		if c < '0' || c > '7' {
			return false
		}
	}
	return s[0] <= '3'
}
