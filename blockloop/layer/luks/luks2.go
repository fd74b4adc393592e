package luks

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
)

// LUKS2 binary header layout (big-endian), the on-disk format
// specification's struct luks2_hdr_disk.
const (
	luks2BinSize   = 4096
	luks2MaxHdr    = 4 << 20 // the largest header (binary + JSON) LUKS2 allows
	luks2CsumOff   = 448
	luks2CsumLen   = 64
	luks2SeqIDOff  = 16
	luks2HdrOffOff = 256
)

// secondaryOffsets are where LUKS2 may keep its second header copy: the
// primary's header size, one of these.
var secondaryOffsets = []int64{16 << 10, 32 << 10, 64 << 10, 128 << 10, 256 << 10, 512 << 10, 1 << 20, 2 << 20, 4 << 20}

// header2 is one decoded LUKS2 header copy.
type header2 struct {
	offset    int64
	hdrSize   int64
	seqID     uint64
	label     string
	subsystem string
	uuid      string
	meta      *metadata
}

// openLUKS2 reads the primary header (its first 4096 bytes in head) and,
// when needed, the secondary; the copy with the higher sequence id wins.
func openLUKS2(r io.ReaderAt, size int64, head []byte) (*Volume, error) {
	primary, perr := readHeader2(r, size, head, 0)
	var offsets []int64
	if perr == nil {
		offsets = []int64{primary.hdrSize}
	} else {
		offsets = secondaryOffsets
	}
	var secondary *header2
	var serr error
	for _, off := range offsets {
		if off+luks2BinSize > size {
			break
		}
		b := make([]byte, luks2BinSize)
		if err := readFull(r, size, b, off); err != nil {
			serr = err
			break
		}
		if !bytes.Equal(b[:6], magic2) {
			continue
		}
		secondary, serr = readHeader2(r, size, b, off)
		if serr == nil {
			break
		}
	}
	h := primary
	switch {
	case perr != nil && secondary == nil:
		if serr != nil && !errors.Is(perr, ErrNotLUKS) {
			return nil, fmt.Errorf("%w (secondary header: %v)", perr, serr)
		}
		if serr != nil {
			return nil, serr
		}
		return nil, perr
	case perr != nil:
		h = secondary
	case secondary != nil && secondary.seqID > primary.seqID:
		h = secondary
	}
	return h.volume(r, size)
}

// readHeader2 checks the binary header b (4096 bytes, read at off) and
// reads, checks and decodes the JSON area after it.
func readHeader2(r io.ReaderAt, size int64, b []byte, off int64) (*header2, error) {
	want := magic1
	if off != 0 {
		want = magic2
	}
	if !bytes.Equal(b[:6], want) {
		return nil, fmt.Errorf("luks: at byte %d: %w", off, ErrNotLUKS)
	}
	if ver := be16(b[6:]); ver != 2 {
		return nil, unsupported("LUKS version %d", ver)
	}
	h := &header2{offset: off, hdrSize: int64(be64(b[8:])), seqID: be64(b[luks2SeqIDOff:]),
		label: cstring(b[24:72]), uuid: cstring(b[168:208]), subsystem: cstring(b[208:256])}
	if h.hdrSize < 16<<10 || h.hdrSize > luks2MaxHdr || h.hdrSize&(h.hdrSize-1) != 0 {
		return nil, formatErr(off+8, "header size %d (a power of two, 16 KiB to 4 MiB)", h.hdrSize)
	}
	if got := int64(be64(b[luks2HdrOffOff:])); got != off {
		return nil, formatErr(off+luks2HdrOffOff, "header says it is at byte %d, found at %d", got, off)
	}
	newHash, sumLen := checksumHash(cstring(b[72:104]))
	if newHash == nil {
		return nil, unsupported("header checksum %q", cstring(b[72:104]))
	}
	area := make([]byte, h.hdrSize)
	copy(area, b)
	if err := readFull(r, size, area[luks2BinSize:], off+luks2BinSize); err != nil {
		return nil, err
	}
	sum := slices.Clone(area[luks2CsumOff : luks2CsumOff+sumLen])
	clear(area[luks2CsumOff : luks2CsumOff+luks2CsumLen])
	hh := newHash()
	hh.Write(area)
	if subtle.ConstantTimeCompare(hh.Sum(nil), sum) != 1 {
		return nil, formatErr(off+luks2CsumOff, "header checksum mismatch (damaged header)")
	}
	js := area[luks2BinSize:]
	if i := bytes.IndexByte(js, 0); i >= 0 {
		js = js[:i]
	}
	m, err := parseMetadata(js, off+luks2BinSize)
	if err != nil {
		return nil, err
	}
	if m.jsonSize != h.hdrSize-luks2BinSize {
		return nil, formatErr(off+luks2BinSize, "config json_size %d, header has %d", m.jsonSize, h.hdrSize-luks2BinSize)
	}
	h.meta = m
	return h, nil
}

