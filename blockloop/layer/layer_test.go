package layer

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loops-cli/loops/blockloop/layer/luks"
	"github.com/loops-cli/loops/blockloop/layer/luks/lukstest"
	"github.com/loops-cli/loops/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testkit.Main(m, nil)) }

func TestSpecRoundTrip(t *testing.T) {
	for _, s := range []Spec{{Kind: KindLUKS, Offset: 1 << 20, Size: 0}, {Kind: KindLUKS, Offset: 0, Size: 4096, Name: "x"}} {
		got, err := ParseSpec(s.String())
		if err != nil || got != s {
			t.Errorf("ParseSpec(%q) = %+v, %v; want %+v", s.String(), got, err, s)
		}
	}
	for _, bad := range []string{"", "luks", "luks:1", "luks:-1:0", "luks:a:0", "nope:0:0"} {
		if _, err := ParseSpec(bad); err == nil {
			t.Errorf("ParseSpec(%q) took it", bad)
		}
	}
}

func TestKeysRoundTrip(t *testing.T) {
	keys := [][]byte{bytes.Repeat([]byte{1}, 64), {}, bytes.Repeat([]byte{2}, 32)}
	var b bytes.Buffer
	if err := WriteKeys(&b, keys); err != nil {
		t.Fatal(err)
	}
	raw := bytes.Clone(b.Bytes())
	got, err := ReadKeys(&b)
	if err != nil || len(got) != 3 || !bytes.Equal(got[0], keys[0]) || len(got[1]) != 0 || !bytes.Equal(got[2], keys[2]) {
		t.Fatalf("ReadKeys = %q, %v", got, err)
	}
	Zero(got)
	if !bytes.Equal(got[0], make([]byte, 64)) {
		t.Error("Zero left key bytes")
	}
	// Truncated, too many, too long: errors, no panic.
	for _, bad := range [][]byte{raw[:10], {0, 0, 1, 0}, {0, 0, 0, 1, 0, 1, 0, 0}} {
		if _, err := ReadKeys(bytes.NewReader(bad)); err == nil {
			t.Errorf("ReadKeys(%x) took it", bad)
		}
	}
}

// TestOpenLUKS opens a LUKS2 volume at an offset (a partition) with its
// volume key, as loops-serve does: the plaintext reads back; a wrong key
// or none is refused.
func TestOpenLUKS(t *testing.T) {
	plain := make([]byte, 2<<20)
	rand.Read(plain)
	img := filepath.Join(t.TempDir(), "p.img")
	os.WriteFile(img, append(plain, make([]byte, 4<<20)...), 0o600)
	lukstest.Encrypt(t, img, []byte("pw"), "4M")
	enc, _ := os.ReadFile(img)
	disk := append(make([]byte, 1<<20), enc...) // the volume at 1 MiB
	v, err := luks.Open(bytes.NewReader(enc), int64(len(enc)))
	if err != nil {
		t.Fatal(err)
	}
	d, err := v.Unlock([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	key := d.VolumeKey()
	d.Close()
	specs := []Spec{{Kind: KindLUKS, Offset: 1 << 20, Size: int64(len(enc))}}
	diskFile := filepath.Join(t.TempDir(), "disk.img")
	os.WriteFile(diskFile, disk, 0o600)
	df, err := os.Open(diskFile)
	if err != nil {
		t.Fatal(err)
	}
	defer df.Close()
	top, err := Open(df, int64(len(disk)), specs, [][]byte{bytes.Clone(key)})
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(plain))
	if _, err := top.ReadAt(got, 0); err != nil || !bytes.Equal(got, plain) {
		t.Errorf("the stack reads other bytes (%v)", err)
	}
	// Encrypted bytes are never handed out to splice.
	if _, _, ok := top.(stack).Span(0, 4096); ok {
		t.Error("Span through a LUKS layer: ok")
	}
	top.Close()
	key[0] ^= 1
	if _, err := Open(bytes.NewReader(disk), int64(len(disk)), specs, [][]byte{key}); !errors.Is(err, luks.ErrNoKey) {
		t.Errorf("Open with a wrong key = %v, want ErrNoKey", err)
	}
	if _, err := Open(bytes.NewReader(disk), int64(len(disk)), specs, nil); !errors.Is(err, ErrNoKey) {
		t.Errorf("Open without a key = %v, want ErrNoKey", err)
	}
	specs[0].Size = int64(len(disk))
	if _, err := Open(bytes.NewReader(disk), int64(len(disk)), specs, [][]byte{key}); err == nil || !strings.Contains(err.Error(), "past the end") {
		t.Errorf("Open past the end = %v", err)
	}
}
