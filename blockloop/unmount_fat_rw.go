package blockloop

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// rwServerEndTimeout bounds how long `loops umount` waits for the server
// of a read-write FAT mount to write everything and mark the volume clean.
const rwServerEndTimeout = 30 * time.Second

// isUserspaceRW tells whether m is a read-write mount of loops' userspace
// FAT server.
func isUserspaceRW(m MountEntry) bool {
	return isUserspace(m) && !m.ReadOnly() && rwUserspaceTypes[m.FSType[len("fuse."):]]
}

// flushUserspaceRW asks the server of a read-write mount to write
// everything to the image (fsync(2) of its root directory: the whole
// volume is synced), as sync(1) does before umount.
func flushUserspaceRW(m MountEntry) error {
	fd, err := unix.Open(m.Mountpoint, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Fsync(fd)
}

// waitServerDone waits until the server of a read-write mount of image
// has closed the volume (marked it clean) and dropped its lock, at most
// timeout; it tells whether it did.
func waitServerDone(image string, timeout time.Duration) bool {
	f, err := os.Open(image)
	if err != nil {
		return false
	}
	defer f.Close()
	deadline := time.Now().Add(timeout)
	for {
		if unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB) == nil {
			unix.Flock(int(f.Fd()), unix.LOCK_UN)
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}
