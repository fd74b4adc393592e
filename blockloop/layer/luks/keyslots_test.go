package luks

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/loops-cli/loops/blockloop/layer/luks/lukstest"
)

// TestKeyslots adds a second passphrase (cryptsetup luksAddKey, Argon2id)
// and priorities: each passphrase opens the volume; a keyslot of
// priority "ignore" is not tried, as cryptsetup does.
func TestKeyslots(t *testing.T) {
	img, plain := encrypted(t, 1, 4<<20)
	old := filepath.Join(t.TempDir(), "old.key")
	os.WriteFile(old, testPass, 0o600)
	second := []byte("second passphrase")
	lukstest.Cryptsetup(t, second, append([]string{"luksAddKey", "-q", "--key-file", old, img, "-"}, lukstest.FastArgon2id...)...)
	lukstest.Cryptsetup(t, nil, "config", "--priority", "prefer", "--key-slot", "1", img)
	v, _ := openImage(t, img)
	ks := v.Info().Keyslots
	if len(ks) != 2 || ks[0].KDF != "pbkdf2-sha256" || ks[1].KDF != "argon2id" || ks[1].Priority != "high" || ks[0].Priority != "normal" {
		t.Fatalf("Keyslots = %+v, want pbkdf2 normal and argon2id high", ks)
	}
	for _, p := range [][]byte{testPass, second} {
		d, err := v.Unlock(p)
		if err != nil {
			t.Fatalf("Unlock(%q): %v", p, err)
		}
		got := make([]byte, 4096)
		d.ReadAt(got, 0)
		d.Close()
		if !bytes.Equal(got, plain[:4096]) {
			t.Errorf("Unlock(%q) reads other bytes", p)
		}
	}
	lukstest.Cryptsetup(t, nil, "config", "--priority", "ignore", "--key-slot", "0", img)
	v, _ = openImage(t, img)
	if _, err := v.Unlock(testPass); !errors.Is(err, ErrNoKey) {
		t.Errorf("Unlock through an ignored keyslot = %v, want ErrNoKey", err)
	}
}

// TestDetachedHeader: a header-only file (luksFormat --header) is
// refused at Unlock naming the detached header; Info still reads.
func TestDetachedHeader(t *testing.T) {
	dir := t.TempDir()
	hdr, data := filepath.Join(dir, "hdr.img"), filepath.Join(dir, "data.img")
	os.WriteFile(data, make([]byte, 4<<20), 0o600)
	lukstest.Format(t, data, testPass, append([]string{"--type", "luks2", "--header", hdr}, lukstest.FastPBKDF2...)...)
	v, _ := openImage(t, hdr)
	if v.Info().Version != 2 || len(v.Info().Keyslots) != 1 {
		t.Errorf("Info() = %+v", v.Info())
	}
	if _, err := v.Unlock(testPass); !errors.Is(err, ErrUnsupported) || !bytesContains(err.Error(), "detached") {
		t.Errorf("Unlock(detached header) = %v, want ErrUnsupported naming the detached header", err)
	}
	// The data file carries no header.
	if _, err := openBytes(mustRead(t, data)); !errors.Is(err, ErrNotLUKS) {
		t.Errorf("Open(data of a detached header) = %v, want ErrNotLUKS", err)
	}
}

// TestLUKS1Hostile: a LUKS1 keyslot whose key material lies past the end.
func TestLUKS1Hostile(t *testing.T) {
	img, _ := encrypted(t, 1, 4<<20, "--type", "luks1")
	raw := mustRead(t, img)
	b := bytes.Clone(raw)
	copy(b[luks1SlotOffset+40:], []byte{0x7f, 0xff, 0xff, 0xff})
	var fe *FormatError
	if _, err := openBytes(b); !errors.As(err, &fe) {
		t.Errorf("Open(keyslot past the end) = %v, want a FormatError", err)
	}
	b = bytes.Clone(raw)
	copy(b[108:], []byte{0, 0, 0, 7})
	if _, err := openBytes(b); !errors.As(err, &fe) {
		t.Errorf("Open(key of 7 bytes) = %v, want a FormatError", err)
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func bytesContains(s, sub string) bool { return bytes.Contains([]byte(s), []byte(sub)) }

// TestUnlockKey: the volume key of an unlocked Device opens the volume
// again without the key derivation (how loops hands it to its server); a
// wrong or short key does not.
func TestUnlockKey(t *testing.T) {
	img, plain := encrypted(t, 1, 4<<20, "--type", "luks1")
	v, _ := openImage(t, img)
	d, err := v.Unlock(testPass)
	if err != nil {
		t.Fatal(err)
	}
	key := d.VolumeKey()
	d.Close()
	if d.VolumeKey() != nil {
		t.Error("a closed Device still gives its key")
	}
	d2, err := v.UnlockKey(key)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4096)
	d2.ReadAt(got, 0)
	if !bytes.Equal(got, plain[:4096]) {
		t.Error("UnlockKey reads other bytes")
	}
	key[5] ^= 1
	if _, err := v.UnlockKey(key); !errors.Is(err, ErrNoKey) {
		t.Errorf("UnlockKey(wrong) = %v, want ErrNoKey", err)
	}
	if _, err := v.UnlockKey(key[:16]); !errors.Is(err, ErrNoKey) {
		t.Errorf("UnlockKey(short) = %v, want ErrNoKey", err)
	}
}
