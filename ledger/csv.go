package ledger

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// This file is the CSV export of SPEC §4 ("CSV"): one header row, then
// one row per entry.
//
// Choices the SPEC leaves open, made here:
//   - Records end in CRLF, as RFC 4180 writes them. CSVWriter does the
//     writing rather than encoding/csv: with UseCRLF, csv.Writer drops a
//     lone CR inside a field, and an export must keep what the entry
//     holds. encoding/csv reads what CSVWriter writes (its Reader turns a
//     CRLF inside a quoted field into LF, as it always does).
//   - The UTF-8 byte order mark is the caller's choice: NewCSVWriter
//     writes it only when asked (the API's bom=true, for Excel).
//   - Times are written as the entry stores them: UTC, time.RFC3339Nano.
//     time is always filled (received_at when the client gave none), and
//     result too (success when absent), as in the entry itself.
//   - The formula guard (a leading '=', '+', '-', '@', tab or carriage
//     return gets a "'" in front) applies to every cell, which in effect
//     means the free-text ones: index, times, ip, category, action,
//     result and leaf_hash never start with those characters, and
//     details is a JSON object, so it starts with '{' and a negative
//     number inside it is left alone.
//   - A redacted entry (retention removed its payload) is a row with
//     only index and leaf_hash filled.
//   - read_only and ref have no column, as SPEC lists the columns; an
//     annotation's text is in details.

// CSVHeader is the header row of a CSV export, in SPEC's column order.
var CSVHeader = []string{
	"index", "received_at", "time", "category", "action",
	"actor_type", "actor_id", "actor_name", "actor_email", "actor_api_key_id",
	"target_type", "target_id", "target_name",
	"ip", "user_agent", "result", "details", "leaf_hash",
}

// CSVBOM is the UTF-8 byte order mark, which Excel needs to read a CSV
// file as UTF-8. NewCSVWriter writes it first when asked to.
const CSVBOM = "\uFEFF"

// CSVWriter writes RFC 4180 records: fields quoted only when they hold a
// quote, comma, CR or LF or begin with a space or tab (a quote inside
// doubled), each record ended by CRLF. Unlike csv.Writer with UseCRLF, it
// writes every byte of a field as it is, a lone CR or LF included, so an
// export keeps what the entry holds. It is not safe for concurrent use.
type CSVWriter struct {
	w   *bufio.Writer
	buf []byte
	err error
}

// NewCSVWriter returns a CSVWriter on w that has written the byte order
// mark when bom is true (the API's bom=true, for Excel; UTF-8 without
// one otherwise), then the CSVHeader row. Writes are buffered: call Flush
// when done; the first error of any write is kept and returned by every
// later Write and by Flush.
func NewCSVWriter(w io.Writer, bom bool) *CSVWriter {
	cw := &CSVWriter{w: bufio.NewWriter(w)}
	if bom {
		_, cw.err = cw.w.WriteString(CSVBOM)
	}
	cw.Write(CSVHeader)
	return cw
}

// Write writes one record, usually a CSVRow.
func (cw *CSVWriter) Write(record []string) error {
	if cw.err != nil {
		return cw.err
	}
	cw.buf = AppendCSVRecord(cw.buf[:0], record)
	if _, err := cw.w.Write(cw.buf); err != nil {
		cw.err = fmt.Errorf("couldn't write CSV: %w", err)
	}
	return cw.err
}

// Flush writes out what is buffered and returns the first error of any
// write so far.
func (cw *CSVWriter) Flush() error {
	if cw.err != nil {
		return cw.err
	}
	if err := cw.w.Flush(); err != nil {
		cw.err = fmt.Errorf("couldn't write CSV: %w", err)
	}
	return cw.err
}

// AppendCSVRecord appends record to dst as one RFC 4180 record ended by
// CRLF, quoting as CSVWriter does, and returns the extended slice. A
// record of one empty field is written as "" so that it is not an empty
// line.
func AppendCSVRecord(dst []byte, record []string) []byte {
	if len(record) == 1 && record[0] == "" {
		// A bare empty line would read as no record at all.
		return append(dst, '"', '"', '\r', '\n')
	}
	for i, f := range record {
		if i > 0 {
			dst = append(dst, ',')
		}
		if f == "" || f[0] != ' ' && f[0] != '\t' && !strings.ContainsAny(f, "\",\r\n") {
			dst = append(dst, f...)
			continue
		}
		dst = append(dst, '"')
		for j := 0; j < len(f); j++ {
			if f[j] == '"' {
				dst = append(dst, '"')
			}
			dst = append(dst, f[j])
		}
		dst = append(dst, '"')
	}
	return append(dst, '\r', '\n')
}

