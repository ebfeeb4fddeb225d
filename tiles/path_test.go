package tiles

import (
	"reflect"
	"testing"
)

func TestPathRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		tile Tile
		path string
	}{
		{Tile{0, 0, Width}, "tile/0/000"},
		{Tile{0, 1000, Width}, "tile/0/x001/000"},
		{Tile{0, 1234067, Width}, "tile/0/x001/x234/067"},
		{Tile{0, 4820, 180}, "tile/0/x004/820.p/180"},
		{Tile{EntriesLevel, 4820, 180}, "tile/entries/x004/820.p/180"},
		{Tile{1, 18, 212}, "tile/1/018.p/212"},
		{Tile{63, 0, 1}, "tile/63/000.p/1"},
		{Tile{EntriesLevel, 272, Width}, "tile/entries/272"},
	} {
		if got := tc.tile.Path(); got != tc.path {
			t.Errorf("%+v.Path() = %q, want %q", tc.tile, got, tc.path)
		}
		got, err := ParsePath(tc.path)
		if err != nil || got != tc.tile {
			t.Errorf("ParsePath(%q) = %+v, %v; want %+v", tc.path, got, err, tc.tile)
		}
	}
}

func TestParsePathRejects(t *testing.T) {
	for _, p := range []string{
		"", "tile/", "tile/0", "tile/0/", "tile/0/0", "tile/0/0000", "tile/0/x000/067",
		"tile/0/001/002", "tile/0/x001", "tile/0/000.p/256", "tile/0/000.p/0", "tile/0/000.p/01",
		"tile/0/000.p/", "tile/64/000", "tile/-1/000", "tile/01/000", "tile/data/000",
		"tiles/0/000", "tile/0/abc", "tile/0/x999/x999/x999/x999/x999/x999/999",
		"/tile/0/000", "tile/0/000/", "tile/0/+12",
	} {
		if tile, err := ParsePath(p); err == nil {
			t.Errorf("ParsePath(%q) = %+v, want error", p, tile)
		}
	}
}

func TestEdgeTiles(t *testing.T) {
	for _, tc := range []struct {
		size uint64
		want []string
	}{
		{0, nil},
		{256, []string{"tile/1/000.p/1"}},
		{70000, []string{"tile/0/273.p/112", "tile/1/001.p/17", "tile/2/000.p/1", "tile/entries/273.p/112"}},
		{1234100, []string{"tile/0/x004/820.p/180", "tile/1/018.p/212", "tile/2/000.p/18", "tile/entries/x004/820.p/180"}},
	} {
		var got []string
		for _, tile := range EdgeTiles(tc.size) {
			got = append(got, tile.Path())
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("EdgeTiles(%d) = %v, want %v", tc.size, got, tc.want)
		}
	}
}

func TestTileForNode(t *testing.T) {
	// TLOG-FORMATS §4: the sunlight mirror tree of 300 leaves.
	for _, tc := range []struct {
		level      uint
		index      uint64
		path       string
		start, end int
	}{
		{8, 0, "tile/1/000.p/1", 0, 1},
		{5, 8, "tile/0/001.p/44", 0, 32},
		{3, 36, "tile/0/001.p/44", 32, 40},
		{2, 74, "tile/0/001.p/44", 40, 44},
		{0, 5, "tile/0/000", 5, 6},
	} {
		tile, start, end, err := TileForNode(tc.level, tc.index, 300)
		if err != nil || tile.Path() != tc.path || start != tc.start || end != tc.end {
			t.Errorf("TileForNode(%d, %d, 300) = %s [%d,%d) %v; want %s [%d,%d)", tc.level, tc.index, tile.Path(), start, end, err, tc.path, tc.start, tc.end)
		}
	}
	if _, _, _, err := TileForNode(2, 75, 300); err == nil {
		t.Error("node beyond the tree accepted")
	}
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"tile/0/000", "tile/entries/x001/x234/067.p/12", "tile/63/x000/001", "tile/0/000.p/256"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		tile, err := ParsePath(p)
		if err != nil {
			return
		}
		if tile.Path() != p {
			t.Fatalf("ParsePath(%q) = %+v whose Path is %q", p, tile, tile.Path())
		}
	})
}

func TestBundleOf(t *testing.T) {
	for _, tc := range []struct {
		leaf, size uint64
		want       Tile
	}{
		{0, 1, Tile{Level: EntriesLevel, Index: 0, Width: 1}},
		{255, 256, Tile{Level: EntriesLevel, Index: 0, Width: 256}},
		{256, 600, Tile{Level: EntriesLevel, Index: 1, Width: 256}},
		{599, 600, Tile{Level: EntriesLevel, Index: 2, Width: 88}},
		{600, 600, Tile{Level: EntriesLevel, Index: 2, Width: 88}}, // the bundle leaf 600 will join
		{768, 600, Tile{Level: EntriesLevel, Index: 3, Width: 0}},
	} {
		if got := BundleOf(tc.leaf, tc.size); got != tc.want {
			t.Errorf("BundleOf(%d, %d) = %+v, want %+v", tc.leaf, tc.size, got, tc.want)
		}
	}
}
