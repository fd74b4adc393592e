package luks

import (
	"bytes"
	"fmt"
	"io"
)

// Info describes a LUKS volume as its header tells, before any key is
// known (`cryptsetup luksDump`).
type Info struct {
	Version       int    // 1 or 2
	UUID          string // as written, e.g. "0c592aab-5a52-4b3b-9332-1e5105f47a05"
	Label         string // LUKS2 only
	Subsystem     string // LUKS2 only
	Cipher        string // dm-crypt's spelling: "aes-xts-plain64"
	KeyBits       int    // the volume key's size
	SectorSize    int    // encryption sector: 512 to 4096
	PayloadOffset int64  // where the encrypted data starts in the image
	Size          int64  // the decrypted payload's size in bytes
	Keyslots      []Keyslot
	Tokens        []string // token types (LUKS2): listed, not used
	Requirements  []string // LUKS2 mandatory requirements (any refuses Unlock)
	HeaderOffset  int64    // the header copy read: 0 primary, else the secondary's offset
	Epoch         uint64   // LUKS2 sequence id of the copy read
}

// Keyslot is one active keyslot.
type Keyslot struct {
	ID       int
	KDF      string // "pbkdf2-sha256", "argon2id", ...
	Priority string // "normal", "high", "ignore" (LUKS2; LUKS1: "normal")
}

// Volume is an opened LUKS header; Unlock gives the decrypted data.
type Volume struct {
	r    io.ReaderAt
	size int64
	info Info

	// What Unlock needs.
	refuse    error // why Unlock refuses this volume (ErrUnsupported)
	segCipher cipherSpec
	ivTweak   uint64 // in 512-byte sectors
	slots     []slot
	digests   []digest
}

// slot is a keyslot as Unlock uses it, from either version.
type slot struct {
	id       int
	priority int // 0 ignore, 1 normal, 2 high
	kdf      kdf
	keyBytes int        // the volume key's size
	areaKey  int        // the derived key's size (LUKS2 area key_size)
	area     cipherSpec // the keyslot area's cipher
	areaOff  int64
	stripes  int
	afHash   string
	digest   int // index in Volume.digests (LUKS1: 0)
}

// digest checks a candidate volume key (PBKDF2 over it).
type digest struct {
	hash       string
	iterations int
	salt       []byte
	value      []byte
}

// kdf derives a keyslot's key from the passphrase.
type kdf struct {
	typ        string // "pbkdf2", "argon2i", "argon2id"
	hash       string // pbkdf2
	iterations int    // pbkdf2 iterations or argon2 time
	memoryKiB  uint32 // argon2
	threads    uint8  // argon2
	salt       []byte
}

func (k kdf) String() string {
	if k.typ == "pbkdf2" {
		return "pbkdf2-" + k.hash
	}
	return k.typ
}

var (
	magic1 = []byte("LUKS\xba\xbe")
	magic2 = []byte("SKUL\xba\xbe") // a LUKS2 secondary header
)

// Open reads the LUKS header of the image r of size bytes (LUKS1, or the
// primary LUKS2 header, else a secondary copy). It reads only the header;
// Unlock reads the keyslots. It needs no privilege.
func Open(r io.ReaderAt, size int64) (*Volume, error) {
	head := make([]byte, 4096)
	if err := readFull(r, size, head, 0); err != nil {
		return nil, err
	}
	if bytes.Equal(head[:6], magic1) && be16(head[6:]) == 1 {
		return openLUKS1(r, size, head)
	}
	return openLUKS2(r, size, head)
}

// Info returns what the header says.
func (v *Volume) Info() Info {
	i := v.info
	i.Keyslots = append([]Keyslot(nil), i.Keyslots...)
	i.Tokens = append([]string(nil), i.Tokens...)
	i.Requirements = append([]string(nil), i.Requirements...)
	return i
}

// readFull reads len(b) bytes at off, a *FormatError when they lie past
// the end of the image.
func readFull(r io.ReaderAt, size int64, b []byte, off int64) error {
	if off < 0 || off > size || int64(len(b)) > size-off {
		return formatErr(off, "%d bytes past the end of the image (%d bytes)", len(b), size)
	}
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("luks: reading %d bytes at %d: %w", len(b), off, err)
}

func be16(b []byte) uint16 { return uint16(b[0])<<8 | uint16(b[1]) }
func be32(b []byte) uint32 { return uint32(be16(b))<<16 | uint32(be16(b[2:])) }
func be64(b []byte) uint64 { return uint64(be32(b))<<32 | uint64(be32(b[4:])) }

// cstring is b up to its first NUL.
func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
