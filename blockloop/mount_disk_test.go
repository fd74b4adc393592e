package blockloop

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/loops-cli/loops/blockloop/blocklooptest"
	"github.com/loops-cli/loops/blockloop/layer"
	"github.com/loops-cli/loops/blockloop/userfs"
	"github.com/loops-cli/loops/internal/testkit"
)

// serveDiskInProcess is MountOptions.ServeUserspace for VM disk images,
// with the server in the test process instead of a daemon.
func serveDiskInProcess(um ServeRequest) error {
	if !um.RawDisk {
		return errors.New("only raw disks are served in process")
	}
	var pvs []layer.Source
	for i, p := range um.PVs {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return err
		}
		// Open for as long as the test process: the server lives in it.
		pvs = append(pvs, layer.Source{Name: fmt.Sprintf("PV file %d", i), R: f, Size: st.Size()})
	}
	_, err := userfs.ServeDisk(context.Background(), um.Image, um.Mountpoint, userfs.Options{Disk: um.Disk, Layers: um.Layers, Keys: um.Keys, PVs: pvs})
	return err
}

// manyFiles writes n small files in nested directories and returns the
// tree with each file's sha256.
func manyFiles(t *testing.T, dir string, n int) (string, map[string]string) {
	t.Helper()
	src := filepath.Join(dir, "many")
	sums := map[string]string{}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("d%02d/f%04d.txt", i%40, i)
		data := []byte(fmt.Sprintf("file %d of the VM disk test\n", i))
		p := filepath.Join(src, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(data)
		sums[name] = hex.EncodeToString(h[:])
	}
	return src, sums
}

// TestMountDiskImages: a GPT disk with ext4 holding 2000 files in
// partition 2, converted by qemu-img to every format and variant loops
// reads, mounts in one call; every file reads back as written; umount
// detaches the device and the server ends; nothing is left.
func TestMountDiskImages(t *testing.T) {
	h, dir := testHost(t)
	h.RunDir = filepath.Join(dir, "run")
	qemuImg := testkit.Tool(t, "qemu-img")
	src, sums := manyFiles(t, dir, 2000)
	part := blocklooptest.Ext4(t, filepath.Join(dir, "p2.img"), "ROOTFS", src, 24<<20)
	raw := blocklooptest.Disk(t, filepath.Join(dir, "raw.img"), "gpt", []int{4, 24}, []string{"", part})
	variants := []struct {
		name string
		args []string
	}{
		{"qcow2", []string{"-O", "qcow2"}},
		{"qcow2-v2", []string{"-O", "qcow2", "-o", "compat=0.10"}},
		{"qcow2-zlib", []string{"-c", "-O", "qcow2"}},
		{"qcow2-zstd", []string{"-c", "-O", "qcow2", "-o", "compression_type=zstd"}},
		{"qcow2-extl2", []string{"-O", "qcow2", "-o", "extended_l2=on,cluster_size=128k"}},
		{"vmdk", []string{"-O", "vmdk"}},
		{"vmdk-stream", []string{"-O", "vmdk", "-o", "subformat=streamOptimized"}},
		{"vhdx", []string{"-O", "vhdx"}},
		{"vdi", []string{"-O", "vdi"}},
		{"vpc", []string{"-O", "vpc"}},
		{"vpc-force-size", []string{"-O", "vpc", "-o", "force_size=on"}},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			img := filepath.Join(dir, v.name+".img")
			testkit.Run(t, qemuImg, append(append([]string{"convert", "-f", "raw"}, v.args...), raw, img)...)
			mountDiskAndCheck(t, h, dir, img, sums)
		})
	}
	t.Run("overlay", func(t *testing.T) {
		base := filepath.Join(dir, "base.qcow2")
		testkit.Run(t, qemuImg, "convert", "-f", "raw", "-O", "qcow2", raw, base)
		ov := filepath.Join(dir, "overlay.qcow2")
		testkit.Run(t, qemuImg, "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", ov)
		// A write of the overlay's own, in the gap before partition 1.
		testkit.Run(t, testkit.Tool(t, "qemu-io"), "-c", "write -P 0xab 512k 64k", ov)
		mountDiskAndCheck(t, h, dir, ov, sums)
	})
}

func mountDiskAndCheck(t *testing.T, h *Host, dir, img string, sums map[string]string) {
	t.Helper()
	mp := filepath.Join(dir, "mnt")
	m, err := h.Mount(img, MountOptions{Mountpoint: mp, Partition: 2, ServeUserspace: serveDiskInProcess})
	if err != nil {
		t.Fatal(err)
	}
	if m.Plan.Disk == nil || !m.ReadOnly || m.Type != "ext4" || m.Label != "ROOTFS" {
		t.Errorf("mounted %+v", m)
	}
	blocklooptest.CheckTree(t, mp, sums)
	us, err := h.Unmount(mp, UnmountOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(us) != 1 || !us[0].Detached || !us[0].DiskServer || !us[0].DiskServerStopped || us[0].Image != img {
		t.Errorf("unmounted %+v", us)
	}
	assertClean(t, img, dir, mp)
	if left, _ := os.ReadDir(filepath.Join(h.RunDir, "disks")); len(left) > 0 {
		t.Errorf("server directories left: %v", left)
	}
}

// TestMountDiskReadWriteRefused: --rw on a VM disk image is refused with
// ErrDiskReadOnly, before anything is made.
func TestMountDiskReadWriteRefused(t *testing.T) {
	h, dir := testHost(t)
	h.RunDir = filepath.Join(dir, "run")
	img := filepath.Join(dir, "vm.qcow2")
	testkit.Run(t, testkit.Tool(t, "qemu-img"), "create", "-q", "-f", "qcow2", img, "8M")
	part := blocklooptest.Ext4(t, filepath.Join(dir, "fs.img"), "X", "", 4<<20)
	testkit.Run(t, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", part, img)
	mp := filepath.Join(dir, "mnt")
	_, err := h.Mount(img, MountOptions{Mountpoint: mp, ReadWrite: true, ServeUserspace: serveDiskInProcess})
	if !errors.Is(err, ErrDiskReadOnly) {
		t.Fatalf("Mount --rw = %v, want ErrDiskReadOnly", err)
	}
	assertClean(t, img, dir, mp)
}
