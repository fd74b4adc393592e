package testkit

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Watchdog panics, with every goroutine's stack, when one fuzz input takes
// over d: the fuzzer then keeps the input as a failing one (a t.Fatal from
// another goroutine could not stop the stuck one). Call it first in the
// fuzz function: defer testkit.Watchdog(t, 5*time.Second)().
func Watchdog(t testing.TB, d time.Duration) (stop func()) {
	name := t.Name()
	timer := time.AfterFunc(d, func() {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		panic(fmt.Sprintf("%s: fuzz input took over %v:\n%s", name, d, buf[:n]))
	})
	return func() { timer.Stop() }
}

// WriteSeed writes testdata/fuzz/<target>/<name>, a seed corpus file (go
// test fuzz v1) of one []byte value, for the TestWriteFuzzSeeds tests that
// regenerate the committed seeds.
func WriteSeed(t testing.TB, target, name string, data []byte) {
	t.Helper()
	WriteSeedValues(t, target, name, fmt.Sprintf("[]byte(%q)", data))
}

// WriteSeedValues is WriteSeed for a fuzz target of other arguments: values
// are the file's lines, one an argument ("uint64(0x7)", "bool(true)").
func WriteSeedValues(t testing.TB, target, name string, values ...string) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", target)
	os.MkdirAll(dir, 0o755)
	body := "go test fuzz v1\n" + strings.Join(values, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// SkipUnlessWritingSeeds skips a TestWriteFuzzSeeds, which regenerates
// the committed seeds in testdata/fuzz, unless LOOPS_WRITE_FUZZ_SEEDS=1.
func SkipUnlessWritingSeeds(t testing.TB) {
	t.Helper()
	if os.Getenv("LOOPS_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set LOOPS_WRITE_FUZZ_SEEDS=1 to regenerate testdata/fuzz")
	}
}
