package udf

import (
	"fmt"
	"io"
	"strings"
)

// Recognition is what Detect found in the volume recognition area (from
// byte 32768, ECMA-167 2/8.3).
type Recognition struct {
	// Identifiers are the volume structure descriptors read, in order
	// (e.g. ["CD001", "CD001", "CD001", "BEA01", "NSR02", "TEA01"]).
	Identifiers []string
	// NSR is 2 or 3 (NSR02: ECMA-167 2nd edition, UDF up to 1.50; NSR03:
	// 3rd edition, UDF 2.00 and on).
	NSR int
	// ISO9660 tells that ISO 9660 descriptors (CD001) come first: a UDF
	// bridge image, also readable as ISO 9660.
	ISO9660 bool
	// Stride is the distance in bytes between descriptors: 2048, or the
	// block size when larger (4096 to 32768).
	Stride int
}

// String is the identifiers joined by commas.
func (r Recognition) String() string { return strings.Join(r.Identifiers, ",") }

// vrsStart is where the volume recognition sequence begins.
const vrsStart = 32768

// maxVSDs bounds the volume structure descriptors Detect reads per stride.
const maxVSDs = 64

// Detect reads the volume recognition sequence of the image r (size bytes):
// any CD001 descriptors and their terminator, then BEA01, NSR02 or NSR03
// and TEA01. It returns an error wrapping ErrNotUDF when there is no NSR
// descriptor after a BEA01. It reads 8 bytes per descriptor, a few
// descriptors in all (at most 320).
func Detect(r io.ReaderAt, size int64) (Recognition, error) {
	var last Recognition
	for _, stride := range []int{2048, 4096, 8192, 16384, 32768} {
		rec, err := detect(r, size, stride)
		if err != nil {
			return Recognition{}, err
		}
		if rec.NSR != 0 {
			return rec, nil
		}
		if len(rec.Identifiers) > len(last.Identifiers) {
			last = rec
		}
	}
	if len(last.Identifiers) > 0 {
		return last, fmt.Errorf("udf: volume recognition sequence %s has no NSR descriptor: %w", last, ErrNotUDF)
	}
	return last, fmt.Errorf("udf: no volume recognition sequence at byte %d: %w", vrsStart, ErrNotUDF)
}

func detect(r io.ReaderAt, size int64, stride int) (Recognition, error) {
	rec := Recognition{Stride: stride}
	bea := false
	var b [8]byte
	for i := 0; i < maxVSDs; i++ {
		off := vrsStart + int64(i)*int64(stride)
		if off+int64(len(b)) > size {
			break
		}
		if n, err := r.ReadAt(b[:], off); n < len(b) {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return rec, fmt.Errorf("udf: read at %d: %w", off, err)
		}
		id := string(b[1:6])
		switch id {
		case "CD001":
			if !bea {
				rec.ISO9660 = true
			}
		case "BEA01":
			bea = true
		case "NSR02", "NSR03":
			if bea && rec.NSR == 0 {
				rec.NSR = int(id[4] - '0')
			}
		case "TEA01":
			rec.Identifiers = append(rec.Identifiers, id)
			return rec, nil
		case "BOOT2", "CDW02", "CD002":
		default:
			return rec, nil
		}
		rec.Identifiers = append(rec.Identifiers, id)
	}
	return rec, nil
}
