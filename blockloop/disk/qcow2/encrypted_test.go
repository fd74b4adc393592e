package qcow2_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loops-cli/loops/blockloop/disk/disktest"
	"github.com/loops-cli/loops/blockloop/disk/qcow2"
	"github.com/loops-cli/loops/internal/testkit"
)

// This test is in a file of its own, sorted first, so that its seconds of
// LUKS key derivation start first and overlap the other parallel tests.

// TestEncrypted: AES and LUKS images are refused with ErrEncrypted.
func TestEncrypted(t *testing.T) {
	t.Parallel() // the LUKS key derivation takes seconds of one core
	dir := t.TempDir()
	for _, f := range []string{"aes", "luks"} {
		img := filepath.Join(dir, f+".qcow2")
		o := "encrypt.format=" + f + ",encrypt.key-secret=s"
		if f == "luks" {
			// Milliseconds of key derivation, not 2 s per slot. qemu
			// first times PBKDF2 for at least 0.5 s of CPU, and fails at
			// random with "Unable to get accurate CPU usage" when a first
			// round measures as 0 ms (getrusage granularity): retry.
			o += ",encrypt.iter-time=10"
		}
		for try := 1; ; try++ {
			out, err := testkit.Command(disktest.QemuImg(t), "create", "-f", "qcow2", "--object", "secret,id=s,data=x", "-o", o, img, "1M").CombinedOutput()
			if err == nil {
				break
			}
			if try == 8 || !strings.Contains(string(out), "Unable to get accurate CPU usage") {
				t.Fatalf("qemu-img create %s: %v\n%s", o, err, out)
			}
		}
		b, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		_, err = qcow2.Open(bytes.NewReader(b), int64(len(b)), qcow2.Options{})
		if !errors.Is(err, qcow2.ErrEncrypted) || !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("%s: %v", f, err)
		}
	}
}