// CSVRow returns the row of CSVHeader's columns for the entry at index
// with leafHash. A nil en is a redacted entry: only index and leaf_hash
// are filled. An absent field is an empty cell; times are UTC RFC 3339
// (as time.RFC3339Nano writes them), details compact JSON and leaf_hash
// lowercase hex. A cell that would begin with '=', '+', '-', '@', tab or
// carriage return is prefixed with "'" so that a spreadsheet never runs
// it as a formula.
func CSVRow(index uint64, leafHash [32]byte, en *Entry) []string {
	row := make([]string, len(CSVHeader))
	row[0] = strconv.FormatUint(index, 10)
	row[17] = hex.EncodeToString(leafHash[:])
	if en == nil {
		return row
	}
	row[1] = csvTime(en.ReceivedAt)
	row[2] = csvTime(entryQueryTime(en))
	row[3] = en.Category
	row[4] = en.Action
	if a := en.Actor; a != nil {
		row[5], row[6], row[7], row[8], row[9] = a.Type, a.ID, a.Name, a.Email, a.APIKeyID
	}
	if t := en.Target; t != nil {
		row[10], row[11], row[12] = t.Type, t.ID, t.Name
	}
	row[13] = en.IP
	row[14] = en.UserAgent
	row[15] = en.Result
	if row[15] == "" {
		row[15] = "success"
	}
	if len(en.Details) > 0 {
		var b bytes.Buffer
		if err := json.Compact(&b, en.Details); err == nil {
			row[16] = b.String()
		} else {
			row[16] = string(en.Details)
		}
	}
	for i := 1; i < len(row)-1; i++ {
		row[i] = csvSafe(row[i])
	}
	return row
}

func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// csvSafe prefixes s with "'" when a spreadsheet would read it as a
// formula.
func csvSafe(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

// WriteEntry writes the row of CSVRow(index, leafHash, en), built straight
// into the writer's buffer: the same bytes as Write(CSVRow(…)), without a
// string per cell (an export's hot path).
func (cw *CSVWriter) WriteEntry(index uint64, leafHash [32]byte, en *Entry) error {
	if cw.err != nil {
		return cw.err
	}
	cw.buf = AppendCSVEntry(cw.buf[:0], index, leafHash, en)
	if _, err := cw.w.Write(cw.buf); err != nil {
		cw.err = fmt.Errorf("couldn't write CSV: %w", err)
	}
	return cw.err
}

// AppendCSVEntry appends the record of CSVRow(index, leafHash, en) to dst,
// as AppendCSVRecord writes it, and returns the extended slice.
func AppendCSVEntry(dst []byte, index uint64, leafHash [32]byte, en *Entry) []byte {
	dst = strconv.AppendUint(dst, index, 10)
	if en == nil {
		dst = append(dst, ",,,,,,,,,,,,,,,,,"...)
		dst = hex.AppendEncode(dst, leafHash[:])
		return append(dst, '\r', '\n')
	}
	cell := func(s string) {
		dst = append(dst, ',')
		dst = appendCSVCell(dst, s)
	}
	timeCell := func(t time.Time) {
		dst = append(dst, ',')
		if !t.IsZero() {
			dst = t.UTC().AppendFormat(dst, time.RFC3339Nano) // never needs quotes or a guard
		}
	}
	timeCell(en.ReceivedAt)
	timeCell(entryQueryTime(en))
	cell(en.Category)
	cell(en.Action)
	if a := en.Actor; a != nil {
		cell(a.Type)
		cell(a.ID)
		cell(a.Name)
		cell(a.Email)
		cell(a.APIKeyID)
	} else {
		dst = append(dst, ",,,,,"...)
	}
	if t := en.Target; t != nil {
		cell(t.Type)
		cell(t.ID)
		cell(t.Name)
	} else {
		dst = append(dst, ",,,"...)
	}
	cell(en.IP)
	cell(en.UserAgent)
	if en.Result == "" {
		cell("success")
	} else {
		cell(en.Result)
	}
	switch {
	case len(en.Details) == 0:
		dst = append(dst, ',')
	case bytes.IndexAny(en.Details, " \t\r\n") < 0:
		// Already compact (a stored leaf's details are canonical JSON).
		dst = append(dst, ',')
		dst = appendCSVCell(dst, []byte(en.Details))
	default:
		var b bytes.Buffer
		if err := json.Compact(&b, en.Details); err == nil {
			cell(b.String())
		} else {
			cell(string(en.Details))
		}
	}
	dst = append(dst, ',')
	dst = hex.AppendEncode(dst, leafHash[:])
	return append(dst, '\r', '\n')
}

// appendCSVCell appends one cell as CSVRow and AppendCSVRecord together
// write it: the formula guard, then quoting when needed.
func appendCSVCell[T string | []byte](dst []byte, s T) []byte {
	if len(s) == 0 {
		return dst
	}
	guard := false
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		guard = true
	}
	quote := !guard && s[0] == ' '
	for i := 0; i < len(s) && !quote; i++ {
		switch s[i] {
		case '"', ',', '\r', '\n':
			quote = true
		}
	}
	if !quote {
		if guard {
			dst = append(dst, '\'')
		}
		return append(dst, s...)
	}
	dst = append(dst, '"')
	if guard {
		dst = append(dst, '\'')
	}
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			dst = append(dst, '"')
		}
		dst = append(dst, s[i])
	}
	return append(dst, '"')
}
