package luks

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"
)

// Bounds of the LUKS2 JSON metadata (cryptsetup's own: 32 keyslots,
// tokens and segments).
const (
	maxObjects   = 32
	maxJSONDepth = 32
	maxArgonKiB  = 4 << 20 // 4 GiB, cryptsetup's maximum
)

// metadata is the decoded LUKS2 JSON area, as much as the reader uses.
type metadata struct {
	keyslots     []keyslot2
	tokens       []token2
	segments     []segment2
	digests      []digest2
	jsonSize     int64
	keyslotsSize int64
	requirements []string
}

type keyslot2 struct {
	slot
	typ      string
	areaSize int64
}

type token2 struct {
	id  int
	typ string
}

type segment2 struct {
	id         int
	typ        string
	offset     int64
	size       int64 // -1: dynamic
	ivTweak    uint64
	encryption string
	sectorSize int
	integrity  string // the integrity type, "" without
}

type digest2 struct {
	digest
	keyslots []int
	segments []int
}

// The JSON as cryptsetup writes it: 64-bit numbers as decimal strings.
type jsonMetadata struct {
	Keyslots map[string]jsonKeyslot `json:"keyslots"`
	Tokens   map[string]struct {
		Type string `json:"type"`
	} `json:"tokens"`
	Segments map[string]jsonSegment `json:"segments"`
	Digests  map[string]jsonDigest  `json:"digests"`
	Config   struct {
		JSONSize     string `json:"json_size"`
		KeyslotsSize string `json:"keyslots_size"`
		Requirements struct {
			Mandatory []string `json:"mandatory"`
		} `json:"requirements"`
	} `json:"config"`
}

type jsonKeyslot struct {
	Type     string `json:"type"`
	KeySize  int    `json:"key_size"`
	Priority *int   `json:"priority"`
	AF       struct {
		Type    string `json:"type"`
		Stripes int    `json:"stripes"`
		Hash    string `json:"hash"`
	} `json:"af"`
	Area struct {
		Type       string `json:"type"`
		Offset     string `json:"offset"`
		Size       string `json:"size"`
		Encryption string `json:"encryption"`
		KeySize    int    `json:"key_size"`
	} `json:"area"`
	KDF struct {
		Type       string `json:"type"`
		Hash       string `json:"hash"`
		Iterations int64  `json:"iterations"`
		Time       int64  `json:"time"`
		Memory     int64  `json:"memory"`
		CPUs       int64  `json:"cpus"`
		Salt       string `json:"salt"`
	} `json:"kdf"`
}

type jsonSegment struct {
	Type       string `json:"type"`
	Offset     string `json:"offset"`
	Size       string `json:"size"`
	IVTweak    string `json:"iv_tweak"`
	Encryption string `json:"encryption"`
	SectorSize int    `json:"sector_size"`
	Integrity  *struct {
		Type string `json:"type"`
	} `json:"integrity"`
}

type jsonDigest struct {
	Type       string   `json:"type"`
	Keyslots   []string `json:"keyslots"`
	Segments   []string `json:"segments"`
	Hash       string   `json:"hash"`
	Iterations int64    `json:"iterations"`
	Salt       string   `json:"salt"`
	Digest     string   `json:"digest"`
}

// parseMetadata decodes the JSON area js (at byte off of the image),
// bounded: its depth and object counts are checked before and after
// decoding.
func parseMetadata(js []byte, off int64) (*metadata, error) {
	if d := jsonDepth(js); d > maxJSONDepth {
		return nil, formatErr(off, "JSON metadata nested %d deep (at most %d)", d, maxJSONDepth)
	}
	var j jsonMetadata
	if err := json.Unmarshal(js, &j); err != nil {
		return nil, formatErr(off, "JSON metadata: %v", err)
	}
	for name, n := range map[string]int{"keyslots": len(j.Keyslots), "tokens": len(j.Tokens), "segments": len(j.Segments), "digests": len(j.Digests)} {
		if n > maxObjects {
			return nil, formatErr(off, "%d %s (at most %d)", n, name, maxObjects)
		}
	}
	m := &metadata{requirements: j.Config.Requirements.Mandatory}
	var err error
	if m.jsonSize, err = number(j.Config.JSONSize, off, "config json_size"); err != nil {
		return nil, err
	}
	if m.keyslotsSize, err = number(j.Config.KeyslotsSize, off, "config keyslots_size"); err != nil {
		return nil, err
	}
	for what, ok := range map[string]bool{"keyslot": allIDs(j.Keyslots), "token": allIDs(j.Tokens), "segment": allIDs(j.Segments), "digest": allIDs(j.Digests)} {
		if !ok {
			return nil, formatErr(off, "a %s id that is not a number 0 to %d", what, maxObjects-1)
		}
	}
	for _, id := range sortedIDs(j.Tokens) {
		m.tokens = append(m.tokens, token2{id: id, typ: j.Tokens[strconv.Itoa(id)].Type})
	}
	for _, id := range sortedIDs(j.Keyslots) {
		k, err := decodeKeyslot(id, j.Keyslots[strconv.Itoa(id)], off)
		if err != nil {
			return nil, err
		}
		m.keyslots = append(m.keyslots, k)
	}
	for _, id := range sortedIDs(j.Segments) {
		s, err := decodeSegment(id, j.Segments[strconv.Itoa(id)], off)
		if err != nil {
			return nil, err
		}
		m.segments = append(m.segments, s)
	}
	for _, id := range sortedIDs(j.Digests) {
		d, err := decodeDigest(id, j.Digests[strconv.Itoa(id)], off)
		if err != nil {
			return nil, err
		}
		m.digests = append(m.digests, d)
	}
	return m, nil
}

