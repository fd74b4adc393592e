package luks

import (
	"io"
	"slices"
)

// LUKS1 header layout (big-endian), cryptsetup's lib/luks1/luks.h.
const (
	luks1HeaderSize   = 592
	luks1SlotOffset   = 208
	luks1SlotSize     = 48
	luks1Slots        = 8
	luks1SlotActive   = 0x00AC71F3
	luks1SlotInactive = 0x0000DEAD
	saltSize          = 32
	maxStripes        = 4000 * 16 // cryptsetup writes 4000
)

// openLUKS1 decodes the 592-byte LUKS1 header in head.
func openLUKS1(r io.ReaderAt, size int64, head []byte) (*Volume, error) {
	h := head[:luks1HeaderSize]
	cipherName, cipherMode := cstring(h[8:40]), cstring(h[40:72])
	hashSpec := cstring(h[72:104])
	payload := int64(be32(h[104:])) * 512
	keyBytes := int(be32(h[108:]))
	v := &Volume{r: r, size: size}
	v.info = Info{Version: 1, UUID: cstring(h[168:208]), Cipher: cipherName + "-" + cipherMode,
		KeyBits: keyBytes * 8, SectorSize: 512, PayloadOffset: payload}
	if keyBytes != 16 && keyBytes != 32 && keyBytes != 64 {
		return nil, formatErr(108, "key size %d bytes (16, 32 or 64)", keyBytes)
	}
	cs, err := parseCipher(v.info.Cipher, keyBytes)
	v.segCipher, v.refuse = cs, err
	v.digests = []digest{{hash: hashSpec, iterations: int(be32(h[164:])), salt: slices.Clone(h[132:164]), value: slices.Clone(h[112:132])}}
	if v.digests[0].iterations == 0 {
		return nil, formatErr(164, "master key digest with 0 iterations")
	}
	metaEnd := int64(0)
	for i := range luks1Slots {
		o := luks1SlotOffset + i*luks1SlotSize
		s := h[o : o+luks1SlotSize]
		switch be32(s) {
		case luks1SlotInactive:
			continue
		case luks1SlotActive:
		default:
			return nil, formatErr(int64(o), "keyslot %d state %#x (neither active nor inactive)", i, be32(s))
		}
		sl := slot{id: i, priority: 1, keyBytes: keyBytes, areaKey: keyBytes, area: cs,
			areaOff: int64(be32(s[40:])) * 512, stripes: int(be32(s[44:])), afHash: hashSpec,
			kdf: kdf{typ: "pbkdf2", hash: hashSpec, iterations: int(be32(s[4:])), salt: slices.Clone(s[8:40])}}
		if sl.stripes < 1 || sl.stripes > maxStripes {
			return nil, formatErr(int64(o+44), "keyslot %d has %d stripes (1 to %d)", i, sl.stripes, maxStripes)
		}
		if sl.kdf.iterations == 0 {
			return nil, formatErr(int64(o+4), "keyslot %d has 0 iterations", i)
		}
		end := sl.areaOff + afSize(keyBytes, sl.stripes)
		if sl.areaOff < luks1HeaderSize || end > size {
			return nil, formatErr(int64(o+40), "keyslot %d's key material (%d to %d) lies outside the image (%d bytes)", i, sl.areaOff, end, size)
		}
		metaEnd = max(metaEnd, end)
		v.slots = append(v.slots, sl)
		v.info.Keyslots = append(v.info.Keyslots, Keyslot{ID: i, KDF: sl.kdf.String(), Priority: "normal"})
	}
	if payload == 0 || payload < metaEnd {
		v.refuse = unsupported("a detached LUKS1 header (payload offset %d, inside the header's %d bytes): the data is on another device", payload, metaEnd)
	}
	if v.refuse == nil && payload >= size {
		v.refuse = unsupported("a LUKS1 header without data (payload offset %d, image of %d bytes): a detached header?", payload, size)
	}
	if v.refuse == nil {
		v.info.Size = size - payload
	}
	return v, nil
}

// afSize is the size of a keyslot's anti-forensic material: the key times
// the stripes, in whole 512-byte sectors.
func afSize(keyBytes, stripes int) int64 {
	n := int64(keyBytes) * int64(stripes)
	return (n + 511) / 512 * 512
}
