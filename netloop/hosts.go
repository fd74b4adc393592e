package netloop

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"
)

// HostsMarker is the comment ending each line loops adds to a hosts file.
// Remove deletes whole lines only when they carry it.
const HostsMarker = "# added by loops"

const markerText = "added by loops" // HostsMarker without "# "

// HostsLockFile is the lock EditHostsFile holds while it edits /etc/hosts,
// so that loops instances take turns. Other hosts files get a lock named
// after a hash of their path in os.TempDir(), never a file beside them.
const HostsLockFile = "/run/lock/loops-hosts.lock"

// ErrNameNotFound means no entry of the hosts file has the name.
var ErrNameNotFound = errors.New("name not in hosts file")

// ErrForeignEntry means removing a name would delete a whole line that loops
// did not add; RemoveForce deletes it anyway.
var ErrForeignEntry = errors.New("the only name on a line loops did not add (force deletes the line)")

// ErrInvalidHostname means a host name loops will not write: empty, longer
// than 253 bytes, or with characters outside letters, digits, '-', '_', '.'.
var ErrInvalidHostname = errors.New("invalid host name")

// ErrHostsChanged means another program kept changing the hosts file while
// EditHostsFile was editing it.
var ErrHostsChanged = errors.New("file changed by another program during the edit")

// HostsError reports a failed hosts-file operation. Err keeps the cause, so
// errors.Is(err, fs.ErrPermission), errors.Is(err, unix.EACCES) and
// errors.Is(err, ErrNotLoopback) work.
type HostsError struct {
	Op   string // "add example.test 127.0.0.1", "create temp file"
	Path string // the file, when known
	Err  error
}

func (e *HostsError) Error() string {
	p := e.Path
	if p == "" {
		p = "hosts file"
	}
	return p + ": " + e.Op + ": " + e.Err.Error()
}

func (e *HostsError) Unwrap() error { return e.Err }

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

// ReadHostsFile reads and parses a hosts file such as /etc/hosts, which
// anyone may read.
func ReadHostsFile(path string) (*HostsFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fileErr("read", path, err)
	}
	return ParseHosts(b), nil
}

// EditHostsFile safely applies edit to the hosts file at path, the careful
// version of editing /etc/hosts by hand. It needs write access to the file
// and its directory (root for /etc/hosts); permission errors keep their
// errno, so errors.Is(err, fs.ErrPermission) works.
//
// Holding an exclusive flock on a lock file (HostsLockFile for /etc/hosts;
// other files get one in os.TempDir() named after a hash of their path), it
// reads the file (the target, when path is a symlink), calls edit, and
// writes only when edit changed the bytes. Writing goes to a temp file in the
// same directory with the old file's mode, owner and SELinux label, synced
// and renamed over the file, then the directory is synced. When the rename
// fails with EBUSY or EXDEV (a bind-mounted /etc/hosts in Docker or
// Kubernetes), or when a caller that is not root cannot give the temp file
// the old owner or label, it writes the file in place instead and reads it
// back to check. It
// never leaves a temp file behind. When another program changes the file
// during the edit, edit is called again on the new contents (at most three
// times). edit must not call EditHostsFile on the same file.
func EditHostsFile(path string, edit func(*HostsFile) (bool, error)) (changed bool, err error) {
	target, err := filepath.EvalSymlinks(path)
	if err == nil {
		target, err = filepath.Abs(target)
	}
	if err != nil {
		return false, fileErr("resolve", path, err)
	}
	unlock, err := lockHosts(target)
	if err != nil {
		return false, err
	}
	defer unlock()
	for attempt := 1; ; attempt++ {
		old, meta, err := readForEdit(target)
		if err != nil {
			return false, err
		}
		f := ParseHosts(old)
		changed, err := edit(f)
		if err != nil {
			if he, ok := errors.AsType[*HostsError](err); ok && he.Path == "" {
				he.Path = target
			}
			return false, err
		}
		if !changed {
			return false, nil
		}
		data := f.Bytes()
		if bytes.Equal(data, old) {
			return false, nil
		}
		err = writeHosts(target, old, data, meta)
		if errors.Is(err, ErrHostsChanged) && attempt < 3 {
			continue
		}
		if err != nil {
			return false, err
		}
		return true, nil
	}
}

type fileMeta struct {
	mode     uint32 // permission bits, with setuid, setgid and sticky
	uid, gid int
	label    []byte // security.selinux, nil when absent
}

const selinuxXattr = "security.selinux"

func readForEdit(path string) ([]byte, fileMeta, error) {
	var m fileMeta
	f, err := os.Open(path)
	if err != nil {
		return nil, m, fileErr("read", path, err)
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, m, fileErr("stat", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, m, &HostsError{Op: "edit", Path: path, Err: errors.New("not a regular file")}
	}
	m.mode, m.uid, m.gid = st.Mode&0o7777, int(st.Uid), int(st.Gid)
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, m, fileErr("read", path, err)
	}
	m.label, err = getXattr(int(f.Fd()), selinuxXattr)
	if err != nil {
		return nil, m, fileErr("read SELinux label", path, err)
	}
	return b, m, nil
}

