package verifier

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/citylog/citylog/log/idshard"
	"github.com/citylog/citylog/tiles/source"
)

func TestFind(t *testing.T) {
	key := fixtureKey(t)
	files := loadTree(t, fixture)
	meta, err := idshard.ParseMeta(files[idshard.MetaPath])
	if err != nil {
		t.Fatal(err)
	}
	const id = "geonames:1809858" // Guangzhou, leaf 8
	shard := idshard.Shard(id, meta.Bits)
	lie := idshard.Marshal([]idshard.Line{{ID: id, Leaf: 3}})
	for _, tc := range []struct {
		name  string
		files map[string][]byte
		kind  error // nil: found leaf 8
	}{
		{"honest index", nil, nil},
		{"no index: scan", map[string][]byte{idshard.MetaPath: nil}, nil},
		{"stale index: scan the rest", map[string][]byte{idshard.MetaPath: idshard.Meta{Size: 5, Bits: meta.Bits}.Marshal(), shard: []byte{}}, nil},
		{"garbage shard: scan", map[string][]byte{shard: []byte("garbage")}, nil},
		{"lying index points elsewhere", map[string][]byte{shard: lie}, ErrNoCode},
		{"index from the future", map[string][]byte{idshard.MetaPath: idshard.Meta{Size: 10000, Bits: meta.Bits}.Marshal()}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			served := map[string][]byte{}
			for k, v := range files {
				served[k] = v
			}
			for k, v := range tc.files {
				if v == nil {
					delete(served, k)
				} else {
					served[k] = v
				}
			}
			srv := httptest.NewServer(&mirror{files: served})
			defer srv.Close()
			src, _ := source.NewHTTP(srv.URL+"/log", source.HTTPOptions{})
			a, err := New(src, key).Find(context.Background(), strings.ToUpper(id[:8])+id[8:])
			if tc.kind == nil {
				if err != nil || a.Index != 8 {
					t.Fatalf("%+v %v", a, err)
				}
				return
			}
			if !errors.Is(err, tc.kind) {
				t.Fatalf("err = %v, want %v", err, tc.kind)
			}
		})
	}
}
