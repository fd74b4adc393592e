// Command gen-docs writes loops' man pages (docs/man) and CLI reference
// (docs/reference) from the command tree, with a fixed date so the output
// is reproducible: go run ./cmd/gen-docs docs
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra/doc"

	"github.com/loops-cli/loops/cmd/loops/cli"
)

// docDate is the date printed in the man pages; change it on a release.
var docDate = time.Date(2026, time.November, 27, 0, 0, 0, 0, time.UTC)

func main() {
	dir := "docs"
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	if err := generate(dir); err != nil {
		fmt.Fprintln(os.Stderr, "gen-docs:", err)
		os.Exit(1)
	}
}

// generate writes dir/man/*.1 and dir/reference/*.md, replacing what was
// there.
func generate(dir string) error {
	io, _, _ := cli.Test(false)
	root := cli.NewRootCmd(cli.NewFactory(io, nil))
	root.DisableAutoGenTag = true
	root.InitDefaultCompletionCmd()
	for _, sub := range []string{"man", "reference"} {
		p := filepath.Join(dir, sub)
		if err := os.RemoveAll(p); err != nil {
			return err
		}
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
	}
	hdr := &doc.GenManHeader{Title: "LOOPS", Section: "1", Date: &docDate, Source: "loops", Manual: "loops manual"}
	if err := doc.GenManTree(root, hdr, filepath.Join(dir, "man")); err != nil {
		return err
	}
	return doc.GenMarkdownTreeCustom(root, filepath.Join(dir, "reference"),
		func(string) string { return "" },
		func(name string) string { return name })
}
