// Package serveproto is the command line between loops and its server,
// loops-serve: the CLI builds it with Args, the server reads it back with
// Parse, and each request type says its flags once (bind), so the two
// cannot drift apart. Stdlib only; it starts nothing.
//
// A new request (another mode of loops-serve) is a struct with Command,
// bind and operands, and one case in newRequest; TestRoundTrip then checks
// it. A secret never goes in a request: pass an inherited fd's number.
package serveproto

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Binary is the server's file name: beside loops, or in ../lib/loops/.
const Binary = "loops-serve"

// The commands, the first argument after the binary's name. Tools and
// tests find a server by them in /proc/PID/cmdline.
const (
	ServeCommand      = "__serve"
	ReadDiskCommand   = "__read-disk"
	WriteIndexCommand = "__write-index"
)

// Request is one command line of loops-serve.
type Request interface {
	// Command is the request's first argument.
	Command() string
	// bind binds the request's flags to its fields, with its defaults as
	// the values it has when newRequest makes it.
	bind(fs *flag.FlagSet)
	// operands are its positional arguments, in order.
	operands() []operand
}

// newRequest is the zero request of command, with its defaults.
func newRequest(command string) (Request, bool) {
	switch command {
	case ServeCommand:
		return &Serve{UID: -1, GID: -1, Umask: -1, KeyFD: -1}, true
	case ReadDiskCommand:
		return &ReadDisk{}, true
	case WriteIndexCommand:
		return &WriteIndex{UID: -1, GID: -1, Umask: -1}, true
	}
	return nil, false
}

// Serve is `loops-serve __serve`: mount an image's filesystem through FUSE
// and serve it until it is unmounted. The server answers on fd ReadyFD.
type Serve struct {
	Image     string // absolute path
	Type      string // the filesystem type ("" is iso9660)
	Offset    int64  // where the filesystem starts in the image (or virtual disk)
	SizeLimit int64  // its size; 0: to the end
	Disk      bool   // Image is a VM disk image; Offset and SizeLimit are in its virtual disk
	RawDisk   bool   // serve the VM disk image's virtual disk as one file, for a loop device
	ReadWrite bool   // serve a FAT image read-write
	UID, GID  int    // owner of files the format gives none; -1: the default
	Umask     int    // umask for files the format gives no modes; -1: the default
	Map       string // iso9660's map= ("normal", "off"); "": normal
	// Layers are opened over the image (or its virtual disk) first, bottom
	// first, each "KIND:OFFSET:SIZE[:NAME]" (blockloop/layer.Spec): an
	// encrypted volume. Offset and SizeLimit are then in the top one.
	Layers []string
	// KeyFD is the inherited fd the layers' keys are read from
	// (layer.ReadKeys); -1: none. Keys never go on the command line.
	KeyFD int
	// PVFDs are inherited fds of files holding LVM physical volumes that
	// an "lvm" layer names as "fN" (the Nth of these).
	PVFDs []int
	// Log is the file the server appends its log to (the files and
	// directories that fail to read), made at its first line; "": stderr.
	Log        string
	Mountpoint string
}

// Command is ServeCommand.
func (*Serve) Command() string { return ServeCommand }

func (s *Serve) bind(fs *flag.FlagSet) {
	fs.StringVar(&s.Image, "image", s.Image, "the image `file`")
	fs.StringVar(&s.Type, "type", s.Type, "its filesystem `type` (default iso9660)")
	fs.Int64Var(&s.Offset, "offset", s.Offset, "where the filesystem starts in the image")
	fs.Int64Var(&s.SizeLimit, "sizelimit", s.SizeLimit, "its size, 0 for to the end")
	fs.BoolVar(&s.Disk, "disk", s.Disk, "the image is a VM disk (qcow2, vmdk, vhdx, vdi, vpc); offsets are in its virtual disk")
	fs.BoolVar(&s.RawDisk, "raw-disk", s.RawDisk, "serve the VM disk image's virtual disk as one file, for a loop device")
	fs.BoolVar(&s.ReadWrite, "rw", s.ReadWrite, "serve a FAT image read-write (locked, marked dirty while mounted)")
	fs.IntVar(&s.UID, "uid", s.UID, "owner of files the format gives none")
	fs.IntVar(&s.GID, "gid", s.GID, "group of files the format gives none")
	fs.Var((*octal)(&s.Umask), "umask", "octal umask for files the format gives no modes")
	fs.StringVar(&s.Map, "map", s.Map, "iso9660 names without Rock Ridge or Joliet: normal (lower case, no ;1) or off (as stored)")
	fs.Var((*list)(&s.Layers), "layers", "layers to open first, `KIND:OFFSET:SIZE[:NAME],...` (bottom first)")
	fs.IntVar(&s.KeyFD, "key-fd", s.KeyFD, "the inherited `fd` the layers' keys are read from")
	fs.Var((*fdList)(&s.PVFDs), "pv-fds", "inherited `fds,...` of LVM physical volume files the layers name")
	fs.StringVar(&s.Log, "log", s.Log, "append the log (what fails to read) to `file`, made at its first line")
}

