package qcow2

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
)

// Magic is the first four bytes of every qcow image.
const Magic = "QFI\xfb"

const (
	v2HeaderLen    = 72
	v3HeaderLen    = 104
	minClusterBits = 9
	maxClusterBits = 21 // qemu's limit: 2 MiB clusters
	maxBackingName = 1023
	maxBackingFmt  = 15 // qemu keeps it in a 16-byte buffer
)

// Incompatible feature bits.
const (
	incompatDirty       = 1 << 0
	incompatCorrupt     = 1 << 1
	incompatDataFile    = 1 << 2
	incompatCompression = 1 << 3
	incompatExtendedL2  = 1 << 4
	incompatKnown       = incompatDirty | incompatCorrupt | incompatDataFile | incompatCompression | incompatExtendedL2
)

// Header extension types.
const (
	extEnd           = 0x00000000
	extBackingFormat = 0xe2792aca
	extFeatureTable  = 0x6803f857
	extDataFile      = 0x44415441
)

// header is the decoded fixed header plus what the extensions say.
type header struct {
	version         uint32
	backingOff      uint64
	backingSize     uint32
	clusterBits     uint32
	size            uint64
	cryptMethod     uint32
	l1Size          uint32
	l1Off           uint64
	nbSnapshots     uint32
	incompat        uint64
	compat          uint64
	autoclear       uint64
	refcountOrder   uint32
	headerLen       uint32
	compressionType uint8

	backingFile   string
	backingFormat string
	featureNames  map[int]string // incompatible bit -> name, from the feature name table
	warnings      []string
}

// Probe tells whether header (the first bytes of a file, at least 4) starts
// with the qcow magic. It does not look at the version: Open refuses qcow
// version 1 and versions over 3 with errors.ErrUnsupported.
func Probe(header []byte) bool {
	return len(header) >= 4 && string(header[:4]) == Magic
}

// decodeHeader decodes the fixed header from b, the first bytes of the file
// (at least 512 unless the file is shorter). fileSize is the image size.
func decodeHeader(b []byte, fileSize int64) (*header, error) {
	if !Probe(b) {
		return nil, fmt.Errorf("qcow2: %w", ErrNotQcow2)
	}
	if len(b) < v2HeaderLen {
		return nil, formatErr(int64(len(b)), "file of %d bytes is shorter than the %d-byte header", fileSize, v2HeaderLen)
	}
	be := binary.BigEndian
	h := &header{
		version:     be.Uint32(b[4:]),
		backingOff:  be.Uint64(b[8:]),
		backingSize: be.Uint32(b[16:]),
		clusterBits: be.Uint32(b[20:]),
		size:        be.Uint64(b[24:]),
		cryptMethod: be.Uint32(b[32:]),
		l1Size:      be.Uint32(b[36:]),
		l1Off:       be.Uint64(b[40:]),
		nbSnapshots: be.Uint32(b[60:]),
	}
	switch h.version {
	case 2:
		h.headerLen = v2HeaderLen
		h.refcountOrder = 4
	case 3:
		if len(b) < v3HeaderLen {
			return nil, formatErr(int64(len(b)), "file of %d bytes is shorter than the %d-byte version 3 header", fileSize, v3HeaderLen)
		}
		h.incompat = be.Uint64(b[72:])
		h.compat = be.Uint64(b[80:])
		h.autoclear = be.Uint64(b[88:])
		h.refcountOrder = be.Uint32(b[96:])
		h.headerLen = be.Uint32(b[100:])
		if h.headerLen < v3HeaderLen {
			return nil, formatErr(100, "version 3 header_length %d is under %d", h.headerLen, v3HeaderLen)
		}
	default:
		if h.version == 1 {
			return nil, unsupportedErr("qcow version 1 (the old qcow format; convert it with qemu-img convert -O qcow2)")
		}
		return nil, unsupportedErr("qcow2 version %d (only 2 and 3 exist)", h.version)
	}
	if h.clusterBits < minClusterBits || h.clusterBits > maxClusterBits {
		return nil, formatErr(20, "cluster_bits %d is outside %d..%d", h.clusterBits, minClusterBits, maxClusterBits)
	}
	cs := uint64(1) << h.clusterBits
	if uint64(h.headerLen) > cs {
		return nil, formatErr(100, "header_length %d exceeds the cluster size %d", h.headerLen, cs)
	}
	if int64(h.headerLen) > fileSize {
		return nil, formatErr(100, "header_length %d is past the end of the file (%d bytes)", h.headerLen, fileSize)
	}
	if h.headerLen%8 != 0 {
		h.warnings = append(h.warnings, fmt.Sprintf("header_length %d is not a multiple of 8", h.headerLen))
	}
	if h.refcountOrder > 6 {
		return nil, formatErr(96, "refcount_order %d is over 6", h.refcountOrder)
	}
	if h.size > 1<<63-1 {
		return nil, formatErr(24, "virtual size %d does not fit in 63 bits", h.size)
	}
	switch h.cryptMethod {
	case 0:
	case 1, 2:
		name := map[uint32]string{1: "AES", 2: "LUKS"}[h.cryptMethod]
		return nil, fmt.Errorf("qcow2: crypt_method %d (%s): %w: %w", h.cryptMethod, name, ErrEncrypted, errors.ErrUnsupported)
	default:
		return nil, unsupportedErr("crypt_method %d", h.cryptMethod)
	}
	if h.headerLen > v3HeaderLen && len(b) > v3HeaderLen {
		h.compressionType = b[v3HeaderLen]
	}
	return h, nil
}

