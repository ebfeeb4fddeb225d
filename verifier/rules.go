package verifier

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/citylog/citylog/log/entry"
	"github.com/citylog/citylog/tiles/source"
)

// ExtraSubdivisionsPath is where a citylog log publishes the subdivisions
// its operator added beyond the ISO 3166-2 data module (one CC-SSS a line).
const ExtraSubdivisionsPath = "extra-subdivisions.txt"

// builtinRules are the data module's rules alone, built once.
var builtinRules = sync.OnceValue(entry.DefaultRules)

// ReadRules returns the registry's rules as the log at src publishes them:
// the data module plus the log's extra subdivisions (none if the log
// publishes no such file, as a plain tlog-tiles log does not). It is the
// one way the verifier side learns the rules, so that every command and
// the monitor judge entries alike.
//
// The file is not signed: a mirror could add a subdivision, making an
// entry the writer should have refused pass the rules (the entry itself
// is still the log's, proven by its signature), or drop one, making a
// valid code fail. Monitors that read the log from its own host see the
// operator's file.
func ReadRules(ctx context.Context, src source.Source) (*entry.Rules, error) {
	r := entry.DefaultRules()
	b, err := src.Fetch(ctx, ExtraSubdivisionsPath)
	if errors.Is(err, source.ErrNotFound) {
		return r, nil
	}
	if err != nil {
		return nil, unchecked(fmt.Errorf("couldn't fetch %s from %s: %w", ExtraSubdivisionsPath, src, err))
	}
	if err := r.ParseExtraSubdivisions(b); err != nil {
		return nil, failed("%s from %s: %v", ExtraSubdivisionsPath, src, err)
	}
	return r, nil
}

// Rules returns the log's published rules (ReadRules), read the first
// time they are needed and kept for the Log's life.
func (l *Log) Rules(ctx context.Context) (*entry.Rules, error) {
	l.rulesMu.Lock()
	defer l.rulesMu.Unlock()
	if l.rules != nil {
		return l.rules, nil
	}
	r, err := ReadRules(ctx, l.src)
	if err != nil {
		return nil, err
	}
	l.rules = r
	return r, nil
}

// checkEntry checks a proven leaf under the log's published rules. The
// extra subdivisions only ever add to the built-in data, so an entry valid
// under the built-in rules is valid under the log's: the file is fetched
// only for an entry whose subdivision the built-in data lacks, and a
// code check costs no request for it.
func (l *Log) checkEntry(ctx context.Context, inc Inclusion) (Allocation, error) {
	a, err := CheckEntry(builtinRules(), inc)
	if !errors.Is(err, entry.ErrUnknownSubdivision) {
		return a, err
	}
	rules, rerr := l.Rules(ctx)
	if rerr != nil {
		return Allocation{}, rerr
	}
	return CheckEntry(rules, inc)
}
