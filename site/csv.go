package site

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The bulk download is every city as CSV, csvPart to a file in log order
// (site/csv/cities-N.csv, the first column the leaf index), with
// site/csv/checkpoint, the signed checkpoint the files reflect. Only the
// last part changes: an update reads it, keeps its rows before the first
// new city, and appends.

const csvHeader = "index,code,country,subdivision,name,ids,lat,lon,time\n"

func csvPath(part uint64) string { return "site/csv/cities-" + strconv.FormatUint(part, 10) + ".csv" }

// csvCheckpointPath holds the checkpoint the CSV files reflect.
const csvCheckpointPath = "site/csv/checkpoint"

// loadCSV starts the part the first new city goes in with the rows it
// already has.
func (b *builder) loadCSV(ctx context.Context) error {
	b.csvPart = b.from / csvPart
	b.csv = append(b.csv[:0], csvHeader...)
	if b.from%csvPart == 0 {
		return nil
	}
	raw, err := b.st.ReadFile(ctx, csvPath(b.csvPart))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s is missing: %w", csvPath(b.csvPart), ErrDamaged)
		}
		return err
	}
	rows, ok := bytes.CutPrefix(raw, []byte(csvHeader))
	if !ok {
		return fmt.Errorf("%s does not start with the header: %w", csvPath(b.csvPart), ErrDamaged)
	}
	for len(rows) > 0 {
		line, rest, _ := bytes.Cut(rows, []byte("\n"))
		index, _, _ := bytes.Cut(line, []byte(","))
		i, err := strconv.ParseUint(string(index), 10, 64)
		if err != nil {
			return fmt.Errorf("%s: a row without its index: %w", csvPath(b.csvPart), ErrDamaged)
		}
		if i >= b.from { // written by an update that was cut short
			break
		}
		b.csv = append(append(b.csv, line...), '\n')
		rows = rest
	}
	return nil
}

// addCSV appends a city, writing the part it fills.
func (b *builder) addCSV(ctx context.Context, c city) error {
	if part := c.Index / csvPart; part != b.csvPart {
		if err := b.put(ctx, csvPath(b.csvPart), b.csv); err != nil {
			return err
		}
		b.csvPart, b.csv = part, append(b.csv[:0], csvHeader...)
	}
	row := strconv.AppendUint(b.csv, c.Index, 10)
	for _, f := range []string{c.Code, c.Country, c.Subdivision, c.Name} {
		row = appendCSVField(append(row, ','), f)
	}
	row = append(row, ',')
	for i, id := range c.IDs {
		if i > 0 {
			row = append(row, ' ')
		}
		row = append(row, id...) // identifiers hold no comma, quote or space
	}
	row = append(row, ',')
	if c.Lat != nil {
		row = strconv.AppendFloat(row, *c.Lat, 'f', -1, 64)
	}
	row = append(row, ',')
	if c.Lon != nil {
		row = strconv.AppendFloat(row, *c.Lon, 'f', -1, 64)
	}
	b.csv = append(append(append(row, ','), c.Time...), '\n')
	return nil
}

// appendCSVField writes a field as encoding/csv would (RFC 4180: quoted
// if it holds a comma, a quote, a line break or leads with a space;
// quotes doubled). TestCSVField holds the two together.
func appendCSVField(b []byte, f string) []byte {
	if !csvNeedsQuotes(f) {
		return append(b, f...)
	}
	b = append(b, '"')
	for i := 0; i < len(f); i++ {
		if f[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, f[i])
	}
	return append(b, '"')
}

func csvNeedsQuotes(f string) bool {
	if f == "" {
		return false
	}
	if f == `\.` || strings.ContainsAny(f, ",\"\r\n") {
		return true
	}
	r, _ := utf8.DecodeRuneInString(f)
	return unicode.IsSpace(r)
}

// finishCSV writes the last part and the checkpoint the files reflect:
// also when no city is new but the checkpoint is (the same tree, signed
// again or cosigned since), so that the download carries the signatures
// the site shows.
func (b *builder) finishCSV(ctx context.Context) error {
	if b.cp.Size == b.from {
		if b.m.Signed == signedHash(b.cp.Signed) {
			return nil
		}
		return b.put(ctx, csvCheckpointPath, b.cp.Signed)
	}
	if err := b.put(ctx, csvPath(b.csvPart), b.csv); err != nil {
		return err
	}
	return b.put(ctx, csvCheckpointPath, b.cp.Signed)
}