// decodeKeyslot checks one keyslot object.
func decodeKeyslot(id int, k jsonKeyslot, off int64) (keyslot2, error) {
	ks := keyslot2{typ: k.Type}
	ks.id = id
	ks.priority = 1
	if k.Priority != nil {
		if *k.Priority < 0 || *k.Priority > 2 {
			return ks, formatErr(off, "keyslot %d priority %d (0 to 2)", id, *k.Priority)
		}
		ks.priority = *k.Priority
	}
	if k.Type != "luks2" && k.Type != "reencrypt" {
		return ks, formatErr(off, "keyslot %d of type %q", id, k.Type)
	}
	var err error
	if ks.areaOff, err = number(k.Area.Offset, off, "keyslot area offset"); err != nil {
		return ks, err
	}
	if ks.areaSize, err = number(k.Area.Size, off, "keyslot area size"); err != nil {
		return ks, err
	}
	if k.Type == "reencrypt" {
		return ks, nil // not a passphrase keyslot
	}
	if k.KeySize < 1 || k.KeySize > 512 || k.Area.KeySize < 1 || k.Area.KeySize > 512 {
		return ks, formatErr(off, "keyslot %d key sizes %d and %d (1 to 512 bytes)", id, k.KeySize, k.Area.KeySize)
	}
	if k.AF.Type != "luks1" || k.AF.Stripes < 1 || k.AF.Stripes > maxStripes {
		return ks, formatErr(off, "keyslot %d anti-forensic split %q with %d stripes (luks1, 1 to %d)", id, k.AF.Type, k.AF.Stripes, maxStripes)
	}
	if k.Area.Type != "raw" {
		return ks, formatErr(off, "keyslot %d area of type %q (raw)", id, k.Area.Type)
	}
	ks.keyBytes, ks.areaKey, ks.stripes, ks.afHash = k.KeySize, k.Area.KeySize, k.AF.Stripes, k.AF.Hash
	if ks.area, err = parseCipher(k.Area.Encryption, k.Area.KeySize); err != nil {
		ks.area = cipherSpec{name: k.Area.Encryption} // refused when used
	}
	if ks.kdf.salt, err = base64.StdEncoding.DecodeString(k.KDF.Salt); err != nil || len(ks.kdf.salt) == 0 || len(ks.kdf.salt) > 1024 {
		return ks, formatErr(off, "keyslot %d salt %.40q", id, k.KDF.Salt)
	}
	ks.kdf.typ = k.KDF.Type
	switch k.KDF.Type {
	case "pbkdf2":
		if k.KDF.Iterations < 1 || k.KDF.Iterations > 1<<32-1 {
			return ks, formatErr(off, "keyslot %d pbkdf2 iterations %d (1 to 2^32-1)", id, k.KDF.Iterations)
		}
		ks.kdf.hash, ks.kdf.iterations = k.KDF.Hash, int(k.KDF.Iterations)
	case "argon2i", "argon2id":
		if k.KDF.Time < 1 || k.KDF.Time > 1<<32-1 || k.KDF.Memory < 8 || k.KDF.Memory > maxArgonKiB || k.KDF.CPUs < 1 || k.KDF.CPUs > 255 {
			return ks, formatErr(off, "keyslot %d %s time %d, memory %d KiB, cpus %d (1 or more, 8 KiB to 4 GiB, 1 to 255)", id, k.KDF.Type, k.KDF.Time, k.KDF.Memory, k.KDF.CPUs)
		}
		ks.kdf.iterations, ks.kdf.memoryKiB, ks.kdf.threads = int(k.KDF.Time), uint32(k.KDF.Memory), uint8(k.KDF.CPUs)
	default:
		return ks, formatErr(off, "keyslot %d key derivation %q (pbkdf2, argon2i, argon2id)", id, k.KDF.Type)
	}
	return ks, nil
}

