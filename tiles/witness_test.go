package tiles

import "testing"

func TestAddCheckpointBody(t *testing.T) {
	var h1, h2 Hash
	h1[0], h2[31] = 1, 2
	cp := []byte("example.org/log\n5\nroot\n\n— example.org/log sig\n")
	for _, tc := range []struct {
		old   uint64
		proof []Hash
		want  string
	}{
		{0, nil, "old 0\n\n" + string(cp)},
		{3, []Hash{h1, h2}, "old 3\nAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAI=\n\n" + string(cp)},
	} {
		if got := string(AddCheckpointBody(tc.old, tc.proof, cp)); got != tc.want {
			t.Errorf("old %d: got %q, want %q", tc.old, got, tc.want)
		}
	}
}
