package luks

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
)

// header2JSON decodes the JSON area of the LUKS2 header copy at off.
func header2JSON(t *testing.T, img []byte, off int) map[string]any {
	t.Helper()
	size := int(binary.BigEndian.Uint64(img[off+8:]))
	js := img[off+4096 : off+size]
	js = js[:bytes.IndexByte(js, 0)]
	var m map[string]any
	if err := json.Unmarshal(js, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// reseal writes js as the JSON area of the header copy at off (padded
// with NULs) and its checksum.
func reseal(t *testing.T, img []byte, off int, js []byte) {
	t.Helper()
	size := int(binary.BigEndian.Uint64(img[off+8:]))
	area := img[off+4096 : off+size]
	if len(js) > len(area) {
		t.Fatalf("JSON of %d bytes does not fit %d", len(js), len(area))
	}
	clear(area)
	copy(area, js)
	sealChecksum(img, off)
}

func sealChecksum(img []byte, off int) {
	size := int(binary.BigEndian.Uint64(img[off+8:]))
	clear(img[off+448 : off+512])
	sum := sha256.Sum256(img[off : off+size])
	copy(img[off+448:], sum[:])
}

// editJSON edits the JSON of both header copies (the primary at 0, the
// secondary at 16 KiB).
func editJSON(t *testing.T, img []byte, edit func(m map[string]any)) []byte {
	t.Helper()
	img = bytes.Clone(img)
	for _, off := range []int{0, 16384} {
		m := header2JSON(t, img, off)
		edit(m)
		js, _ := json.Marshal(m)
		reseal(t, img, off, js)
	}
	return img
}

func obj(m map[string]any, path ...string) map[string]any {
	for _, p := range path {
		m = m[p].(map[string]any)
	}
	return m
}

func openBytes(b []byte) (*Volume, error) { return Open(bytes.NewReader(b), int64(len(b))) }

// TestSecondaryHeader damages the primary LUKS2 header (its JSON area,
// then its magic): the secondary copy is read and the volume unlocks.
// Both damaged: a FormatError naming the checksum.
func TestSecondaryHeader(t *testing.T) {
	img, plain := encrypted(t, 1, 4<<20)
	raw, _ := os.ReadFile(img)
	for name, damage := range map[string]func(b []byte){
		"json":  func(b []byte) { b[4096+10] ^= 0xff },
		"magic": func(b []byte) { copy(b, "XXXX") },
		"size":  func(b []byte) { binary.BigEndian.PutUint64(b[8:], 1<<40) },
	} {
		t.Run(name, func(t *testing.T) {
			b := bytes.Clone(raw)
			damage(b)
			v, err := openBytes(b)
			if err != nil {
				t.Fatalf("Open with a damaged primary: %v", err)
			}
			if v.Info().HeaderOffset != 16384 {
				t.Errorf("HeaderOffset = %d, want 16384 (the secondary)", v.Info().HeaderOffset)
			}
			d, err := v.Unlock(testPass)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(plain))
			d.ReadAt(got, 0)
			if !bytes.Equal(got, plain) {
				t.Error("payload through the secondary header differs from the plaintext")
			}
		})
	}
	b := bytes.Clone(raw)
	b[4096+10] ^= 0xff
	b[16384+4096+10] ^= 0xff
	_, err := openBytes(b)
	var fe *FormatError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("Open with both copies damaged = %v, want a checksum FormatError", err)
	}
	// The newer copy wins.
	b = bytes.Clone(raw)
	m := header2JSON(t, b, 16384)
	obj(m, "keyslots", "0")["priority"] = 2
	js, _ := json.Marshal(m)
	binary.BigEndian.PutUint64(b[16384+16:], binary.BigEndian.Uint64(b[16:])+1)
	reseal(t, b, 16384, js)
	if v, err := openBytes(b); err != nil || v.Info().HeaderOffset != 16384 || v.Info().Keyslots[0].Priority != "high" {
		t.Errorf("Open with a newer secondary = %+v, %v; want the secondary's", v, err)
	}
}