// decodeSegment checks one segment object.
func decodeSegment(id int, s jsonSegment, off int64) (segment2, error) {
	sg := segment2{id: id, typ: s.Type, encryption: s.Encryption, sectorSize: s.SectorSize, size: -1}
	var err error
	if sg.offset, err = number(s.Offset, off, "segment offset"); err != nil {
		return sg, err
	}
	if s.Size != "dynamic" {
		if sg.size, err = number(s.Size, off, "segment size"); err != nil {
			return sg, err
		}
	}
	if s.Type != "crypt" {
		return sg, nil
	}
	if s.IVTweak != "" {
		t, err := strconv.ParseUint(s.IVTweak, 10, 64)
		if err != nil {
			return sg, formatErr(off, "segment %d iv_tweak %.40q", id, s.IVTweak)
		}
		sg.ivTweak = t
	}
	if s.SectorSize < 512 || s.SectorSize > 4096 || s.SectorSize&(s.SectorSize-1) != 0 {
		return sg, formatErr(off, "segment %d sector size %d (512 to 4096, a power of two)", id, s.SectorSize)
	}
	if sg.offset%int64(s.SectorSize) != 0 || (sg.size > 0 && sg.size%int64(s.SectorSize) != 0) {
		return sg, formatErr(off, "segment %d offset %d or size %d not a multiple of its sector size %d", id, sg.offset, sg.size, s.SectorSize)
	}
	if s.Integrity != nil {
		sg.integrity = s.Integrity.Type
		if sg.integrity == "" {
			sg.integrity = "(unnamed)"
		}
	}
	return sg, nil
}

// decodeDigest checks one digest object.
func decodeDigest(id int, d jsonDigest, off int64) (digest2, error) {
	var dg digest2
	if d.Type != "pbkdf2" {
		return dg, formatErr(off, "digest %d of type %q (pbkdf2)", id, d.Type)
	}
	if d.Iterations < 1 || d.Iterations > 1<<32-1 {
		return dg, formatErr(off, "digest %d iterations %d", id, d.Iterations)
	}
	dg.hash, dg.iterations = d.Hash, int(d.Iterations)
	var err error
	if dg.salt, err = base64.StdEncoding.DecodeString(d.Salt); err != nil || len(dg.salt) == 0 || len(dg.salt) > 1024 {
		return dg, formatErr(off, "digest %d salt %.40q", id, d.Salt)
	}
	if dg.value, err = base64.StdEncoding.DecodeString(d.Digest); err != nil || len(dg.value) < 16 || len(dg.value) > 64 {
		return dg, formatErr(off, "digest %d value %.40q (16 to 64 bytes)", id, d.Digest)
	}
	for _, list := range []struct {
		ids []string
		to  *[]int
	}{{d.Keyslots, &dg.keyslots}, {d.Segments, &dg.segments}} {
		if len(list.ids) > maxObjects {
			return dg, formatErr(off, "digest %d lists %d ids", id, len(list.ids))
		}
		for _, s := range list.ids {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 || n >= maxObjects {
				return dg, formatErr(off, "digest %d names id %.20q", id, s)
			}
			*list.to = append(*list.to, n)
		}
	}
	return dg, nil
}

// number decodes a JSON decimal string (cryptsetup's 64-bit numbers).
func number(s string, off int64, what string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, formatErr(off, "%s %.40q (a decimal number)", what, s)
	}
	return n, nil
}

// sortedIDs are the map's keys that are numbers 0 to maxObjects-1, in
// order.
func sortedIDs[V any](m map[string]V) []int {
	var ids []int
	for k := range m {
		n, err := strconv.Atoi(k)
		if err == nil && n >= 0 && n < maxObjects && strconv.Itoa(n) == k {
			ids = append(ids, n)
		}
	}
	slices.Sort(ids)
	return ids
}

// allIDs says whether every key of m is a number 0 to maxObjects-1.
func allIDs[V any](m map[string]V) bool { return len(sortedIDs(m)) == len(m) }

// jsonDepth is the deepest nesting of objects and arrays in js (strings
// skipped), counted without decoding.
func jsonDepth(js []byte) int {
	depth, deepest, inString, escaped := 0, 0, false, false
	for _, c := range js {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			deepest = max(deepest, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}
