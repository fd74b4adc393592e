package probe

import "fmt"

// Firmware ("fake") RAID members: metadata the controller's BIOS writes at
// the end of each disk (libblkid isw_raid.c, lsi_raid.c, via_raid.c,
// silicon_raid.c, nvidia_raid.c, promise_raid.c, highpoint_raid.c,
// adaptec_raid.c, jmicron_raid.c). blkid looks for them on whole disks and
// image files only, of 64 KiB or more.

// lastSector returns n bytes at sector s counted from the end (1: the
// last sector), on a whole disk or image of at least 64 KiB.
func lastSector(rd *reader, s int64, n int) []byte {
	if !rd.whole || rd.size < 0x10000 {
		return nil
	}
	return rd.at((rd.size/512-s)*512, n)
}

func probeLSI(rd *reader, p *Result) bool {
	b := lastSector(rd, 1, 6)
	return b != nil && string(b) == "$XIDE$" && volume(p, "lsi_mega_raid_member")
}

func probeVIA(rd *reader, p *Result) bool {
	b := lastSector(rd, 1, 51)
	if b == nil || le16(b, 0) != 0xAA55 || b[2] > 2 {
		return false
	}
	var sum byte
	for _, c := range b[:50] {
		sum += c
	}
	if sum != b[50] {
		return false
	}
	p.Version = fmt.Sprint(b[2])
	return volume(p, "via_raid_member")
}

func probeSilicon(rd *reader, p *Result) bool {
	b := lastSector(rd, 1, 512)
	if b == nil || le32(b, 0x60) != 0x2F000000 || b[0x116] >= 8 {
		return false
	}
	var sum int
	for i := 0; i < 0x13E; i += 2 {
		sum += int(le16(b, i))
	}
	if uint16(-sum) != le16(b, 0x13E) {
		return false
	}
	p.Version = fmt.Sprintf("%d.%d", le16(b, 0x10A), le16(b, 0x108))
	return volume(p, "silicon_medley_raid_member")
}

func probeNvidia(rd *reader, p *Result) bool {
	b := lastSector(rd, 2, 18)
	if b == nil || string(b[:6]) != "NVIDIA" {
		return false
	}
	p.Version = fmt.Sprint(le16(b, 16))
	return volume(p, "nvidia_raid_member")
}

func probePromise(rd *reader, p *Result) bool {
	if !rd.whole || rd.size < 0x40000 {
		return false
	}
	n := rd.size >> 9
	for _, s := range []int64{63, 255, 256, 16, 399, 591, 675, 735, 911, 974, 991, 951, 3087} {
		if n < s {
			continue
		}
		b := rd.at((n-s)<<9, 24)
		if b == nil {
			return false
		}
		if string(b) == "Promise Technology, Inc." {
			return volume(p, "promise_fasttrack_raid_member")
		}
	}
	return false
}

func probeHPT45x(rd *reader, p *Result) bool {
	b := lastSector(rd, 11, 4)
	if b == nil || le32(b, 0) != 0x5a7816f3 && le32(b, 0) != 0x5a7816fd {
		return false
	}
	return volume(p, "hpt45x_raid_member")
}

func probeHPT37x(rd *reader, p *Result) bool {
	if !rd.whole {
		return false
	}
	b := rd.at(4608+32, 4)
	if b == nil || string(b) != "\xf0\x16\x78\x5a" && string(b) != "\xfd\x16\x78\x5a" {
		return false
	}
	return volume(p, "hpt37x_raid_member")
}

func probeAdaptec(rd *reader, p *Result) bool {
	b := lastSector(rd, 1, 512)
	if b == nil || string(b[256:260]) != "DPTM" || string(b[0:4]) != "\x37\xfc\x4d\x1e" {
		return false
	}
	p.Version = fmt.Sprint(b[63])
	return volume(p, "adaptec_raid_member")
}

func probeJMicron(rd *reader, p *Result) bool {
	b := lastSector(rd, 1, 6)
	if b == nil || string(b[:2]) != "JM" {
		return false
	}
	p.Version = fmt.Sprintf("%d.%d", b[3], b[2])
	return volume(p, "jmicron_raid_member")
}