// TestHostileHeaders opens headers edited to lie: each gives a clear
// error (FormatError, or ErrUnsupported naming what at Unlock), no panic.
func TestHostileHeaders(t *testing.T) {
	img, _ := encrypted(t, 1, 4<<20)
	raw, _ := os.ReadFile(img)
	for _, tc := range []struct {
		name   string
		edit   func(m map[string]any)
		want   string // in the error
		unlock bool   // Open succeeds, Unlock refuses with ErrUnsupported
	}{
		{"area past the end", func(m map[string]any) { obj(m, "keyslots", "0", "area")["offset"] = "9000000000" }, "keyslot 0's area", false},
		{"area size too small", func(m map[string]any) { obj(m, "keyslots", "0", "area")["size"] = "4096" }, "smaller than its key material", false},
		{"stripes", func(m map[string]any) { obj(m, "keyslots", "0", "af")["stripes"] = 1e9 }, "stripes", false},
		{"argon2 memory", func(m map[string]any) {
			obj(m, "keyslots", "0")["kdf"] = map[string]any{"type": "argon2id", "time": 4, "memory": 5 << 20, "cpus": 1, "salt": "AAAA"}
		}, "memory", false},
		{"bad salt", func(m map[string]any) { obj(m, "keyslots", "0", "kdf")["salt"] = "!!" }, "salt", false},
		{"many keyslots", func(m map[string]any) {
			ks := obj(m, "keyslots")
			for i := 1; i < 40; i++ {
				ks[strconv.Itoa(i)] = map[string]any{}
			}
		}, "keyslots", false},
		{"keyslot id", func(m map[string]any) { obj(m, "keyslots")["x"] = obj(m, "keyslots", "0") }, "keyslot id", false},
		{"deep", func(m map[string]any) {
			var d any = 1
			for range 100 {
				d = []any{d}
			}
			obj(m, "tokens")["0"] = map[string]any{"type": "x", "deep": d}
		}, "nested", false},
		{"sector size", func(m map[string]any) { obj(m, "segments", "0")["sector_size"] = 1000 }, "sector size", false},
		{"segment past the end", func(m map[string]any) { obj(m, "segments", "0")["size"] = "999999999488" }, "past the end", false},
		{"json_size", func(m map[string]any) { obj(m, "config")["json_size"] = "4096" }, "json_size", false},
		{"integrity", func(m map[string]any) {
			obj(m, "segments", "0")["integrity"] = map[string]any{"type": "hmac(sha256)", "journal_encryption": "none", "journal_integrity": "none"}
		}, "integrity", true},
		{"requirement", func(m map[string]any) {
			obj(m, "config")["requirements"] = map[string]any{"mandatory": []any{"online-reencrypt-v2"}}
		}, "online-reencrypt-v2", true},
		{"detached", func(m map[string]any) { obj(m, "segments", "0")["offset"] = "0" }, "detached", true},
		{"two segments", func(m map[string]any) { obj(m, "segments")["1"] = obj(m, "segments", "0") }, "2 data segments", true},
		{"cipher", func(m map[string]any) { obj(m, "segments", "0")["encryption"] = "serpent-xts-plain64" }, "serpent", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := openBytes(editJSON(t, raw, tc.edit))
			if tc.unlock {
				if err != nil {
					t.Fatalf("Open = %v, want success (Info for probe)", err)
				}
				_, err = v.Unlock(testPass)
				if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("Unlock = %v, want ErrUnsupported naming %q", err, tc.want)
				}
				return
			}
			var fe *FormatError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open = %v, want a FormatError naming %q", err, tc.want)
			}
		})
	}
}

// TestTokens: a token of another kind (a TPM2 token) is listed and
// ignored; the passphrase keyslot still opens.
func TestTokens(t *testing.T) {
	img, _ := encrypted(t, 1, 4<<20)
	raw, _ := os.ReadFile(img)
	b := editJSON(t, raw, func(m map[string]any) {
		obj(m, "tokens")["0"] = map[string]any{"type": "systemd-tpm2", "keyslots": []any{"0"}, "tpm2-blob": "AAAA"}
	})
	v, err := openBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	if tk := v.Info().Tokens; len(tk) != 1 || tk[0] != "systemd-tpm2" {
		t.Errorf("Tokens = %q, want [systemd-tpm2]", tk)
	}
	if _, err := v.Unlock(testPass); err != nil {
		t.Errorf("Unlock with a token present: %v", err)
	}
}

// TestNotLUKS and truncated images.
func TestNotLUKS(t *testing.T) {
	if _, err := openBytes(make([]byte, 1<<20)); !errors.Is(err, ErrNotLUKS) {
		t.Errorf("Open(zeros) = %v, want ErrNotLUKS", err)
	}
	img, _ := encrypted(t, 1, 4<<20)
	raw, _ := os.ReadFile(img)
	var fe *FormatError
	if _, err := openBytes(raw[:10000]); !errors.As(err, &fe) {
		t.Errorf("Open(truncated in the JSON area) = %v, want a FormatError", err)
	}
	if _, err := openBytes(raw[:100]); !errors.As(err, &fe) {
		t.Errorf("Open(100 bytes) = %v, want a FormatError", err)
	}
}

// TestIVTweak: a segment starting 8 sectors into cryptsetup's payload
// with iv_tweak 8 (as a re-encryption leaves one) decrypts to the
// plaintext from those sectors on; without the tweak it does not.
func TestIVTweak(t *testing.T) {
	img, plain := encrypted(t, 1, 4<<20)
	orig, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	for _, tweak := range []string{"8", "0"} {
		b := editJSON(t, orig, func(m map[string]any) {
			seg := obj(m, "segments", "0")
			off, _ := strconv.ParseInt(seg["offset"].(string), 10, 64)
			seg["offset"] = strconv.FormatInt(off+8*512, 10)
			seg["iv_tweak"] = tweak
		})
		v, err := openBytes(b)
		if err != nil {
			t.Fatal(err)
		}
		d, err := v.Unlock(testPass)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(plain)-8*512)
		if _, err := d.ReadAt(got, 0); err != nil {
			t.Fatal(err)
		}
		if same := bytes.Equal(got, plain[8*512:]); same != (tweak == "8") {
			t.Errorf("iv_tweak %s: the payload equals the plaintext 8 sectors on: %v", tweak, same)
		}
		d.Close()
	}
}
