// Package lukstest makes LUKS test images with the real cryptsetup,
// offline on plain files (no device-mapper): the fixtures of the luks
// reader's tests and of the tests that mount encrypted images.
package lukstest

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/loops-cli/loops/internal/testkit"
)

// Fast key derivation for tests: PBKDF2 at 1000 iterations.
var FastPBKDF2 = []string{"--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000"}

// FastArgon2id is Argon2id with 32 MiB and 4 passes.
var FastArgon2id = []string{"--pbkdf", "argon2id", "--pbkdf-memory", "32768", "--pbkdf-force-iterations", "4"}

// Cryptsetup runs cryptsetup with args, the passphrase on stdin (the
// args should include "--key-file -"), failing the test on error.
func Cryptsetup(t testing.TB, passphrase []byte, args ...string) string {
	t.Helper()
	bin := testkit.Tool(t, "cryptsetup")
	c := exec.Command(bin, args...)
	c.Env = testkit.FixtureEnv()
	c.Stdin = bytes.NewReader(passphrase)
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("cryptsetup %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Encrypt encrypts the image file in place as LUKS (cryptsetup reencrypt
// --encrypt, offline), keeping its first size-reduce bytes as the
// payload's start: the payload decrypts to the file's first bytes. The
// last reduce bytes of the file must be free (reduce is
// --reduce-device-size: twice the LUKS2 header's metadata and keyslots;
// the data then starts at reduce/2). extra are more cryptsetup options
// (--type luks1 is made by convert after). Without --pbkdf in extra,
// FastPBKDF2 is used.
func Encrypt(t testing.TB, img string, passphrase []byte, reduce string, extra ...string) {
	t.Helper()
	luks1 := false
	var opts []string
	for i := 0; i < len(extra); i++ {
		if extra[i] == "--type" && i+1 < len(extra) && extra[i+1] == "luks1" {
			luks1 = true
			i++
			continue
		}
		opts = append(opts, extra[i])
	}
	hasKDF := false
	for _, o := range opts {
		hasKDF = hasKDF || o == "--pbkdf"
	}
	if !hasKDF {
		opts = append(opts, FastPBKDF2...)
	}
	args := append([]string{"reencrypt", "-q", "--encrypt", "--type", "luks2", "--reduce-device-size", reduce, "--key-file", "-"}, opts...)
	Cryptsetup(t, passphrase, append(args, img)...)
	if luks1 {
		Cryptsetup(t, nil, "convert", "-q", "--type", "luks1", img)
	}
}

// Format writes a LUKS header alone (cryptsetup luksFormat) on the file
// img, which must exist and be large enough.
func Format(t testing.TB, img string, passphrase []byte, extra ...string) {
	t.Helper()
	if _, err := os.Stat(img); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"luksFormat", "-q", "--key-file", "-"}, extra...)
	Cryptsetup(t, passphrase, append(args, img)...)
}
