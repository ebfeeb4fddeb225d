package entry

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/citylog/citylog/log/idcode"
)

// Version is the entry format version this code writes and reads.
const Version = 1

// TimeFormat is the layout of an entry's integration time (UTC, seconds).
const TimeFormat = "2006-01-02T15:04:05Z"

// Entry is one allocation: a normalised request, its code and the time the
// log integrated it. Its canonical JSON is the leaf.
type Entry struct {
	Request
	Code idcode.Code
	Time time.Time // UTC, whole seconds
}

// AppendJSON appends the canonical JSON of e: fixed key order, no
// white space. It does not check e; Normalize the request first.
func (e *Entry) AppendJSON(b []byte) []byte {
	var ts [len(TimeFormat)]byte
	b = e.Request.AppendFields(appendEntryHead(b, e.Code)) // in place: Decode re-encodes every entry
	return appendEntryTail(b, e.Time.UTC().AppendFormat(ts[:0], TimeFormat))
}

// AppendEntry appends the canonical JSON of the entry with code, fields
// as Request.AppendFields encodes them, and time formatted with
// TimeFormat. The writer encodes a request's fields on any core as soon as
// it is parsed; only this cheap assembly waits for the code.
func AppendEntry(b []byte, code idcode.Code, fields, time []byte) []byte {
	return appendEntryTail(append(appendEntryHead(b, code), fields...), time)
}

// appendEntryHead and appendEntryTail are what an entry adds around its
// request's fields.
func appendEntryHead(b []byte, code idcode.Code) []byte {
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, Version, 10)
	b = append(b, `,"code":"`...)
	b = code.Append(b)
	return append(b, `",`...)
}

func appendEntryTail(b, time []byte) []byte {
	b = append(b, `,"time":"`...)
	b = append(b, time...)
	return append(b, `"}`...)
}

// appendCoord appends v as strconv.AppendFloat(b, v, 'f', -1, 64) does,
// faster for the values Normalize leaves: a whole number k of millionths,
// |k| < 2^53. v is then the double nearest k/1e6 (division rounds
// correctly), so k/1e6 without trailing zeros, having at most 15
// significant digits, is the only decimal that short naming v: exactly
// the shortest representation strconv finds.
func appendCoord(b []byte, v float64) []byte {
	k := math.Round(v * 1e6)
	if math.Abs(k) >= 1<<53 || k/1e6 != v || k == 0 {
		return strconv.AppendFloat(b, v, 'f', -1, 64)
	}
	n := int64(k)
	if n < 0 {
		b = append(b, '-')
		n = -n
	}
	b = strconv.AppendInt(b, n/1e6, 10)
	frac := n % 1e6
	if frac == 0 {
		return b
	}
	var digits [7]byte
	digits[0] = '.'
	for i := 6; i >= 1; i-- {
		digits[i] = byte('0' + frac%10)
		frac /= 10
	}
	end := 7
	for digits[end-1] == '0' {
		end--
	}
	return append(b, digits[:end]...)
}

// AppendFields appends the request's part of its entry's canonical JSON:
// the members from "country" to "lon", without braces around them.
func (r *Request) AppendFields(b []byte) []byte {
	b = append(b, `"country":`...)
	b = appendString(b, r.Country)
	b = append(b, `,"subdivision":`...)
	b = appendString(b, r.Subdivision)
	b = append(b, `,"name":`...)
	b = appendString(b, r.Name)
	b = append(b, `,"ids":[`...)
	for i, id := range r.IDs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, id)
	}
	b = append(b, ']')
	if r.HasLocation {
		b = append(b, `,"lat":`...)
		b = appendCoord(b, r.Lat)
		b = append(b, `,"lon":`...)
		b = appendCoord(b, r.Lon)
	}
	return b
}

// Decode reads an entry and checks it against the rules: every field valid,
// the code matching country and subdivision, and the bytes exactly the
// canonical encoding (so one allocation has exactly one leaf hash). The
// caller checks that Code.Index equals the leaf's index.
func (r *Rules) Decode(b []byte) (Entry, error) {
	e, code, err := decodeFields(b)
	if err != nil {
		return Entry{}, err
	}
	// Normalising in place is safe: a canonical entry is unchanged by it,
	// and any other is refused below.
	if err := r.Normalize(&e.Request); err != nil {
		return Entry{}, fmt.Errorf("entry %s: %w", code, err)
	}
	buf := encodeBuffers.Get().(*[]byte)
	*buf = e.AppendJSON((*buf)[:0])
	canonical := bytes.Equal(*buf, b)
	encodeBuffers.Put(buf)
	if !canonical {
		return Entry{}, invalid("entry %s is not in canonical form", code)
	}
	return e, nil
}

// DecodeUnchecked reads an entry without checking it against the rules:
// its fields, code and time must parse, and nothing else is checked. It
// is for views of a log that show its entries (the web site), whose
// readers verify what matters elsewhere; a verifier uses Decode.
func DecodeUnchecked(b []byte) (Entry, error) {
	e, _, err := decodeFields(b)
	return e, err
}

// decodeFields reads an entry's fields, and returns its code as written
// too (for errors that show it).
func decodeFields(b []byte) (Entry, string, error) {
	var e Entry
	var version uint64
	var code, ts string
	var loc location
	s := scanner{src: string(b)}
	err := s.object(func(key string) error {
		var err error
		switch key {
		case "v":
			version, err = s.integer()
		case "code":
			code, err = s.str()
		case "time":
			ts, err = s.str()
		default:
			known, ferr := s.requestField(key, &e.Request, &loc, false)
			if !known {
				return fmt.Errorf("unknown field %q", key)
			}
			return ferr
		}
		if err != nil {
			return fmt.Errorf("field %q: %w", key, err)
		}
		return nil
	})
	if err == nil {
		err = s.end()
	}
	if err != nil {
		return Entry{}, "", invalid("entry: %v", err)
	}
	if version != Version {
		return Entry{}, "", invalid("entry: format version %d, this software reads %d", version, Version)
	}
	if e.Code, err = idcode.Parse(code); err != nil {
		return Entry{}, "", invalid("entry: %v", err)
	}
	if e.Code.Country != e.Country || e.Code.Subdivision != e.Subdivision {
		return Entry{}, "", invalid("entry: code %s does not match country %q and subdivision %q", code, e.Country, e.Subdivision)
	}
	if e.Time, err = time.Parse(TimeFormat, ts); err != nil {
		return Entry{}, "", invalid("entry: time %q is not %s", ts, TimeFormat)
	}
	e.HasLocation = loc.lat && loc.lon
	return e, code, nil
}

// encodeBuffers recycles the buffers Decode re-encodes entries into: an
// audit decodes every entry of the log.
var encodeBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}
