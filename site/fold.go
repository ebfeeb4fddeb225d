package site

import (
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Fold is the form of a name that search compares: compatibility
// decomposition (NFKD) with the marks removed, lower case, letters that
// decompose to nothing special spelled out (ø, ł, ß, æ ...), and every
// run of characters other than letters and digits one space. "São Paulo"
// and "sao p", "Zürich" and "zur", "Saint-Étienne" and "saint e" then
// compare by prefix, in any script. The site's search script folds a
// query the same way (assets/app.js: fold); TestFoldAgreesWithBrowser
// holds the two together.
func Fold(s string) string {
	if folded, ok := foldASCII(s); ok {
		return folded
	}
	return foldUnicode(s)
}

// foldUnicode is Fold for any name.
func foldUnicode(s string) string {
	// The decomposition goes to a recycled buffer: it is read once, and
	// fresh memory is dear in a site update, which folds every new name.
	buf := foldBuffers.Get().(*[]byte)
	defer foldBuffers.Put(buf)
	*buf = norm.NFKD.AppendString((*buf)[:0], s)
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range string(*buf) {
		switch {
		case unicode.In(r, unicode.Mn, unicode.Me, unicode.Mc):
			continue
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			if s, ok := spelled[r]; ok {
				b.WriteString(s)
				continue
			}
			b.WriteRune(unicode.ToLower(r))
		default:
			space = true
		}
	}
	return b.String()
}

var foldBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// foldASCII is Fold for a name all in ASCII, most names in most logs,
// which NFKD leaves as it is: a rune at a time through the tables was
// a twentieth of a site update. It says false for any other name.
func foldASCII(s string) (string, bool) {
	out := make([]byte, 0, len(s))
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= utf8.RuneSelf:
			return "", false
		case 'a' <= c && c <= 'z' || '0' <= c && c <= '9':
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		default:
			space = true
			continue
		}
		if space && len(out) > 0 {
			out = append(out, ' ')
		}
		space = false
		out = append(out, c)
	}
	return string(out), true
}

// spelled are the letters NFKD leaves whole that readers type as plain
// Latin letters.
var spelled = map[rune]string{
	'ß': "ss", 'ẞ': "ss", 'Æ': "ae", 'æ': "ae", 'Œ': "oe", 'œ': "oe",
	'Ø': "o", 'ø': "o", 'Ł': "l", 'ł': "l", 'Đ': "d", 'đ': "d",
	'Ħ': "h", 'ħ': "h", 'ı': "i", 'Þ': "th", 'þ': "th", 'Ð': "d", 'ð': "d",
}

// ShardKey returns the key of the name shard a folded name is in: its
// first two characters, or one where a single character already narrows a
// search as much (the ideographic scripts: Han, Hiragana, Katakana,
// Hangul), or where the name has one character only. A query of at least
// a key's length fetches one shard.
func ShardKey(folded string) string {
	r, n := utf8.DecodeRuneInString(folded)
	if n == 0 {
		return ""
	}
	if ideographic(r) || n == len(folded) {
		return folded[:n]
	}
	_, m := utf8.DecodeRuneInString(folded[n:])
	return folded[:n+m]
}

func ideographic(r rune) bool {
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul)
}
