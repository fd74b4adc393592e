package fat

import (
	"syscall"
)

// findSlots returns the index of a run of k free entries in directory d,
// growing it by a cluster when it has none (ENOSPC when it cannot grow).
func (d *Node) findSlots(k int) (int, error) {
	v := d.v
	run := 0
	total := len(d.buf) / 32
	end := false
	for i := 0; i < total; i++ {
		b := d.buf[32*i]
		if b == 0 {
			end = true
		}
		if end || b == 0xE5 {
			run++
			if run == k {
				return i - k + 1, nil
			}
			continue
		}
		run = 0
	}
	if d.isRoot && v.b.bits != 32 {
		return 0, errnoErr(syscall.ENOSPC, "%w (%d entries)", ErrRootFull, total)
	}
	cs := v.b.clusterSize
	need := (int64(k-run)*32 + cs - 1) / cs
	if int64(len(d.buf))+need*cs > DefaultLimits.MaxDirSize {
		return 0, errnoErr(syscall.ENOSPC, "directory %s has the most entries FAT allows", d.name)
	}
	// Zeroed on the image now; linked to the directory on the image by the
	// next checkpoint, after the zeros are durable: until then the entries
	// placed in them are not part of the volume (lost at most).
	add, err := v.allocate(int(need), d.chain[len(d.chain)-1])
	if err != nil {
		return 0, err
	}
	if err := v.zeroClusters(add); err != nil {
		v.release(add)
		return 0, err
	}
	prev := d.chain[len(d.chain)-1]
	for _, c := range add {
		v.val[prev] = c
		prev = c
	}
	v.live[d] = true
	d.chain = append(d.chain, add...)
	d.buf = append(d.buf, make([]byte, need*cs)...)
	return total - run, nil
}

// placeEntry writes the long-name entries of u (if lfn) and the 8.3
// entry of c into directory d, and adds c to it.
func (d *Node) placeEntry(c *Node, u []uint16, lfn bool) error {
	var lfns []byte
	if lfn {
		lfns = longNameEntries(u, c.de.name)
	}
	k := len(lfns)/32 + 1
	at, err := d.findSlots(k)
	if err != nil {
		return err
	}
	off := int64(at) * 32
	copy(d.buf[off:], lfns)
	c.parent, c.slot, c.nslots = d, at+k-1, k
	c.de.cluster = c.cluster
	c.diskCluster, c.diskSize = c.de.cluster, c.de.size
	d.v.putDirent(d.buf[off+int64(len(lfns)):off+int64(32*k)], &c.de)
	if err := d.writeDir(off, off+int64(32*k)); err != nil {
		return err
	}
	d.addKid(c)
	return nil
}

// eraseEntry marks c's entries in its parent deleted (0xE5) on the image.
func (c *Node) eraseEntry() error {
	d := c.parent
	first := int64(c.slot-c.nslots+1) * 32
	for i := first; i <= int64(c.slot)*32; i += 32 {
		d.buf[i] = 0xE5
	}
	d.dropKid(c)
	return d.writeDir(first, int64(c.slot+1)*32)
}

// prepare checks that name can be made in directory d and returns its
// UTF-16 form.
func (d *Node) prepare(name string) ([]uint16, error) {
	v := d.v
	if v.closed {
		return nil, ErrClosed
	}
	if !d.isDir {
		return nil, errnoErr(syscall.ENOTDIR, "%s", d.name)
	}
	if err := d.load(); err != nil {
		return nil, err
	}
	if d.unlinked {
		return nil, errnoErr(syscall.ENOENT, "directory %s was removed", d.name)
	}
	u, err := checkName(name)
	if err != nil {
		return nil, err
	}
	if d.kids[foldKey(name)] != nil {
		return nil, errnoErr(syscall.EEXIST, "%s", name)
	}
	return u, nil
}

// newChild makes the node of name in d, not yet placed: its 8.3 name,
// case bits and times (now); u is name in UTF-16 and lfn whether it needs
// long-name entries.
func (d *Node) newChild(name string, dir bool) (c *Node, u []uint16, lfn bool, err error) {
	v := d.v
	if u, err = d.prepare(name); err != nil {
		return nil, nil, false, err
	}
	short, ntCase, lfn, err := d.shortAlias(u)
	if err != nil {
		return nil, nil, false, err
	}
	c = &Node{v: v, name: name, isDir: dir, ino: v.nextIno}
	v.nextIno++
	c.de.name, c.de.ntCase = short, ntCase
	c.de.attr = AttrArchive
	if dir {
		c.de.attr = AttrDir
	}
	now := v.now()
	c.setTimes(&now, &now, &now)
	return c, u, lfn, nil
}

