package blockloop

import (
	"errors"
	"fmt"
	"io"

	"github.com/loops-cli/loops/blockloop/disk"
	"github.com/loops-cli/loops/blockloop/probe"
)

// DiskImage is a virtual machine disk image (qcow2, vmdk, vhdx, vdi, vpc) as
// loops reads it: its chain of files and what its virtual disk holds. A
// loop device cannot read such an image; loops serves the virtual disk as
// a file through FUSE (a read-only raw view) and mounts from that, or
// reads a filesystem it has a userspace reader for straight from it.
type DiskImage struct {
	Format      string       // "qcow2", "vmdk", "vhdx", "vdi", "vpc"
	VirtualSize int64        // bytes of the virtual disk
	Layers      []disk.Layer // the image, then each file it refers to
	// Inner is the probe of the virtual disk (its partition table and
	// filesystems); nil when the image could not be read (Err).
	Inner *probe.Result
	Err   error
}

// ErrDiskReadOnly: read-write was asked of a VM disk image, which loops
// reads only (writing needs the format's allocation and refcounts).
var ErrDiskReadOnly = errors.New("VM disk images are read-only")

// ErrDiskImage is matched by the errors of a VM disk image loops cannot
// read (its format, its chain, an encrypted image).
var ErrDiskImage = errors.New("cannot read this VM disk image")

// openDiskImage reads the VM disk image at abs and probes its virtual disk
// (from off, size bytes when size > 0), through h.OpenVirtualDisk when
// this program lacks the image's decompressor. Needs read access only.
func (h *Host) openDiskImage(abs, format string, off, size int64) *DiskImage {
	d, err := disk.Open(abs)
	if errors.Is(err, disk.ErrMissingCodec) && h.OpenVirtualDisk != nil {
		d, err = h.OpenVirtualDisk(abs)
	}
	if err != nil {
		msg := fmt.Sprintf("this %s disk image cannot be read: %v", format, err)
		return &DiskImage{Format: format, Err: &multiError{msg: msg, errs: []error{ErrDiskImage, err}}}
	}
	defer d.Close()
	di := &DiskImage{Format: d.Format(), VirtualSize: d.Size(), Layers: d.Layers}
	var r io.ReaderAt = d
	n := d.Size()
	if off > 0 || size > 0 {
		if off > n {
			di.Err = fmt.Errorf("offset %d is past the end of the virtual disk (%d bytes)", off, n)
			return di
		}
		n = rangeEnd(off, size, n) - off
		r = sectionOf(d, off, n)
	}
	inner, err := probe.Image(r, n, probe.Options{Part: off != 0 || size != 0})
	if err != nil {
		di.Err = &multiError{msg: "read the virtual disk: " + err.Error(), errs: []error{ErrDiskImage, err}}
		return di
	}
	di.Inner = &inner
	return di
}
