package lvm

import "hash/crc32"

// initialCRC is lvm2's seed for every checksum (INITIAL_CRC).
const initialCRC = 0xf597a6cf

// calcCRC is lvm2's calc_crc: the IEEE CRC-32 from the given seed, without
// the final inversion.
func calcCRC(seed uint32, b []byte) uint32 {
	return ^crc32.Update(^seed, crc32.IEEETable, b)
}
