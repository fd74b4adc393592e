package main

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/loops-cli/loops/internal/testkit"
)

// notInCLI are packages loops must not link: their package init (tables,
// a pipe, the FIPS self-checks) would run in every command, and only the
// server (cmd/loops-serve) needs them. A prefix ends in "/".
var notInCLI = []string{
	"github.com/klauspost/compress/", // fast flate and zstd: blockloop/disk/codec/klauspost
	"github.com/hanwen/go-fuse/",     // the FUSE server: blockloop/userfs
	"crypto/rand",                    // pulled in by zstd
}

// deps lists the packages pkg links, as `go list -deps` with make build's
// CGO_ENABLED=0, each with its imports.
func deps(t *testing.T, pkg string) map[string][]string {
	t.Helper()
	c := exec.Command(testkit.Tool(t, "go"), "list", "-deps", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", pkg)
	c.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := c.Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	m := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		m[f[0]] = f[1:]
	}
	return m
}

func matches(pkg, pat string) bool {
	if strings.HasSuffix(pat, "/") {
		return pkg+"/" == pat || strings.HasPrefix(pkg, pat)
	}
	return pkg == pat
}

// TestCLIDoesNotLinkTheServer: loops links none of notInCLI (the error
// names the imports that bring each in); loops-serve links the fast
// decompressors, with which it reads what loops cannot.
func TestCLIDoesNotLinkTheServer(t *testing.T) {
	cli := deps(t, ".")
	for _, pat := range notInCLI {
		var edges []string // importer -> imported, from outside pat into it
		for imp, imports := range cli {
			for _, i := range imports {
				if matches(i, pat) && !matches(imp, pat) {
					edges = append(edges, imp+" -> "+i)
				}
			}
		}
		if len(edges) > 0 {
			slices.Sort(edges)
			t.Errorf("loops links %s (%s): its package init would run in every command; only loops-serve may link it", pat, strings.Join(edges, ", "))
		}
	}
	server := deps(t, "../loops-serve")
	for _, pkg := range []string{"github.com/klauspost/compress/zstd", "github.com/loops-cli/loops/blockloop/disk/codec/klauspost"} {
		if _, ok := server[pkg]; !ok {
			t.Errorf("loops-serve does not link %s: it reads zstd VM disk images for loops", pkg)
		}
	}
}
