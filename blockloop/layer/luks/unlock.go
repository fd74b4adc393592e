package luks

import (
	"bytes"
	"errors"
	"slices"
)

// Unlock tries the passphrase on the keyslots of the data segment (high
// priority first; "ignore" ones are not tried) and returns the
// decrypted payload, as `cryptsetup open --readonly` would map it; an
// error matching ErrNoKey when no keyslot opens with it. The passphrase
// is not kept. The key derivation costs what the keyslot asks (Argon2:
// up to its memory). It needs no privilege.
func (v *Volume) Unlock(passphrase []byte) (*Device, error) {
	if v.refuse != nil {
		return nil, v.refuse
	}
	slots := slices.Clone(v.slots)
	slices.SortStableFunc(slots, func(a, b slot) int { return b.priority - a.priority })
	var refused error
	tried := false
	for _, s := range slots {
		if s.priority == 0 {
			continue
		}
		key, err := v.tryKeyslot(s, passphrase)
		if errors.Is(err, ErrUnsupported) {
			refused = err
			continue
		}
		if err != nil {
			return nil, err
		}
		tried = true
		if key != nil {
			return v.device(key)
		}
	}
	if !tried && refused != nil {
		return nil, refused
	}
	return nil, ErrNoKey
}

// tryKeyslot derives the keyslot's key, decrypts and merges its key
// material and checks the result against the digest: the volume key, or
// nil when the passphrase is not this keyslot's.
func (v *Volume) tryKeyslot(s slot, passphrase []byte) ([]byte, error) {
	if _, err := parseCipher(s.area.name, s.areaKey); err != nil {
		return nil, err
	}
	afHash := hashFunc(s.afHash)
	if afHash == nil {
		return nil, unsupported("the anti-forensic hash %q (sha1, sha256, sha512)", s.afHash)
	}
	if s.digest < 0 || s.digest >= len(v.digests) {
		return nil, formatErr(0, "keyslot %d has no digest", s.id)
	}
	dg := v.digests[s.digest]
	if hashFunc(dg.hash) == nil {
		return nil, unsupported("the digest hash %q (sha1, sha256, sha512)", dg.hash)
	}
	material := make([]byte, afSize(s.keyBytes, s.stripes))
	defer clear(material)
	if err := readFull(v.r, v.size, material, s.areaOff); err != nil {
		return nil, err
	}
	derived, err := s.kdf.derive(passphrase, s.areaKey)
	if err != nil {
		return nil, err
	}
	c, err := newSectorCipher(s.area, derived)
	clear(derived)
	if err != nil {
		return nil, err
	}
	c.decrypt(material, 512, 0)
	c.wipe()
	key := make([]byte, s.keyBytes)
	afMerge(key, material, s.stripes, afHash)
	ok, err := dg.check(key)
	if err != nil || !ok {
		clear(key)
		return nil, err
	}
	return key, nil
}

// UnlockKey opens the volume with its volume key (as `cryptsetup open
// --volume-key-file`), checked against the segment's digest: how a
// process that unlocked the volume hands it to another without the key
// derivation again. The Device keeps its own copy of key.
func (v *Volume) UnlockKey(key []byte) (*Device, error) {
	if v.refuse != nil {
		return nil, v.refuse
	}
	for _, s := range v.slots {
		if s.keyBytes != len(key) || s.digest < 0 || s.digest >= len(v.digests) {
			continue
		}
		ok, err := v.digests[s.digest].check(key)
		if err != nil {
			return nil, err
		}
		if ok {
			return v.device(bytes.Clone(key))
		}
	}
	return nil, ErrNoKey
}
