package jsonquote

// Tricky are strings encoding/json escapes in every way it has: the cases
// for a test that holds JSON written by hand with Append to encoding/json.
var Tricky = []string{
	"", "Paris", `quote " and backslash \`, "<script>&amp;</script>", "tab\tnew\nline\rcr\bbs\fff",
	"\x00\x01\x1f\x7f", "São Paulo — Zürich 東京 🏙", "line\u2028para\u2029", "bad \xff utf-8 \xe2\x80", "\xed\xa0\x80 surrogate",
}
