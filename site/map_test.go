package site

import (
	"strings"
	"testing"
)

// TestParseCellKey: the map's cells come back from site/meta.json as
// cellKey wrote them; anything else is an error that says to rebuild.
func TestParseCellKey(t *testing.T) {
	for _, c := range []struct{ lat, lon float64 }{{48.85, 2.35}, {-33.9, 151.2}, {89.9, 179.99}, {-90, -180}, {0, 0}} {
		key := cellKey(c.lat, c.lon)
		lat, lon, err := parseCellKey(key)
		if err != nil || lat > c.lat || lat+cellDegrees <= c.lat && c.lat < 90-cellDegrees || lon > c.lon {
			t.Errorf("cellKey(%v, %v) = %q, read back as %v, %v, %v", c.lat, c.lon, key, lat, lon, err)
		}
	}
	for _, key := range []string{"", "48", "48,", ",2", "a,b", "48.5,2", "90,0", "-92,0", "0,180", "0,-182", "1,2,3"} {
		if _, _, err := parseCellKey(key); err == nil || !strings.Contains(err.Error(), "citylog site --full") {
			t.Errorf("parseCellKey(%q) = %v, want an error that says to rebuild the site", key, err)
		}
	}
}
