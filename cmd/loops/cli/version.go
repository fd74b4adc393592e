package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// version and commit are stamped by the build (make build):
//
//	go build -ldflags "-X github.com/loops-cli/loops/cmd/loops/cli.version=1.2.0
//	  -X github.com/loops-cli/loops/cmd/loops/cli.commit=$(git rev-parse HEAD)"
//
// Unstamped, they come from the build info Go records itself: the module
// version and the VCS revision (`go build` in a git checkout, without
// -buildvcs=false).
var (
	version string
	commit  string
)

// BuildInfo is what `loops --version` reports.
type BuildInfo struct {
	Version   string // "1.2.0", a pseudo-version, or "devel"
	Commit    string // the full revision, or "unknown"
	Time      string // the commit's time (RFC 3339), if known
	Modified  bool   // built from a tree with uncommitted changes
	GoVersion string // "go1.26.8"
	Platform  string // "linux/amd64"
}

// readBuildInfo combines the stamped variables with Go's build info.
func readBuildInfo() BuildInfo {
	b := BuildInfo{Version: version, Commit: commit, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		b.GoVersion = bi.GoVersion
		if b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if b.Commit == "" {
					b.Commit = s.Value
				}
			case "vcs.time":
				b.Time = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	if b.Version == "" {
		b.Version = "devel"
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	// A stamped "-dirty" (git describe --dirty) says the same as vcs.modified.
	if strings.HasSuffix(b.Version, "-dirty") {
		b.Modified = true
	}
	return b
}

// versionText is the output of `loops --version`: the version on the first
// line (as `loops version X`), then the commit and the Go toolchain.
func versionText() string {
	b := readBuildInfo()
	var s strings.Builder
	fmt.Fprintf(&s, "loops version %s\n", b.Version)
	fmt.Fprintf(&s, "commit: %s", b.Commit)
	var notes []string
	if b.Time != "" {
		notes = append(notes, b.Time)
	}
	if b.Modified {
		notes = append(notes, "with uncommitted changes")
	}
	if len(notes) > 0 {
		fmt.Fprintf(&s, " (%s)", strings.Join(notes, ", "))
	}
	fmt.Fprintf(&s, "\ngo: %s %s\n", b.GoVersion, b.Platform)
	return s.String()
}
