package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// table prints rows: aligned under a header on a terminal, tab-separated
// without a header otherwise, so `cut -f` and `awk -F'\t'` work.
type table struct {
	w      io.Writer
	tty    bool
	header []string
	rows   [][]string
}

func newTable(io *IOStreams, header ...string) *table {
	return &table{w: io.Out, tty: io.IsTerminal(), header: header}
}

func (t *table) add(fields ...string) { t.rows = append(t.rows, fields) }

// render writes the table with one write(2): a line at a time was one
// system call per row (519 for lo with 256 addresses).
func (t *table) render() error {
	var b bytes.Buffer
	if !t.tty {
		for _, r := range t.rows {
			for i, f := range r {
				if i > 0 {
					b.WriteByte('\t')
				}
				b.WriteString(f)
			}
			b.WriteByte('\n')
		}
	} else {
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		if len(t.header) > 0 {
			fmt.Fprintln(tw, strings.Join(t.header, "\t"))
		}
		for _, r := range t.rows {
			fmt.Fprintln(tw, strings.Join(r, "\t"))
		}
		tw.Flush()
	}
	_, err := t.w.Write(b.Bytes())
	return err
}

// schemaVersion is the "schema" field of every --json document. It changes
// only when a field is removed or changes meaning.
const schemaVersion = 1

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
