package netloop

import (
	"bytes"
	"fmt"
	"net/netip"
)

// HostsMarker is the comment ending each line loops adds to a hosts file.
// Remove deletes whole lines only when they carry it.
const HostsMarker = "# added by loops"

const markerText = "added by loops" // HostsMarker without "# "

// HostsFile is a parsed hosts file (hosts(5)) that keeps every byte it was
// given: Bytes returns the input unchanged until Add or Remove edits it, and
// they touch only the lines they must. The zero value is an empty file.
type HostsFile struct {
	lines []hostsLine
}

// HostsEntry is one line mapping an address to names.
type HostsEntry struct {
	Line    int // 1-based
	Addr    netip.Addr
	Names   []string // as written, case kept
	Comment string   // text after '#', trimmed
	ByLoops bool     // the line carries HostsMarker
}

// InvalidLine is a line the resolver skips: a bad address, or an address
// without names. It is kept as it is.
type InvalidLine struct {
	Line   int    // 1-based
	Text   string // without the line ending
	Reason string
}

type hostsLine struct {
	raw     []byte     // as read, line ending included; never shares a backing array
	term    int        // length of the line ending: 0 (last line without one), 1 "\n", 2 "\r\n"
	addr    netip.Addr // valid on entries
	names   [][2]int   // byte ranges of the names in raw; non-empty on entries
	comment string     // after '#', trimmed
	byLoops bool
	invalid string // why a non-blank line is not an entry
}

// ParseHosts parses a hosts file as glibc reads it: '#' starts a comment
// anywhere, fields are split on blanks, the first is the address (IPv6
// zones allowed) and the others are names. It never fails: invalid lines
// are kept and listed by Invalid.
func ParseHosts(b []byte) *HostsFile {
	b = bytes.Clone(b)
	f := &HostsFile{}
	for len(b) > 0 {
		n := len(b)
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			n = i + 1
		}
		f.lines = append(f.lines, parseLine(b[:n:n]))
		b = b[n:]
	}
	return f
}

// isBlank reports the bytes glibc's isspace accepts inside a line.
func isBlank(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'
}

func trimBlank(b []byte) []byte {
	for len(b) > 0 && isBlank(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isBlank(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func parseLine(raw []byte) hostsLine {
	l := hostsLine{raw: raw}
	n := len(raw)
	if n > 0 && raw[n-1] == '\n' {
		l.term = 1
		if n > 1 && raw[n-2] == '\r' {
			l.term = 2
		}
	}
	data := raw[:n-l.term]
	hasComment := false
	if i := bytes.IndexByte(data, '#'); i >= 0 {
		hasComment = true
		l.comment = string(trimBlank(data[i+1:]))
		data = data[:i]
	}
	var fields [][2]int
	for i := 0; i < len(data); {
		if isBlank(data[i]) {
			i++
			continue
		}
		j := i
		for j < len(data) && !isBlank(data[j]) {
			j++
		}
		fields = append(fields, [2]int{i, j})
		i = j
	}
	if len(fields) == 0 {
		return l
	}
	s := string(data[fields[0][0]:fields[0][1]])
	addr, err := netip.ParseAddr(s)
	if err != nil {
		l.invalid = fmt.Sprintf("%q is not an IP address", s)
		return l
	}
	if len(fields) == 1 {
		l.invalid = "address without a host name"
		return l
	}
	l.addr = addr
	l.names = fields[1:]
	l.byLoops = hasComment && l.comment == markerText
	return l
}

func (l *hostsLine) name(i int) string { return string(l.raw[l.names[i][0]:l.names[i][1]]) }

// matches counts the names of l equal to name, ignoring ASCII case as glibc
// does.
func (l *hostsLine) matches(name string) int {
	n := 0
	for i := range l.names {
		if equalFoldASCII(l.raw[l.names[i][0]:l.names[i][1]], name) {
			n++
		}
	}
	return n
}

func equalFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Bytes returns the file's contents: the parsed input byte for byte, plus
// the edits made since.
func (f *HostsFile) Bytes() []byte {
	var out []byte
	for _, l := range f.lines {
		out = append(out, l.raw...)
	}
	return out
}

// Lookup returns every address name maps to, in file order, comparing names
// without regard to ASCII case as glibc does. Invalid lines are skipped.
func (f *HostsFile) Lookup(name string) []netip.Addr {
	var out []netip.Addr
	for i := range f.lines {
		if f.lines[i].matches(name) > 0 {
			out = append(out, f.lines[i].addr)
		}
	}
	return out
}

// Names returns the names mapped to addr, in file order.
func (f *HostsFile) Names(addr netip.Addr) []string {
	var out []string
	for i := range f.lines {
		l := &f.lines[i]
		if len(l.names) > 0 && l.addr == addr {
			for j := range l.names {
				out = append(out, l.name(j))
			}
		}
	}
	return out
}

// Entries lists the lines that map an address to names.
func (f *HostsFile) Entries() []HostsEntry {
	var out []HostsEntry
	for i := range f.lines {
		l := &f.lines[i]
		if len(l.names) == 0 {
			continue
		}
		e := HostsEntry{Line: i + 1, Addr: l.addr, Comment: l.comment, ByLoops: l.byLoops}
		for j := range l.names {
			e.Names = append(e.Names, l.name(j))
		}
		out = append(out, e)
	}
	return out
}

// Invalid lists the lines the resolver skips.
func (f *HostsFile) Invalid() []InvalidLine {
	var out []InvalidLine
	for i := range f.lines {
		l := &f.lines[i]
		if l.invalid != "" {
			out = append(out, InvalidLine{Line: i + 1, Text: string(l.raw[:len(l.raw)-l.term]), Reason: l.invalid})
		}
	}
	return out
}