// checksumHash is the hash the binary header names for its checksum.
func checksumHash(name string) (func() hash.Hash, int) {
	switch name {
	case "sha256":
		return sha256.New, sha256.Size
	case "sha1":
		return sha1.New, sha1.Size
	case "sha512":
		return sha512.New, sha512.Size
	}
	return nil, 0
}

// volume checks the metadata against the image and makes the Volume.
func (h *header2) volume(r io.ReaderAt, size int64) (*Volume, error) {
	m := h.meta
	v := &Volume{r: r, size: size}
	v.info = Info{Version: 2, UUID: h.uuid, Label: h.label, Subsystem: h.subsystem,
		HeaderOffset: h.offset, Epoch: h.seqID, Requirements: m.requirements}
	for _, t := range m.tokens {
		v.info.Tokens = append(v.info.Tokens, t.typ)
	}
	metaEnd := 2*h.hdrSize + m.keyslotsSize
	for _, ks := range m.keyslots {
		v.info.Keyslots = append(v.info.Keyslots, Keyslot{ID: ks.id, KDF: ks.kdf.String(), Priority: priorityName(ks.priority)})
	}
	if len(m.requirements) > 0 {
		v.refuse = unsupported("the requirement %q (a re-encryption in progress? finish it with cryptsetup first)", m.requirements[0])
		return v, nil
	}
	if len(m.segments) == 0 {
		v.refuse = unsupported("a LUKS2 header without data segments (a detached header?)")
		return v, nil
	}
	if len(m.segments) > 1 {
		v.refuse = unsupported("%d data segments (a re-encryption in progress: finish it with cryptsetup reencrypt --resume-only)", len(m.segments))
		return v, nil
	}
	seg := m.segments[0]
	v.info.Cipher, v.info.SectorSize, v.info.PayloadOffset = seg.encryption, seg.sectorSize, seg.offset
	v.ivTweak = seg.ivTweak
	if seg.typ != "crypt" {
		v.refuse = unsupported("a data segment of type %q (only crypt)", seg.typ)
		return v, nil
	}
	if seg.integrity != "" {
		v.refuse = unsupported("integrity protection (dm-integrity %s)", seg.integrity)
		return v, nil
	}
	if seg.offset < metaEnd {
		v.refuse = unsupported("a detached LUKS2 header (data segment at byte %d, inside the %d bytes of metadata): the data is on another device", seg.offset, metaEnd)
		return v, nil
	}
	if seg.offset >= size {
		v.refuse = unsupported("a LUKS2 header without data (data segment at byte %d, image of %d bytes): a detached header?", seg.offset, size)
		return v, nil
	}
	payload := size - seg.offset
	if seg.size >= 0 {
		if seg.size > payload {
			return nil, formatErr(h.offset+luks2BinSize, "data segment of %d bytes at byte %d lies past the end of the image (%d bytes)", seg.size, seg.offset, size)
		}
		payload = seg.size
	}
	v.info.Size = payload / int64(seg.sectorSize) * int64(seg.sectorSize)
	dg := -1
	for i, d := range m.digests {
		if slices.Contains(d.segments, seg.id) {
			dg = i
			break
		}
	}
	if dg < 0 {
		return nil, formatErr(h.offset+luks2BinSize, "no digest for data segment %d", seg.id)
	}
	for _, d := range m.digests {
		v.digests = append(v.digests, d.digest)
	}
	for _, ks := range m.keyslots {
		if ks.areaOff < 2*h.hdrSize || ks.areaOff+ks.areaSize > metaEnd || ks.areaOff+ks.areaSize > size {
			return nil, formatErr(h.offset+luks2BinSize, "keyslot %d's area (%d bytes at %d) lies outside the keyslots area (%d to %d) or the image (%d bytes)",
				ks.id, ks.areaSize, ks.areaOff, 2*h.hdrSize, metaEnd, size)
		}
		if afSize(ks.keyBytes, ks.stripes) > ks.areaSize {
			return nil, formatErr(h.offset+luks2BinSize, "keyslot %d's area (%d bytes) is smaller than its key material (%d)", ks.id, ks.areaSize, afSize(ks.keyBytes, ks.stripes))
		}
		if ks.typ != "luks2" {
			continue // a reencrypt keyslot, listed
		}
		sl := ks.slot
		sl.digest = -1
		for i, d := range m.digests {
			if slices.Contains(d.keyslots, ks.id) {
				sl.digest = i
			}
		}
		if sl.digest == dg {
			v.slots = append(v.slots, sl)
		}
	}
	// The volume key's size is that of the keyslots of the segment's digest.
	for _, s := range v.slots {
		v.info.KeyBits = s.keyBytes * 8
		break
	}
	if v.info.KeyBits == 0 {
		return nil, formatErr(h.offset+luks2BinSize, "no passphrase keyslot opens data segment %d", seg.id)
	}
	v.segCipher, v.refuse = parseCipher(seg.encryption, v.info.KeyBits/8)
	return v, nil
}

func priorityName(p int) string {
	switch p {
	case 0:
		return "ignore"
	case 2:
		return "high"
	}
	return "normal"
}
