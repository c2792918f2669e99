package playbook

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgtype"
)

// Formats a result can be written in.
var Formats = []string{"table", "csv", "json"}

// Write writes the result in format: an aligned table (with a row count),
// CSV with a header line, or a JSON array of objects whose keys keep the
// columns' order.
func (r Result) Write(w io.Writer, format string) error {
	switch format {
	case "table":
		return r.writeTable(w)
	case "csv":
		return r.writeCSV(w)
	case "json":
		return r.writeJSON(w)
	}
	return fmt.Errorf("unknown format %q: use table, csv or json", format)
}

// Note is what a person must know about the result, or "": that the row
// cap cut it short.
func (r Result) Note() string {
	if !r.Truncated {
		return ""
	}
	return fmt.Sprintf("stopped at %d rows, the row cap: there are more; narrow the bracket or raise --max-rows", r.MaxRows)
}

func (r Result) writeTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	names := make([]string, len(r.Columns))
	for i, c := range r.Columns {
		names[i] = c.Name
	}
	fmt.Fprintln(tw, strings.Join(names, "\t"))
	for _, row := range r.Rows {
		cells := make([]string, len(row))
		for i, v := range row {
			cells[i] = strings.NewReplacer("\t", `\t`, "\n", `\n`, "\r", `\r`).Replace(text(v, r.Columns[i].OID))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "(%d rows)\n", len(r.Rows))
	return err
}

func (r Result) writeCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	names := make([]string, len(r.Columns))
	for i, c := range r.Columns {
		names[i] = c.Name
	}
	_ = cw.Write(names)
	for _, row := range r.Rows {
		cells := make([]string, len(row))
		for i, v := range row {
			cells[i] = text(v, r.Columns[i].OID)
		}
		_ = cw.Write(cells)
	}
	cw.Flush()
	return cw.Error()
}

func (r Result) writeJSON(w io.Writer) error {
	var buf bytes.Buffer
	buf.WriteString("[")
	for n, row := range r.Rows {
		if n > 0 {
			buf.WriteString(",")
		}
		buf.WriteString("\n  {")
		for i, v := range row {
			if i > 0 {
				buf.WriteString(", ")
			}
			key, _ := json.Marshal(r.Columns[i].Name)
			val, err := json.Marshal(jsonValue(v, r.Columns[i].OID))
			if err != nil {
				return fmt.Errorf("column %s: %w", r.Columns[i].Name, err)
			}
			buf.Write(key)
			buf.WriteString(": ")
			buf.Write(val)
		}
		buf.WriteString("}")
	}
	buf.WriteString("\n]\n")
	_, err := w.Write(buf.Bytes())
	return err
}

// dateOID is PostgreSQL's date, shown without a time.
const dateOID = 1082

// text renders a value for the table and CSV: times in RFC 3339 (UTC),
// dates as YYYY-MM-DD, NULL as empty.
func text(v any, oid uint32) string {
	switch v := jsonValue(v, oid).(type) {
	case nil:
		return ""
	case string:
		return v
	case map[string]any, []any:
		b, _ := json.Marshal(v)
		return string(b)
	default:
		return fmt.Sprint(v)
	}
}

// jsonValue turns what pgx decoded into a plain JSON value.
func jsonValue(v any, oid uint32) any {
	switch v := v.(type) {
	case time.Time:
		if oid == dateOID {
			return v.Format(time.DateOnly)
		}
		return v.UTC().Format(time.RFC3339Nano)
	case []byte:
		if utf8.Valid(v) {
			return string(v)
		}
		return fmt.Sprintf("\\x%x", v)
	case pgtype.Numeric:
		f, _ := v.Float64Value()
		if !f.Valid {
			return nil
		}
		if i, err := v.Int64Value(); err == nil && i.Valid && v.Exp >= 0 {
			return i.Int64
		}
		return f.Float64
	case pgtype.Interval:
		return time.Duration(v.Microseconds*int64(time.Microsecond) +
			int64(v.Days)*int64(24*time.Hour) + int64(v.Months)*int64(30*24*time.Hour)).String()
	case fmt.Stringer:
		return v.String()
	}
	return v
}
