package blockloop

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/loops-cli/loops/blockloop/blocklooptest"
	"github.com/loops-cli/loops/blockloop/kernfile"
	"github.com/loops-cli/loops/blockloop/layer/luks/lukstest"
	"github.com/loops-cli/loops/internal/testkit"
)

var luksPass = []byte("a passphrase for the luks test")

// luksExt4 makes an ext4 image of fsMiB holding src and encrypts it in
// place with cryptsetup (8 MiB more: the LUKS header, data at 4 MiB).
func luksExt4(t *testing.T, dir, name, label, src string, fsMiB int64, extra ...string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	// 4096-byte blocks: the filesystem suits 4096-byte LUKS sectors too.
	testkit.Run(t, testkit.Tool(t, "mkfs.ext4"), "-q", "-F", "-b", "4096", "-L", label, "-d", src, p, strconv.FormatInt(fsMiB, 10)+"M")
	if err := os.Truncate(p, (fsMiB+8)<<20); err != nil {
		t.Fatal(err)
	}
	lukstest.Encrypt(t, p, luksPass, "8M", extra...)
	return p
}

// askWith is a PassphraseFunc answering pass, counting its calls.
func askWith(pass []byte, calls *int) PassphraseFunc {
	return func(l Layer, attempt int) ([]byte, error) {
		*calls++
		if l.Kind != LayerLUKS || attempt != *calls {
			return nil, errors.New("asked for the wrong layer or attempt")
		}
		return bytes.Clone(pass), nil
	}
}

// TestMountLUKS: images encrypted by cryptsetup (LUKS2 alone; LUKS1 in
// partition 2 of a GPT disk, raw and qcow2) mount in one call with the
// passphrase: every file reads back as written, block list shows the
// stack, umount takes everything down. A wrong passphrase is asked three
// times, fails with ErrNoKey and leaves nothing; without a passphrase the
// plan shows the locked layer.
// checkServedLoop: the loop device on a served disk file reads ahead at
// least servedReadAheadKB, as sysfs shows.
func checkServedLoop(t *testing.T, dev string) {
	t.Helper()
	ra := kernfile.SysInt(filepath.Join("/sys/block", filepath.Base(dev), "queue"), "read_ahead_kb")
	if ra < servedReadAheadKB {
		t.Errorf("%s: read_ahead_kb %d, want at least %d", dev, ra, servedReadAheadKB)
	}
}

func TestMountLUKS(t *testing.T) {
	h, dir := testHost(t)
	h.RunDir = filepath.Join(dir, "run")
	src, sums := manyFiles(t, dir, 300)

	mountAndCheck := func(t *testing.T, img string, part int, label, version string) {
		t.Helper()
		mp := filepath.Join(dir, "mnt")
		calls := 0
		m, err := h.Mount(img, MountOptions{Mountpoint: mp, Partition: part, Passphrase: askWith(luksPass, &calls), ServeUserspace: serveDiskInProcess})
		if err != nil {
			t.Fatal(err)
		}
		n := len(m.Plan.Layers)
		if calls != 1 || !m.ReadOnly || m.Type != "ext4" || m.Label != label || n == 0 || m.Plan.Layers[n-1].Name != version || m.Plan.Layers[n-1].Locked {
			t.Errorf("mounted %+v (asked %d times)", m, calls)
		}
		blocklooptest.CheckTree(t, mp, sums)
		checkServedLoop(t, m.Device)
		devs, _ := h.List()
		found := false
		for _, d := range devs {
			if d.Image == img {
				found = true
				if !slices.Equal(d.Layers, []string{"luks"}) {
					t.Errorf("block list: %s has layers %q, want [luks]", d.Path, d.Layers)
				}
			}
		}
		if !found {
			t.Errorf("block list does not show %s", img)
		}
		us, err := h.Unmount(mp, UnmountOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(us) != 1 || !us[0].Detached || !us[0].DiskServer || !us[0].DiskServerStopped {
			t.Errorf("unmounted %+v", us)
		}
		assertClean(t, img, dir, mp)
		if left, _ := os.ReadDir(filepath.Join(h.RunDir, "disks")); len(left) > 0 {
			t.Errorf("server directories left: %v", left)
		}
	}

	t.Run("luks2", func(t *testing.T) {
		img := luksExt4(t, dir, "luks2.img", "SECRET", src, 24, "--label", "CRYPT")
		mountAndCheck(t, img, 0, "SECRET", "LUKS2")
	})
	t.Run("luks2-argon2id-4k", func(t *testing.T) {
		img := luksExt4(t, dir, "luks2k.img", "SECRET", src, 24, append([]string{"--sector-size", "4096"}, lukstest.FastArgon2id...)...)
		mountAndCheck(t, img, 0, "SECRET", "LUKS2")
	})
	t.Run("gpt-luks1", func(t *testing.T) {
		boot := blocklooptest.Ext4(t, filepath.Join(dir, "boot.img"), "BOOT", "", 4<<20)
		p2 := luksExt4(t, dir, "p2.img", "ROOTFS", src, 24, "--type", "luks1", "--cipher", "aes-cbc-essiv:sha256", "--key-size", "256")
		raw := blocklooptest.Disk(t, filepath.Join(dir, "gpt.img"), "gpt", []int{4, 32}, []string{boot, p2})
		// Two partitions hold something: the encrypted one counts.
		if _, plan, _ := h.PlanMount(raw, MountOptions{}); !errors.Is(plan.Err, ErrChoosePartition) {
			t.Errorf("plan without --partition: %v, want ErrChoosePartition", plan.Err)
		}
		mountAndCheck(t, raw, 2, "ROOTFS", "LUKS1")
		qcow := filepath.Join(dir, "gpt.qcow2")
		testkit.Run(t, testkit.Tool(t, "qemu-img"), "convert", "-f", "raw", "-O", "qcow2", raw, qcow)
		mountAndCheck(t, qcow, 2, "ROOTFS", "LUKS1")
	})
	t.Run("locked", func(t *testing.T) {
		img := luksExt4(t, dir, "locked.img", "SECRET", src, 24, "--label", "CRYPT")
		_, plan, err := h.PlanMount(img, MountOptions{})
		if err != nil || plan.Route != RouteNone || !errors.Is(plan.Err, ErrLocked) || !errors.Is(plan.Err, ErrEncrypted) ||
			len(plan.Layers) != 1 || !plan.Layers[0].Locked || plan.Layers[0].Label != "CRYPT" {
			t.Errorf("PlanMount without a passphrase = %+v, %v", plan, err)
		}
		mp := filepath.Join(dir, "mnt")
		calls := 0
		_, err = h.Mount(img, MountOptions{Mountpoint: mp, Passphrase: askWith([]byte("wrong"), &calls), ServeUserspace: serveDiskInProcess})
		if !errors.Is(err, ErrNoKey) || calls != DefaultPassphraseTries {
			t.Errorf("Mount with a wrong passphrase = %v (asked %d times), want ErrNoKey after %d", err, calls, DefaultPassphraseTries)
		}
		assertClean(t, img, dir, mp)
		if _, err := h.Mount(img, MountOptions{Mountpoint: mp, ReadWrite: true, Passphrase: askWith(luksPass, new(int)), ServeUserspace: serveDiskInProcess}); !errors.Is(err, ErrDiskReadOnly) {
			t.Errorf("Mount --rw = %v, want ErrDiskReadOnly", err)
		}
		assertClean(t, img, dir, mp)
	})
}
