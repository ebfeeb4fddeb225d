package verifier

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/citylog/citylog/log/entry"
	"github.com/citylog/citylog/log/idcode"
	"github.com/citylog/citylog/tiles"
	"golang.org/x/mod/sumdb/note"
)

// Allocation is a citylog entry proven to be in a signed tree and checked
// against the allocation rule.
type Allocation struct {
	Code        string    `json:"code"`
	Index       uint64    `json:"index"`
	Country     string    `json:"country"`
	Subdivision string    `json:"subdivision"`
	Name        string    `json:"name"`
	IDs         []string  `json:"ids"`
	Lat         *float64  `json:"lat,omitempty"`
	Lon         *float64  `json:"lon,omitempty"`
	Time        time.Time `json:"time"`
	TreeSize    uint64    `json:"tree_size"`
	Root        []byte    `json:"root"`
	Origin      string    `json:"origin"`
}

// CheckEntry checks a proven leaf as a citylog entry: canonical, valid
// under the rules, and carrying the code of its own index.
func CheckEntry(rules *entry.Rules, inc Inclusion) (Allocation, error) {
	e, err := rules.Decode(inc.Entry)
	if err != nil {
		return Allocation{}, failed("entry %d is not a valid citylog entry: %w", inc.Index, err)
	}
	if e.Code.Index != inc.Index {
		return Allocation{}, failed("entry %d carries code %s, whose serial is index %d", inc.Index, e.Code, e.Code.Index)
	}
	a := Allocation{Code: e.Code.String(), Index: inc.Index, Country: e.Country, Subdivision: e.Subdivision, Name: e.Name,
		IDs: e.IDs, Time: e.Time, TreeSize: inc.Size, Root: inc.Root[:], Origin: inc.Origin}
	if e.HasLocation {
		a.Lat, a.Lon = &e.Lat, &e.Lon
	}
	return a, nil
}

// VerifyCode checks a code end to end: syntax and check character, then
// its entry's inclusion in the log's current signed tree, then that the
// entry is valid under the log's published rules and carries exactly this
// code.
func (l *Log) VerifyCode(ctx context.Context, code string) (Allocation, error) {
	c, err := idcode.Parse(code)
	if err != nil {
		// A wrong check character is a typo (*idcode.CheckError, kept in
		// the chain): nothing to look up.
		return Allocation{}, fmt.Errorf("%w: %w", ErrInput, err)
	}
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		return Allocation{}, err
	}
	if c.Index >= cp.Size {
		return Allocation{}, failed("%s is not in the log (tree size %d)", c, cp.Size)
	}
	inc, err := l.ProveInclusion(ctx, cp, c.Index)
	if err != nil {
		return Allocation{}, err
	}
	a, err := l.checkEntry(ctx, inc)
	if err != nil {
		return Allocation{}, err
	}
	if a.Code != c.String() {
		return Allocation{}, failed("index %d holds %s, not %s", c.Index, a.Code, c)
	}
	return a, nil
}

// notCheckedOffline is ErrUnchecked and entry.ErrUnknownSubdivision: a
// receipt whose entry's subdivision only its log's rules can judge.
type notCheckedOffline string

func (e notCheckedOffline) Error() string { return string(e) }
func (e notCheckedOffline) Is(target error) bool {
	return target == ErrUnchecked || target == entry.ErrUnknownSubdivision
}

// Receipt is a verified offline receipt.
type Receipt struct {
	Allocation
	Checkpoint Checkpoint
}

// VerifyReceipt checks a citylog receipt (a c2sp.org/tlog-proof whose
// extra data is the entry) with no network: the checkpoint's signature,
// the entry's inclusion, and the entry itself under rules — the log's
// published rules (ReadRules) when the caller has read them, or nil for
// the built-in data alone. With nil, an entry in a subdivision the
// built-in data lacks cannot be judged offline: the error wraps
// ErrUnchecked and entry.ErrUnknownSubdivision, and checking the receipt
// against its log settles it.
func VerifyReceipt(data []byte, key note.Verifier, rules *entry.Rules, policy ...Policy) (Receipt, error) {
	p, err := tiles.ParseTLogProof(data)
	if err != nil {
		return Receipt{}, fmt.Errorf("%w: not a receipt: %v", ErrInput, err)
	}
	if p.Extra == nil {
		return Receipt{}, fmt.Errorf("%w: receipt has no entry (no extra line): not a citylog receipt", ErrInput)
	}
	cp, err := OpenCheckpoint(p.Checkpoint, key, policy...)
	if err != nil {
		return Receipt{}, err
	}
	leaf := tiles.HashLeaf(p.Extra)
	if err := tiles.VerifyInclusion(p.Index, cp.Size, leaf[:], tiles.HashSlices(p.Hashes), cp.Root[:]); err != nil {
		return Receipt{}, failed("receipt's entry is not in its checkpoint's tree: %v", err)
	}
	offline := rules == nil
	if offline {
		rules = builtinRules()
	}
	a, err := CheckEntry(rules, Inclusion{Index: p.Index, Entry: p.Extra, Proof: p.Hashes, Checkpoint: cp})
	var unknown *entry.UnknownSubdivisionError
	if offline && errors.As(err, &unknown) {
		return Receipt{}, notCheckedOffline(fmt.Sprintf("%v: the receipt's signature and proof hold, but its entry's subdivision %s-%s is "+
			"not in the built-in ISO 3166-2 data: it may be one the log's operator added (%s), which only the log publishes",
			ErrUnchecked, unknown.Country, unknown.Subdivision, ExtraSubdivisionsPath))
	}
	if err != nil {
		return Receipt{}, err
	}
	return Receipt{Allocation: a, Checkpoint: cp}, nil
}