// getXattr returns the value of attribute name, or nil when the file or the
// file system has none.
func getXattr(fd int, name string) ([]byte, error) {
	for {
		n, err := unix.Fgetxattr(fd, name, nil)
		if err == unix.ENODATA || err == unix.ENOTSUP {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		buf := make([]byte, n)
		n, err = unix.Fgetxattr(fd, name, buf)
		if err == unix.ERANGE {
			continue // it grew meanwhile
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}

func writeHosts(path string, old, data []byte, m fileMeta) (err error) {
	dir, base := filepath.Split(path)
	tmp, err := os.CreateTemp(dir, "."+base+".loops-*.tmp")
	if err != nil {
		return fileErr("create temp file", path, err)
	}
	tmpName := tmp.Name()
	defer func() {
		if tmp != nil {
			tmp.Close()
			os.Remove(tmpName)
		}
	}()
	// A caller that is not root may be unable to give the temp file the
	// old owner or label. Renaming it would change them: write in place
	// instead, which keeps them (as vim's backupcopy=auto does).
	inPlace := func() error {
		tmp.Close()
		os.Remove(tmpName)
		tmp = nil
		return writeInPlace(path, old, data)
	}
	denied := func(err error) bool {
		return os.Geteuid() != 0 && (errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES))
	}
	fd := int(tmp.Fd())
	if err := unix.Fchown(fd, m.uid, m.gid); err != nil {
		if denied(err) {
			return inPlace()
		}
		return fileErr(fmt.Sprintf("give temp file owner %d:%d", m.uid, m.gid), path, err)
	}
	if err := unix.Fchmod(fd, m.mode); err != nil {
		return fileErr(fmt.Sprintf("set temp file mode %#o", m.mode), path, err)
	}
	if m.label != nil {
		if err := unix.Fsetxattr(fd, selinuxXattr, m.label, 0); err != nil && err != unix.ENOTSUP {
			if denied(err) {
				return inPlace()
			}
			return fileErr("copy SELinux label to temp file", path, err)
		}
	}
	if _, err := tmp.Write(data); err != nil {
		return fileErr("write temp file", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fileErr("sync temp file", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fileErr("close temp file", path, err)
	}
	if err := checkUnchanged(path, old); err != nil {
		return err
	}
	if err := os.Rename(tmpName, path); err != nil {
		if errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EXDEV) {
			// A mount point (Docker's /etc/hosts) cannot be renamed over.
			return inPlace()
		}
		return fileErr("rename temp file over it", path, err)
	}
	tmp = nil
	syncDir(dir)
	return nil
}

// checkUnchanged returns ErrHostsChanged when path no longer holds old.
func checkUnchanged(path string, old []byte) error {
	cur, err := os.ReadFile(path)
	if err != nil {
		return fileErr("re-read", path, err)
	}
	if !bytes.Equal(cur, old) {
		return &HostsError{Op: "write", Path: path, Err: ErrHostsChanged}
	}
	return nil
}

// writeInPlace overwrites path with data, keeping its inode, then reads it
// back. On a failed write it tries to put old back.
func writeInPlace(path string, old, data []byte) error {
	if err := checkUnchanged(path, old); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fileErr("open for writing in place", path, err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data, 0); err != nil {
		f.WriteAt(old, 0)
		f.Truncate(int64(len(old)))
		return fileErr("write in place", path, err)
	}
	if err := f.Truncate(int64(len(data))); err != nil {
		return fileErr("truncate in place", path, err)
	}
	if err := f.Sync(); err != nil {
		return fileErr("sync", path, err)
	}
	if err := f.Close(); err != nil {
		return fileErr("close", path, err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		return fileErr("read back", path, err)
	}
	if !bytes.Equal(got, data) {
		return &HostsError{Op: "read back", Path: path, Err: errors.New("contents differ from what was written")}
	}
	return nil
}

// syncDir makes a rename in dir durable. It is best effort: the new file is
// in place already, and some file systems cannot sync a directory.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// hostsLockPath returns the lock file for the hosts file at target, an
// absolute path with symlinks resolved.
func hostsLockPath(target string) string {
	if sys, err := filepath.EvalSymlinks("/etc/hosts"); err == nil && sys == target {
		if fi, err := os.Stat(filepath.Dir(HostsLockFile)); err == nil && fi.IsDir() {
			return HostsLockFile
		}
	}
	h := fnv.New64a() // not crypto: a name, and crypto's init costs every run
	h.Write([]byte(target))
	return filepath.Join(os.TempDir(), fmt.Sprintf("loops-hosts-%016x.lock", h.Sum64()))
}

// lockHosts takes an exclusive flock for target, waiting for other loops
// instances to finish.
func lockHosts(target string) (unlock func(), err error) {
	p := hostsLockPath(target)
	flags := unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := unix.Open(p, flags|unix.O_CREAT, 0o644)
	if err == unix.EACCES {
		// fs.protected_regular refuses O_CREAT on another user's file in
		// a sticky directory such as /tmp; opening it is enough.
		fd, err = unix.Open(p, flags, 0)
	}
	if err != nil {
		return nil, fileErr("open lock file", p, err)
	}
	for {
		err = unix.Flock(fd, unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, fileErr("lock", p, err)
	}
	return func() { unix.Close(fd) }, nil
}

// fileErr wraps err, keeping its errno but dropping the path and syscall
// that *fs.PathError and friends repeat.
func fileErr(op, path string, err error) error {
	var pe *fs.PathError
	var le *os.LinkError
	var se *os.SyscallError
	switch {
	case errors.As(err, &pe):
		err = pe.Err
	case errors.As(err, &le):
		err = le.Err
	case errors.As(err, &se):
		err = se.Err
	}
	return &HostsError{Op: op, Path: path, Err: err}
}