// decodeExtensions reads the header extensions and the backing file name
// from first, the first cluster of the file (shorter if the file is), and
// checks the feature bits against them.
func (h *header) decodeExtensions(first []byte) error {
	cs := uint64(1) << h.clusterBits
	end := cs
	if h.backingOff != 0 {
		if h.backingOff > cs {
			return formatErr(8, "backing_file_offset %d is past the first cluster (%d bytes)", h.backingOff, cs)
		}
		if h.backingSize > maxBackingName || uint64(h.backingSize) > cs-h.backingOff {
			return formatErr(16, "backing_file_size %d is over %d or past the first cluster", h.backingSize, maxBackingName)
		}
		if h.backingOff+uint64(h.backingSize) > uint64(len(first)) {
			return formatErr(int64(h.backingOff), "backing file name (%d bytes) is past the end of the file", h.backingSize)
		}
		h.backingFile = string(first[h.backingOff : h.backingOff+uint64(h.backingSize)])
		end = h.backingOff
	}
	if end > uint64(len(first)) {
		end = uint64(len(first))
	}
	be := binary.BigEndian
	var seenFmt, seenTable bool
	// Each step moves off forward by at least 8 bytes inside one cluster:
	// at most 256 Ki steps.
	for off := uint64(h.headerLen); off < end; {
		if end-off < 8 {
			return formatErr(int64(off), "header extension header of 8 bytes crosses the end of the extension area (%d)", end)
		}
		typ, n := be.Uint32(first[off:]), uint64(be.Uint32(first[off+4:]))
		hdrOff := off
		off += 8
		if n > end-off {
			return formatErr(int64(hdrOff), "header extension %#x of %d bytes crosses the end of the extension area (%d)", typ, n, end)
		}
		data := first[off : off+n]
		if typ == extEnd {
			break
		}
		switch typ {
		case extBackingFormat:
			if seenFmt {
				return formatErr(int64(hdrOff), "backing format header extension appears twice")
			}
			seenFmt = true
			if n > maxBackingFmt {
				return formatErr(int64(hdrOff), "backing format name of %d bytes is over %d", n, maxBackingFmt)
			}
			h.backingFormat = string(data)
		case extFeatureTable:
			if seenTable {
				return formatErr(int64(hdrOff), "feature name table header extension appears twice")
			}
			seenTable = true
			for i := 0; i+48 <= len(data); i += 48 {
				e := data[i : i+48]
				if e[0] == 0 && e[1] < 64 { // incompatible feature
					name := e[2:48]
					if j := bytes.IndexByte(name, 0); j >= 0 {
						name = name[:j]
					}
					if h.featureNames == nil {
						h.featureNames = map[int]string{}
					}
					h.featureNames[int(e[1])] = string(name)
				}
			}
		}
		off += (n + 7) &^ 7
	}
	return h.checkFeatures()
}

// checkFeatures refuses what the reader cannot read, once the feature
// names are known.
func (h *header) checkFeatures() error {
	if unknown := h.incompat &^ incompatKnown; unknown != 0 {
		return h.featureError(unknown)
	}
	if h.incompat&incompatDataFile != 0 {
		return h.featureError(incompatDataFile)
	}
	if h.incompat&incompatCompression != 0 {
		if h.headerLen <= v3HeaderLen {
			return formatErr(72, "compression type bit set but header_length %d has no compression_type field", h.headerLen)
		}
		if h.compressionType == 0 {
			return formatErr(v3HeaderLen, "compression type bit set with compression_type 0 (zlib)")
		}
	} else if h.compressionType != 0 {
		return formatErr(v3HeaderLen, "compression_type %d without the compression type bit", h.compressionType)
	}
	if h.compressionType > 1 {
		return unsupportedErr("compression_type %d (only 0 zlib and 1 zstd exist)", h.compressionType)
	}
	if h.incompat&incompatExtendedL2 != 0 && h.clusterBits < 14 {
		return formatErr(20, "extended L2 entries with cluster_bits %d (under 14)", h.clusterBits)
	}
	if h.incompat&incompatDirty != 0 {
		h.warnings = append(h.warnings, "dirty bit set: the image was not closed cleanly (refcounts may be stale; the data is read as the L1/L2 tables map it)")
	}
	if h.incompat&incompatCorrupt != 0 {
		h.warnings = append(h.warnings, "corrupt bit set: qemu found an inconsistency in this image; data may be wrong")
	}
	return nil
}

func (h *header) featureError(b uint64) error {
	e := &UnsupportedFeatureError{Bits: b}
	known := map[int]string{2: "external data file"}
	for b != 0 {
		i := bits.TrailingZeros64(b)
		b &^= 1 << i
		name := h.featureNames[i]
		if name == "" {
			name = known[i]
		}
		if name == "" {
			name = fmt.Sprintf("bit %d", i)
		} else {
			name = fmt.Sprintf("bit %d %q", i, name)
		}
		e.Names = append(e.Names, name)
	}
	return e
}
