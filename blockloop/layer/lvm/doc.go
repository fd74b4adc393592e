// Package lvm reads LVM2 physical volumes and the logical volumes on them
// in userspace, read-only, without device-mapper or lvm2: an io.ReaderAt
// over a PV in, an io.ReaderAt over an LV out. It is what `loops mount`
// reads an LVM disk through, where `vgchange -ay; mount /dev/VG/LV` would
// need device-mapper, root and the host's LVM (and clash with the host's
// VG names).
//
// It reads:
//
//   - the label ("LABELONE", type "LVM2 001") in one of the first four
//     512-byte sectors, its CRC, and the PV header after it: the PV's UUID,
//     its device size, its data areas and metadata areas ([ReadPV], like
//     `pvs`);
//   - each metadata area's header (magic " LVM2 x[5A%r0N*>", CRC) and its
//     circular buffer: the raw location of the latest metadata copy (which
//     may wrap past the end of the area to just after the header), checked
//     against its CRC;
//   - the VG's text metadata (the lvm2 "Text Format Volume Group"): the
//     VG's name, UUID, seqno and extent size, its PVs (UUID, pe_start,
//     pe_count), its LVs and their segments;
//   - LVs of `striped` segments (linear ones are striped with one stripe)
//     over one or more PVs ([Assemble] matches them by UUID, like
//     `vgchange -ay`, and takes the metadata of the highest seqno;
//     [VG.Open], like reading /dev/VG/LV). Thin, thin-pool, raid, mirror,
//     cache, vdo, snapshot and other segment types are refused naming the
//     type ([ErrUnsupported]).
//
// Nothing needs a privilege beyond reading the PVs.
//
// # Bounds
//
// The reader is meant for hostile disks. The metadata text read is at most
// [MaxMetadataSize]; the parser limits nesting ([MaxDepth]), items per
// section and array, and numbers to int64; every extent count, stripe and
// PV offset is checked against overflow and against the PV's size. No
// input makes it panic, hang or allocate beyond these limits (fuzzed).
package lvm
