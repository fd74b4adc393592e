package netloop

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
)

// newline returns the line ending loops writes after lines[:n]: that of
// the first line when it has one, else "\n".
func (f *HostsFile) newline(n int) string {
	if n > 0 && f.lines[0].term == 2 {
		return "\r\n"
	}
	return "\n"
}

// Add maps name to the loopback address addr, like appending
// "ADDR<TAB>NAME<TAB># added by loops" to /etc/hosts by hand. It reports
// false, and changes nothing, when name already maps to addr. A file without
// a final newline gets one before the new line, and the new line goes
// without one, so that Remove can give back the exact original bytes.
// Writing the result needs write access to the file (root for /etc/hosts).
func (f *HostsFile) Add(name string, addr netip.Addr) (changed bool, err error) {
	addr = addr.Unmap()
	op := "add " + displayName(name) + " " + addr.String()
	if err := ValidHostname(name); err != nil {
		return false, &HostsError{Op: op, Err: err}
	}
	if !IsLoopback(addr) {
		return false, &HostsError{Op: op, Err: ErrNotLoopback}
	}
	for i := range f.lines {
		if l := &f.lines[i]; l.addr == addr && l.matches(name) > 0 {
			return false, nil
		}
	}
	text := addr.String() + "\t" + name + "\t" + HostsMarker
	n := len(f.lines)
	if n > 0 && f.lines[n-1].term == 0 {
		prev := &f.lines[n-1]
		raw := append(slices.Clip(prev.raw), f.newline(n-1)...)
		*prev = parseLine(slices.Clip(raw))
		f.lines = append(f.lines, parseLine([]byte(text)))
	} else {
		f.lines = append(f.lines, parseLine([]byte(text+f.newline(n))))
	}
	return true, nil
}

// Remove deletes name from the file, like deleting it from /etc/hosts by
// hand: lines loops added for it go entirely; on other lines only the name
// goes, and the other names, comment and spacing stay byte for byte. It
// refuses (ErrForeignEntry, nothing changed) when name is the only name on
// a line loops did not add, and returns ErrNameNotFound when no line has it.
// Writing the result needs write access to the file (root for /etc/hosts).
func (f *HostsFile) Remove(name string) (changed bool, err error) {
	return f.remove(name, false)
}

// RemoveForce is Remove that also deletes lines loops did not add when name
// is their only name.
func (f *HostsFile) RemoveForce(name string) (changed bool, err error) {
	return f.remove(name, true)
}

func (f *HostsFile) remove(name string, force bool) (bool, error) {
	op := "remove " + displayName(name)
	found := false
	for i := range f.lines {
		l := &f.lines[i]
		k := l.matches(name)
		if k == 0 {
			continue
		}
		found = true
		if k == len(l.names) && !l.byLoops && !force {
			return false, &HostsError{Op: op, Err: fmt.Errorf("line %d %q: %w",
				i+1, l.raw[:len(l.raw)-l.term], ErrForeignEntry)}
		}
	}
	if !found {
		return false, &HostsError{Op: op, Err: ErrNameNotFound}
	}
	for i := len(f.lines) - 1; i >= 0; i-- {
		l := &f.lines[i]
		k := l.matches(name)
		switch {
		case k == 0:
		case k == len(l.names):
			f.deleteLine(i)
		default:
			for l.matches(name) > 0 {
				*l = parseLine(l.withoutFirst(name))
			}
		}
	}
	return true, nil
}

// deleteLine deletes line i. When it was the last line and had no line
// ending, the line before loses its own, undoing what Add did, unless that
// would leave nothing of it (Add never terminates an empty line).
func (f *HostsFile) deleteLine(i int) {
	// Only a line loops added can have come with a line ending loops gave
	// the line before it; a foreign line's neighbours are never touched.
	undoAdd := i == len(f.lines)-1 && f.lines[i].term == 0 && f.lines[i].byLoops
	f.lines = slices.Delete(f.lines, i, i+1)
	if !undoAdd || i == 0 {
		return
	}
	p := &f.lines[i-1]
	nl := f.newline(i - 1)
	if !bytes.HasSuffix(p.raw, []byte(nl)) {
		return
	}
	raw := slices.Clip(p.raw[:len(p.raw)-len(nl)])
	// Strip it only if what stays is that same line, unterminated: "x\r"
	// without its "\n" would read as a line of its own ending.
	if pl := parseLine(raw); len(raw) > 0 && pl.term == 0 {
		*p = pl
	}
}

// withoutFirst returns l's bytes without the first name matching name and
// the blanks before it (after it, for the first name), so the rest of the
// line stays as it was. l must have another name.
func (l *hostsLine) withoutFirst(name string) []byte {
	for j := range l.names {
		if !equalFoldASCII(l.raw[l.names[j][0]:l.names[j][1]], name) {
			continue
		}
		from, to := l.names[j][0], l.names[j][1]
		if j > 0 {
			from = l.names[j-1][1]
		} else {
			to = l.names[1][0]
		}
		out := make([]byte, 0, len(l.raw)-(to-from))
		out = append(out, l.raw[:from]...)
		return append(out, l.raw[to:]...)
	}
	return l.raw
}

// ValidHostname checks a name loops will write to a hosts file: 1 to 253
// bytes of letters, digits, '-', '_' and '.', in non-empty labels of at most
// 63 bytes that neither start nor end with '-', and not an IP address. The
// error wraps ErrInvalidHostname and names the name.
func ValidHostname(name string) error {
	bad := func(why string) error { return fmt.Errorf("%w %s: %s", ErrInvalidHostname, displayName(name), why) }
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrInvalidHostname)
	case len(name) > 253:
		return bad("longer than 253 bytes")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f':
			return bad("contains whitespace")
		case c == '#':
			return bad("contains '#', which starts a comment")
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.':
		default:
			return bad(fmt.Sprintf("contains %q (only letters, digits, '-', '_' and '.')", c))
		}
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return bad("is an IP address")
	}
	for label := range bytes.SplitSeq([]byte(name), []byte(".")) {
		switch {
		case len(label) == 0:
			return bad("empty label (leading, trailing or double '.')")
		case len(label) > 63:
			return bad("label longer than 63 bytes")
		case label[0] == '-' || label[len(label)-1] == '-':
			return bad("label starts or ends with '-'")
		}
	}
	return nil
}

// displayName returns name as is when it prints plainly, else quoted.
func displayName(name string) string {
	if name == "" {
		return `""`
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return strconv.Quote(name)
		}
	}
	return name
}