// Create makes an empty file name in directory d (open(2) with O_CREAT).
// It fails with EEXIST when the name (or an 8.3 name it matches) is taken.
func (d *Node) Create(name string) (*Node, error) {
	v := d.v
	v.mu.Lock()
	defer v.mu.Unlock()
	c, u, lfn, err := d.newChild(name, false)
	if err != nil {
		return nil, err
	}
	if err := d.placeEntry(c, u, lfn); err != nil {
		return nil, err
	}
	return c, nil
}

// Mkdir makes directory name in d (mkdir(2)): a zeroed cluster with "."
// and "..", its chain, then its entry in d.
func (d *Node) Mkdir(name string) (*Node, error) {
	v := d.v
	v.mu.Lock()
	defer v.mu.Unlock()
	c, u, lfn, err := d.newChild(name, true)
	if err != nil {
		return nil, err
	}
	cs, err := v.allocate(1, 0)
	if err != nil {
		return nil, err
	}
	c.cluster, c.chain = cs[0], cs
	c.buf = make([]byte, v.b.clusterSize)
	c.kids, c.shorts, c.loaded = map[string]*Node{}, map[[11]byte]*Node{}, true
	dot := c.de
	dot.name = [11]byte{'.', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '}
	dot.ntCase = 0
	dot.cluster = c.cluster
	v.putDirent(c.buf[0:32], &dot)
	dot.name[1] = '.'
	dot.cluster = d.dotdotCluster()
	v.putDirent(c.buf[32:64], &dot)
	// The cluster, then its FAT entry, then the entry naming it, each
	// durable before the next.
	err = v.write(c.buf, v.clusterOff(c.cluster))
	if err == nil {
		err = v.syncImage()
	}
	if err != nil {
		v.release(cs)
		return nil, err
	}
	if err := v.flushEntries(cs, func(_, _, _ uint32) bool { return true }); err != nil {
		return nil, err
	}
	if err := v.syncImage(); err != nil {
		return nil, err
	}
	if err := d.placeEntry(c, u, lfn); err != nil {
		v.freeLater(cs)
		return nil, err
	}
	return c, nil
}

// dotdotCluster is what ".." of a subdirectory of d holds: d's first
// cluster, 0 for the root.
func (d *Node) dotdotCluster() uint32 {
	if d.isRoot {
		return 0
	}
	return d.cluster
}

// Remove removes name from directory d: a file (unlink(2)) or, with dir,
// an empty directory (rmdir(2)). The entries are marked deleted on the
// image at once; the clusters are freed by the next checkpoint (a file
// still open keeps them until its last Release).
func (d *Node) Remove(name string, dir bool) error {
	v := d.v
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return ErrClosed
	}
	c, err := d.lookupLocked(name)
	if err != nil {
		return err
	}
	if err := c.removable(dir); err != nil {
		return err
	}
	return c.unlinkLocked()
}

// removable checks c can be removed as a file (dir false) or directory.
func (c *Node) removable(dir bool) error {
	switch {
	case dir && !c.isDir:
		return errnoErr(syscall.ENOTDIR, "%s", c.name)
	case !dir && c.isDir:
		return errnoErr(syscall.EISDIR, "%s", c.name)
	case c.isDir:
		if err := c.load(); err != nil {
			return err
		}
		if len(c.list) > 0 {
			return errnoErr(syscall.ENOTEMPTY, "%s", c.name)
		}
	}
	return nil
}

func (c *Node) unlinkLocked() error {
	if err := c.eraseEntry(); err != nil {
		return err
	}
	c.unlinked = true
	if c.opens > 0 {
		c.v.live[c] = true // its clusters go at its last release
		return nil
	}
	delete(c.v.live, c)
	c.v.freeLater(c.chain)
	c.chain = nil
	return nil
}

