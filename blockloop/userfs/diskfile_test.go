package userfs_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/loops-cli/loops/blockloop/userfs"
	"github.com/loops-cli/loops/internal/testkit"
)

// TestServeDisk: the virtual disk of a qcow2 image (zlib-compressed, over
// a raw backing file with writes of its own) is served as one file equal
// byte for byte to `qemu-img convert -O raw`; mode 0400, root's, out of
// reach of other users (no allow_other); the server ends itself, and
// removes its directory, when the file's last user closes it.
func TestServeDisk(t *testing.T) {
	testkit.RequireRoot(t)
	qemuImg := testkit.Tool(t, "qemu-img")
	dir := t.TempDir()
	base := filepath.Join(dir, "base.raw")
	data := bytes.Repeat([]byte("loops disk "), 300000)
	os.WriteFile(base, data, 0o644)
	img := filepath.Join(dir, "vm.qcow2")
	testkit.Run(t, qemuImg, "create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", img)
	testkit.Run(t, testkit.Tool(t, "qemu-io"), "-c", "write -P 0x5a 1M 8k", img)
	want := filepath.Join(dir, "want.raw")
	testkit.Run(t, qemuImg, "convert", "-O", "raw", img, want)
	wantData, _ := os.ReadFile(want)

	mp := mountDir(t)
	s, err := userfs.ServeDisk(context.Background(), img, mp, userfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	raw := filepath.Join(mp, userfs.DiskFile)
	if m := mountOf(mp); m == nil || m.FSType != "fuse.loops-disk" || m.Source != img {
		t.Errorf("mountinfo %+v, want fuse.loops-disk from %s", m, img)
	}
	fi, err := os.Stat(raw)
	if err != nil || fi.Mode().Perm() != 0o400 || fi.Size() != int64(len(wantData)) {
		t.Fatalf("stat %s: %v %v", raw, fi, err)
	}
	out, err := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "cat", raw).CombinedOutput()
	if err == nil {
		t.Errorf("nobody read the raw disk: %s", out[:min(len(out), 64)])
	}
	f, err := os.Open(raw)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(wantData))
	if n, err := f.ReadAt(got, 0); n != len(got) {
		t.Fatalf("read %d: %v", n, err)
	}
	if !bytes.Equal(got, wantData) {
		t.Error("the served disk differs from qemu-img convert -O raw")
	}
	checkPlainQcow2(t, dir, base)
	select {
	case <-s.Done():
		t.Fatal("the server ended while the file was open")
	case <-time.After(100 * time.Millisecond):
	}
	f.Close()
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the server did not end after the last close")
	}
	if _, err := os.Stat(mp); !os.IsNotExist(err) {
		t.Errorf("the mount directory is still there: %v", err)
	}
}

// checkPlainQcow2: an uncompressed qcow2 (512-byte and 64 KiB clusters:
// ranges on a page are spliced from the image, the others copied) reads
// as qemu-img reads it, in reads of every size and offset the kernel
// makes for 1 MiB, odd-sized and unaligned requests.
func checkPlainQcow2(t *testing.T, dir, raw string) {
	t.Helper()
	for _, cluster := range []string{"512", "65536"} {
		img := filepath.Join(dir, "plain-"+cluster+".qcow2")
		testkit.Run(t, testkit.Tool(t, "qemu-img"), "convert", "-f", "raw", "-O", "qcow2", "-o", "cluster_size="+cluster, raw, img)
		want, _ := os.ReadFile(raw)
		mp := mountDir(t)
		s, err := userfs.ServeDisk(context.Background(), img, mp, userfs.Options{})
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(filepath.Join(mp, userfs.DiskFile))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range [][2]int64{{0, 1 << 20}, {4096, 3 << 20}, {1000, 77777}, {int64(len(want)) - 5000, 5000}} {
			got := make([]byte, r[1])
			if n, err := f.ReadAt(got, r[0]); n != len(got) || !bytes.Equal(got, want[r[0]:r[0]+r[1]]) {
				t.Errorf("cluster %s: ReadAt(%d, %d) = %d bytes, %v, equal %v", cluster, r[1], r[0], n, err, bytes.Equal(got[:n], want[r[0]:r[0]+int64(n)]))
			}
		}
		f.Close()
		select {
		case <-s.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("the server did not end after the last close")
		}
	}
}
