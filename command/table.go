package command

import (
	"io"
	"strings"
	"text/tabwriter"
)

// tableTime is how tables show times, in the local zone; JSON has RFC 3339.
const tableTime = "2006-01-02 15:04:05"

// table renders aligned columns like the docker CLI.
type table struct {
	tw *tabwriter.Writer
}

func newTable(w io.Writer, headers ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)}
	t.row(headers...)
	return t
}

func (t *table) row(cols ...string) {
	for i, c := range cols {
		cols[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(c)
	}
	io.WriteString(t.tw, strings.Join(cols, "\t")+"\n")
}

func (t *table) flush() error { return t.tw.Flush() }