// Rename moves name of directory od to newName in directory nd
// (rename(2)), replacing a file or an empty directory there unless
// noReplace (then EEXIST). On the image: the new entries' room is made
// first, then the replaced entry and the old ones are marked deleted and
// synced, then the new ones written; the replaced one's clusters are freed
// by the next checkpoint. Stopped anywhere, the image has lost clusters at
// most.
func (v *Volume) Rename(od *Node, name string, nd *Node, newName string, noReplace bool) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return ErrClosed
	}
	c, err := od.lookupLocked(name)
	if err != nil {
		return err
	}
	u, err := checkName(newName)
	if err != nil {
		return err
	}
	if !nd.isDir {
		return errnoErr(syscall.ENOTDIR, "%s", nd.name)
	}
	if err := nd.load(); err != nil {
		return err
	}
	if c.isDir {
		for p := nd; p != nil; p = p.parent {
			if p == c {
				return errnoErr(syscall.EINVAL, "%s cannot move into itself", c.name)
			}
		}
	}
	target := nd.kids[foldKey(newName)]
	if target == c {
		if c.name == newName {
			return nil
		}
		target = nil // a new case of the same name
	}
	if target != nil {
		if noReplace {
			return errnoErr(syscall.EEXIST, "%s", newName)
		}
		if c.isDir != target.isDir {
			if c.isDir {
				return errnoErr(syscall.ENOTDIR, "%s", newName)
			}
			return errnoErr(syscall.EISDIR, "%s", newName)
		}
		if err := target.removable(target.isDir); err != nil {
			return err
		}
	}
	// The old names leave the lookup tables first, so that the new
	// alias may reuse them.
	od.dropKid(c)
	if target != nil {
		nd.dropKid(target)
	}
	restore := func() {
		od.addKid(c)
		if target != nil {
			nd.addKid(target)
		}
	}
	short, ntCase, lfn, err := nd.shortAlias(u)
	if err != nil {
		restore()
		return err
	}
	var lfns []byte
	if lfn {
		lfns = longNameEntries(u, short)
	}
	k := len(lfns)/32 + 1
	at, err := nd.findSlots(k)
	if err != nil {
		restore()
		return err
	}
	if target != nil {
		if err := target.eraseEntryKept(); err != nil {
			return err
		}
		target.unlinked = true
	}
	if err := c.eraseEntryKept(); err != nil {
		return err
	}
	// The old entry gone on the image before the new one is there: never
	// two entries for the same clusters.
	if err := v.syncImage(); err != nil {
		return err
	}
	c.name = newName
	c.de.name, c.de.ntCase = short, ntCase
	off := int64(at) * 32
	copy(nd.buf[off:], lfns)
	c.parent, c.slot, c.nslots = nd, at+k-1, k
	// What the image's FAT has for it; the next checkpoint writes the rest.
	c.de.cluster, c.de.size = c.diskCluster, c.diskSize
	v.putDirent(nd.buf[off+int64(len(lfns)):off+int64(32*k)], &c.de)
	if err := nd.writeDir(off, off+int64(32*k)); err != nil {
		return err
	}
	nd.addKid(c)
	if c.isDir && od != nd {
		if err := c.load(); err == nil && len(c.buf) >= 64 && string(c.buf[32:43]) == "..         " {
			dd := parseDirent(c.buf[32:64])
			dd.cluster = nd.dotdotCluster()
			v.putDirent(c.buf[32:64], &dd)
			if err := c.writeDir(32, 64); err != nil {
				return err
			}
		}
	}
	if target != nil {
		if target.opens > 0 {
			v.live[target] = true // its clusters go at its last release
		} else {
			delete(v.live, target)
			v.freeLater(target.chain)
			target.chain = nil
		}
	}
	return nil
}

// eraseEntryKept marks c's entries deleted on the image; the lookup tables
// were updated by the caller.
func (c *Node) eraseEntryKept() error {
	d := c.parent
	first := int64(c.slot-c.nslots+1) * 32
	for i := first; i <= int64(c.slot)*32; i += 32 {
		d.buf[i] = 0xE5
	}
	for i, k := range d.list {
		if k == c {
			d.list = append(d.list[:i], d.list[i+1:]...)
			break
		}
	}
	return d.writeDir(first, int64(c.slot+1)*32)
}

// Name is n's name ("/" for the root).
func (n *Node) Name() string {
	n.v.mu.Lock()
	defer n.v.mu.Unlock()
	if n.isRoot {
		return "/"
	}
	return n.name
}
