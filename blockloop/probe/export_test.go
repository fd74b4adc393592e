package probe

import "io"

// What the external tests (fuzz_decide_test.go) use of this package's own.
var FuzzSeeds = fuzzSeeds

func SparseImage(data []byte, size int64) io.ReaderAt { return sparseImage{data, size} }