func (s *Serve) operands() []operand { return []operand{{"MOUNTPOINT", &s.Mountpoint}} }

// ReadDisk is `loops-serve __read-disk IMAGE`: read a VM disk image's
// virtual disk for loops, answering on stdin and stdout (package
// blockloop/disk/diskpipe) until stdin ends.
type ReadDisk struct {
	Image string // absolute path
}

// Command is ReadDiskCommand.
func (*ReadDisk) Command() string { return ReadDiskCommand }

func (*ReadDisk) bind(*flag.FlagSet) {}

func (r *ReadDisk) operands() []operand { return []operand{{"IMAGE", &r.Image}} }

// WriteIndex is `loops-serve __write-index IMAGE`: write the EROFS index of
// the image's filesystem (the kernel erofs route of loops mount) into the
// file the server inherits as fd IndexFD, and answer one IndexAnswer line
// on stdout. Owners and modes are the FUSE route's for the same flags.
type WriteIndex struct {
	Image     string // absolute path
	Type      string // the filesystem type ("" is iso9660)
	Offset    int64  // where the filesystem starts in the image
	SizeLimit int64  // its size; 0: to the end
	UID, GID  int    // owner of files the format gives none; -1: the default
	Umask     int    // umask for files the format gives no modes; -1: the default
	Map       string // iso9660's map= ("normal", "off"); "": normal
	// CompactMtime: the kernel reads compact EROFS inodes' own mtimes
	// (Linux 6.15 and later).
	CompactMtime bool
	// Mountpoint is where the index will be mounted, for the link targets
	// readers show below it (NTFS junctions).
	Mountpoint string
}

// Command is WriteIndexCommand.
func (*WriteIndex) Command() string { return WriteIndexCommand }

func (w *WriteIndex) bind(fs *flag.FlagSet) {
	fs.StringVar(&w.Type, "type", w.Type, "its filesystem `type` (default iso9660)")
	fs.Int64Var(&w.Offset, "offset", w.Offset, "where the filesystem starts in the image")
	fs.Int64Var(&w.SizeLimit, "sizelimit", w.SizeLimit, "its size, 0 for to the end")
	fs.IntVar(&w.UID, "uid", w.UID, "owner of files the format gives none")
	fs.IntVar(&w.GID, "gid", w.GID, "group of files the format gives none")
	fs.Var((*octal)(&w.Umask), "umask", "octal umask for files the format gives no modes")
	fs.StringVar(&w.Map, "map", w.Map, "iso9660 names without Rock Ridge or Joliet: normal or off")
	fs.BoolVar(&w.CompactMtime, "compact-mtime", w.CompactMtime, "the kernel reads compact inodes' mtimes (Linux 6.15 and later)")
	fs.StringVar(&w.Mountpoint, "mountpoint", w.Mountpoint, "where the index will be mounted (NTFS junction targets point below it)")
}

func (w *WriteIndex) operands() []operand { return []operand{{"IMAGE", &w.Image}} }

// IndexFD is the fd a WriteIndex request writes the index to.
const IndexFD = 3

// IndexAnswer is the one JSON line a WriteIndex request answers on stdout:
// what the index holds, or why there is none (NotIndexable: the tree
// cannot be described; the FUSE route can still serve it).
type IndexAnswer struct {
	BlockSize    int    `json:"block_size"`
	Inodes       int    `json:"inodes"`
	Size         int64  `json:"size"`
	Flat         int    `json:"flat"`
	Chunked      int    `json:"chunked"`
	Copied       int    `json:"copied"`
	CopiedBytes  int64  `json:"copied_bytes"`
	Error        string `json:"error,omitempty"`
	NotIndexable bool   `json:"not_indexable,omitempty"`
}

// operand is a positional argument: its name in the usage, its field.
type operand struct {
	name string
	p    *string
}

// Args is r's command line after the binary's name: the command, the flags
// that differ from their defaults (in name order), "--", the operands.
func Args(r Request) []string {
	zero, ok := newRequest(r.Command())
	if !ok {
		panic("serveproto: Args of an unregistered request " + r.Command()) // a programming error, not input
	}
	defaults := flagSet(zero)
	args := []string{r.Command()}
	flagSet(r).VisitAll(func(f *flag.Flag) {
		v := f.Value.String()
		if v == defaults.Lookup(f.Name).DefValue {
			return
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			args = append(args, "--"+f.Name+"="+v)
			return
		}
		args = append(args, "--"+f.Name, v)
	})
	args = append(args, "--")
	for _, o := range r.operands() {
		args = append(args, *o.p)
	}
	return args
}

