package luks

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"hash"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/pbkdf2"
)

// hashFunc is the hash LUKS names (hashSpec, af.hash, kdf.hash), nil for
// one the package does not have.
func hashFunc(name string) func() hash.Hash {
	switch name {
	case "sha1":
		return sha1.New
	case "sha256":
		return sha256.New
	case "sha512":
		return sha512.New
	}
	return nil
}

// derive runs the key derivation k over the passphrase for a key of n
// bytes.
func (k kdf) derive(passphrase []byte, n int) ([]byte, error) {
	switch k.typ {
	case "pbkdf2":
		h := hashFunc(k.hash)
		if h == nil {
			return nil, unsupported("the hash %q (sha1, sha256, sha512)", k.hash)
		}
		return pbkdf2.Key(passphrase, k.salt, k.iterations, n, h), nil
	case "argon2i":
		return argon2.Key(passphrase, k.salt, uint32(k.iterations), k.memoryKiB, k.threads, uint32(n)), nil
	case "argon2id":
		return argon2.IDKey(passphrase, k.salt, uint32(k.iterations), k.memoryKiB, k.threads, uint32(n)), nil
	}
	return nil, unsupported("the key derivation %q", k.typ)
}

// check says whether key matches the digest d.
func (d digest) check(key []byte) (bool, error) {
	h := hashFunc(d.hash)
	if h == nil {
		return false, unsupported("the digest hash %q (sha1, sha256, sha512)", d.hash)
	}
	got := pbkdf2.Key(key, d.salt, d.iterations, len(d.value), h)
	defer clear(got)
	return constantTimeEqual(got, d.value), nil
}
