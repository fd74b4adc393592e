package vmdk

import (
	"sort"

	"github.com/loops-cli/loops/blockloop/readkit"
)

// ReadAt reads the virtual disk. It is safe for concurrent use. Reads past
// Size return io.EOF.
func (im *Image) ReadAt(p []byte, off int64) (int, error) {
	p, eof := readkit.Clip("vmdk", p, off, im.size)
	if len(p) == 0 {
		return 0, eof
	}
	done := 0
	for done < len(p) {
		pos := off + int64(done)
		i := sort.Search(len(im.extents), func(i int) bool {
			e := im.extents[i]
			return e.start+e.length > pos
		})
		if i == len(im.extents) {
			clear(p[done:])
			break
		}
		e := im.extents[i]
		n := int(min(int64(len(p)-done), e.start+e.length-pos))
		q := p[done : done+n]
		var err error
		switch e.kind {
		case extZero:
			clear(q)
		case extFlat:
			err = readFull(e.r, e.rsize, q, e.base+pos-e.start)
		case extSparse:
			err = e.sp.read(q, pos-e.start, pos, im.parent)
		}
		if err != nil {
			return done, err
		}
		done += n
	}
	return len(p), eof
}