// flagSet is r's flags bound to its fields. bind gives each flag the
// field's value as its default, so r keeps its values, and a flag's
// DefValue is r's own (newRequest's, for a new request).
func flagSet(r Request) *flag.FlagSet {
	fs := flag.NewFlagSet(Binary+" "+r.Command(), flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	r.bind(fs)
	return fs
}

// ErrUsage is wrapped by Parse's errors about the command line.
var ErrUsage = errors.New("usage")

// Parse reads a command line after the binary's name (os.Args[1:]) back
// into its request. Flags and operands may come in any order; an unknown
// command or flag, a malformed value or a wrong number of operands is an
// error wrapping ErrUsage (flag.ErrHelp for -h or --help).
func Parse(args []string) (Request, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("%w: no command (want %s, %s or %s)", ErrUsage, ServeCommand, ReadDiskCommand, WriteIndexCommand)
	}
	r, ok := newRequest(args[0])
	if !ok {
		return nil, fmt.Errorf("%w: unknown command %q (want %s, %s or %s)", ErrUsage, args[0], ServeCommand, ReadDiskCommand, WriteIndexCommand)
	}
	fs := flagSet(r)
	var rest []string
	for args = args[1:]; ; {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %s: %w", ErrUsage, r.Command(), err)
		}
		if n := len(args) - fs.NArg(); n > 0 && args[n-1] == "--" {
			rest = append(rest, fs.Args()...) // all after "--" are operands
			break
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		rest = append(rest, args[0])
		args = args[1:]
	}
	ops := r.operands()
	if len(rest) != len(ops) {
		return nil, fmt.Errorf("%w: %s takes %d operand(s), got %d", ErrUsage, r.Command(), len(ops), len(rest))
	}
	for i, o := range ops {
		if rest[i] == "" {
			return nil, fmt.Errorf("%w: %s: %s is empty", ErrUsage, r.Command(), o.name)
		}
		*o.p = rest[i]
	}
	return r, nil
}

// Usage writes command's usage: its flags and their defaults.
func Usage(w io.Writer, command string) {
	r, ok := newRequest(command)
	if !ok {
		fmt.Fprintf(w, "usage: %s %s|%s|%s ...\n", Binary, ServeCommand, ReadDiskCommand, WriteIndexCommand)
		return
	}
	fs := flagSet(r)
	fs.SetOutput(w)
	fmt.Fprintf(w, "usage: %s %s [flags]", Binary, command)
	for _, o := range r.operands() {
		fmt.Fprint(w, " "+o.name)
	}
	fmt.Fprintln(w)
	fs.PrintDefaults()
}

// list is a comma-separated list flag (empty: none).
type list []string

func (l *list) String() string { return strings.Join(*l, ",") }

func (l *list) Set(s string) error {
	*l = nil
	if s != "" {
		*l = strings.Split(s, ",")
	}
	return nil
}

// fdList is a list of fds, "4,5".
type fdList []int

func (l *fdList) String() string {
	s := make([]string, len(*l))
	for i, fd := range *l {
		s[i] = strconv.Itoa(fd)
	}
	return strings.Join(s, ",")
}

func (l *fdList) Set(s string) error {
	*l = nil
	for _, f := range strings.Split(s, ",") {
		if f == "" {
			continue
		}
		fd, err := strconv.Atoi(f)
		if err != nil || fd < 0 {
			return fmt.Errorf("fd %q: not a file descriptor number", f)
		}
		*l = append(*l, fd)
	}
	return nil
}

// octal is an int flag written in octal, 0 to 0777, or -1 for none.
type octal int

func (o *octal) String() string {
	if *o < 0 {
		return "-1"
	}
	return strconv.FormatInt(int64(*o), 8)
}

func (o *octal) Set(s string) error {
	if s == "-1" {
		*o = -1
		return nil
	}
	u, err := strconv.ParseUint(s, 8, 32)
	if err != nil || u > 0o777 {
		return fmt.Errorf("%q is not an octal mode (0 to 777)", s)
	}
	*o = octal(u)
	return nil
}

// The answer of a Serve request, one line on the pipe the server inherits
// as fd ReadyFD: "ready" once the mount is live, or "error: " and the
// error on one line.
const (
	ReadyFD     = 3
	ready       = "ready"
	errorPrefix = "error: "
)

// Answer is the line the server writes for err (nil: ready), without the
// newline.
func Answer(err error) string {
	if err == nil {
		return ready
	}
	return errorPrefix + strings.ReplaceAll(err.Error(), "\n", " ")
}

// ErrNoAnswer: the server's line is neither "ready" nor an error.
var ErrNoAnswer = errors.New("no answer")

// ReadAnswer reads the server's line back: nil for ready, the server's
// error, or ErrNoAnswer (an empty line: the server ended without one).
func ReadAnswer(line string) error {
	line = strings.TrimSpace(line)
	if line == ready {
		return nil
	}
	if msg, ok := strings.CutPrefix(line, errorPrefix); ok {
		return errors.New(msg)
	}
	return ErrNoAnswer
}
