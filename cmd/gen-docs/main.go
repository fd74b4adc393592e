// Command gen-docs writes loops' man pages (docs/man) and CLI reference
// (docs/reference) from the command tree, with a fixed date so the output
// is reproducible: go run ./cmd/gen-docs docs
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
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
	if err := doc.GenManTree(tree(true), hdr, filepath.Join(dir, "man")); err != nil {
		return err
	}
	return doc.GenMarkdownTreeCustom(tree(false), filepath.Join(dir, "reference"),
		func(string) string { return "" },
		func(name string) string { return name })
}

// tree is the command tree with its placeholders (<image>, <mountpoint>)
// escaped for markdown, which both generators go through: unescaped, a
// markdown renderer takes them for HTML tags and drops them (the man pages
// read "loops mount  [] [flags]"). The usage line is markdown only in the
// man pages; the reference shows it in a code block, verbatim.
func tree(escapeUse bool) *cobra.Command {
	io, _, _ := cli.Test(false)
	root := cli.NewRootCmd(cli.NewFactory(io, nil))
	root.DisableAutoGenTag = true
	root.InitDefaultCompletionCmd()
	esc := strings.NewReplacer("<", `\<`, ">", `\>`)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Long = esc.Replace(c.Long)
		if escapeUse {
			c.Use = esc.Replace(c.Use)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return root
}
