// Package luks reads LUKS1 and LUKS2 encrypted volumes (Linux Unified Key
// Setup, cryptsetup's format) in userspace: an io.ReaderAt over the
// encrypted device in, an io.ReaderAt over the decrypted payload out,
// without device-mapper. It is what `loops mount` opens an encrypted disk
// through; it matches `cryptsetup luksDump` ([Volume.Info]) and
// `cryptsetup open --readonly` ([Volume.Unlock]). It needs no privilege.
//
// It reads:
//
//   - the LUKS1 header (592 bytes at 0: cipher, mode, hash, payload
//     offset, master key digest, 8 keyslots);
//   - the LUKS2 binary header (4096 bytes) and its JSON area, checked
//     with the header's checksum (sha256 by default) over both with the
//     checksum field zeroed; the secondary copy at the primary's header
//     size or at one of the offsets LUKS2 allows (16 KiB to 4 MiB) when
//     the primary is damaged; of two good copies, the higher sequence id;
//   - keyslots whose key is derived with PBKDF2 (sha1, sha256, sha512)
//     or Argon2i/Argon2id, the keyslot area decrypted and merged by the
//     anti-forensic split's hash diffuser (AF_merge), the volume key
//     checked against its digest (LUKS1's mkDigest, LUKS2's pbkdf2
//     digests);
//   - the data segment: offset, a fixed or "dynamic" size, iv_tweak, 512
//     to 4096-byte sectors (IVs counted in 512-byte sectors, as
//     cryptsetup sets up dm-crypt), and the ciphers aes-xts-plain64,
//     aes-xts-plain, aes-cbc-essiv:sha256, aes-cbc-plain64, aes-cbc-plain.
//
// It refuses, naming what: integrity (dm-integrity, authenticated
// modes), a detached header (no data after the header), a re-encryption
// in progress (the online-reencrypt requirement, several segments), other
// ciphers. Tokens are listed in [Info] and otherwise ignored: the
// passphrase keyslots stay usable.
//
// Decryption reads whole runs and decrypts them sector by sector across
// the cores; on amd64 with AES-NI the blocks of a sector go eight at a
// time through AESDEC (xts_amd64.s, with the key schedule of aeskeys.go),
// elsewhere one at a time through crypto/aes.
//
// Every length and offset is checked against the image and the limits
// of the format (JSON area at most 4 MiB, 32 keyslots, Argon2 memory at
// most 4 GiB): a hostile header gives a *FormatError, never a panic, hang
// or unbounded allocation.
//
// Key material: [Device.Close] zeroes the volume key the Device holds;
// the passphrase is never copied and the derived keys are zeroed after
// use (the AES key schedules inside crypto/aes cannot be reached).
package luks
