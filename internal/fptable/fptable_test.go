package fptable

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func lookupAll(x *Table, id string) []uint64 {
	var out []uint64
	x.Lookup(Fingerprint(id), func(leaf uint64) bool { out = append(out, leaf); return false })
	return out
}

func TestInsertLookupGrowReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ids")
	x, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	const n = 100000 // forces growth past minSlots
	for i := uint64(0); i < n; i++ {
		if err := x.Insert(Fingerprint(fmt.Sprint("geonames:", i)), i); err != nil {
			t.Fatal(err)
		}
	}
	if err := x.CloseClean(n); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenShared(path, n+1); !errors.Is(err, ErrStale) {
		t.Fatalf("Open at another size: %v, want ErrStale", err)
	}
	x, err = OpenShared(path, n)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []uint64{0, 1, 65535, 99999} {
		if got := lookupAll(x, fmt.Sprint("geonames:", i)); len(got) != 1 || got[0] != i {
			t.Errorf("lookup %d = %v", i, got)
		}
	}
	if got := lookupAll(x, "geonames:absent"); len(got) != 0 {
		t.Errorf("absent id found: %v", got)
	}
	if x.Len() != n {
		t.Errorf("Len = %d", x.Len())
	}
	x.Close()
}

func TestCollisionsKeepAllCandidates(t *testing.T) {
	x, err := Create(filepath.Join(t.TempDir(), "ids"))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	for leaf := uint64(0); leaf < 3; leaf++ {
		x.Insert(42, leaf) // three identifiers with one fingerprint
	}
	var got []uint64
	x.Lookup(42, func(leaf uint64) bool { got = append(got, leaf); return leaf == 1 })
	if fmt.Sprint(got) != "[0 1]" {
		t.Errorf("candidates = %v, want [0 1] (stop when found)", got)
	}
}

func TestOpenDamaged(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string][]byte{
		"empty":     nil,
		"short":     []byte("citylog"),
		"bad magic": make([]byte, headerSize+minSlots*slotSize),
		"truncated": append([]byte(magic), make([]byte, headerSize)...),
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, data, 0o600)
		if _, err := OpenShared(p, 0); !errors.Is(err, ErrStale) {
			t.Errorf("%s: %v, want ErrStale", name, err)
		}
	}
	if _, err := OpenShared(filepath.Join(dir, "missing"), 0); !errors.Is(err, ErrStale) {
		t.Errorf("missing: %v", err)
	}
}

func TestShared(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ids")
	x, err := CreateShared(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(0); i < 70000; i++ { // grows past minSlots
		x.Insert(Fingerprint(fmt.Sprint("geonames:", i)), i)
		if i == 49999 {
			if err := x.Save(50000); err != nil {
				t.Fatal(err)
			}
		}
	}
	x.Close() // a crash after the save: entries after it are in the file too
	if _, err := OpenShared(path, 70000); !errors.Is(err, ErrStale) {
		t.Fatalf("unsaved size accepted: %v", err)
	}
	x, err = OpenShared(path, 50000)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if got := lookupAll(x, "geonames:49999"); len(got) != 1 || got[0] != 49999 {
		t.Errorf("saved entry: %v", got)
	}
	if got := lookupAll(x, "geonames:60000"); len(got) > 1 {
		t.Errorf("unsaved entry: %v", got) // may be present; never twice
	}
}

// TestReserve: after Reserve(n) the table holds what it held, and n more
// fingerprints go in without growing it again.
func TestReserve(t *testing.T) {
	x, err := Create(filepath.Join(t.TempDir(), "ids"))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	for i := uint64(0); i < 1000; i++ {
		x.Insert(Fingerprint(fmt.Sprint("geonames:", i)), i)
	}
	if err := x.Reserve(50000); err != nil {
		t.Fatal(err)
	}
	slots := x.mask + 1
	if (x.count+50000)*10 > slots*6 {
		t.Fatalf("Reserve left %d slots for %d fingerprints", slots, x.count+50000)
	}
	for i := uint64(1000); i < 51000; i++ {
		x.Insert(Fingerprint(fmt.Sprint("geonames:", i)), i)
	}
	if x.mask+1 != slots {
		t.Errorf("the table grew from %d to %d slots after Reserve", slots, x.mask+1)
	}
	for _, i := range []uint64{0, 999, 1000, 50999} {
		if got := lookupAll(x, fmt.Sprint("geonames:", i)); len(got) != 1 || got[0] != i {
			t.Errorf("lookup %d = %v", i, got)
		}
	}
	if err := x.Reserve(10); err != nil || x.mask+1 != slots {
		t.Errorf("a Reserve the table already fits changed it: %v, %d slots", err, x.mask+1)
	}
}
