package idcode

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestCheckCharacterVectors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"A12425GABC1234002", "M"}, // ISO/IEC 7064 published example
		{"CNHE00AB", "1"},          // DESIGN.md
	} {
		if got := string(CheckCharacter(tc.in)); got != tc.want {
			t.Errorf("CheckCharacter(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// TestCheckCharacterMatchesRecursion checks the table-driven check
// character against ISO/IEC 7064's MOD 37,36 recursion written out, and
// that it catches what a hybrid system of the standard promises: every
// substitution of one character (it misses a few transpositions).
func TestCheckCharacterMatchesRecursion(t *testing.T) {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	recursion := func(s string) byte {
		p := 36
		for _, ch := range []byte(s) {
			v := strings.IndexByte(alphabet, ch)
			if v < 0 {
				continue
			}
			sum := (p + v) % 36
			if sum == 0 {
				sum = 36
			}
			p = 2 * sum % 37
		}
		return alphabet[(37-p)%36]
	}
	r := rand.New(rand.NewPCG(7, 36))
	for range 20000 {
		b := make([]byte, 1+r.IntN(20))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
			if r.IntN(10) == 0 {
				b[i] = '-' // skipped, as the dashes of a code
			}
		}
		s := string(b)
		want := recursion(s)
		if got := CheckCharacter(s); got != want {
			t.Fatalf("CheckCharacter(%q) = %c, the recursion gives %c", s, got, want)
		}
		i := r.IntN(len(b))
		if b[i] != '-' {
			sub := []byte(s)
			sub[i] = alphabet[(strings.IndexByte(alphabet, b[i])+1+r.IntN(35))%36]
			if CheckCharacter(string(sub)) == want {
				t.Fatalf("substitution %q -> %q keeps check character %c", s, sub, want)
			}
		}
	}
}

func TestStringAndParse(t *testing.T) {
	for _, tc := range []struct {
		code Code
		want string
	}{
		{Code{"CN", "HE", 331}, "CN-HE-00AB-1"},
		{Code{"VA", "0", 0}, "VA-0-0000-" + string(CheckCharacter("VA00000"))},
		{Code{"FR", "ARA", 1<<20 - 1}, "FR-ARA-ZZZZ-" + string(CheckCharacter("FRARAZZZZ"))},
		{Code{"FR", "ARA", 1 << 20}, "FR-ARA-10000-" + string(CheckCharacter("FRARA10000"))},
		{Code{"DE", "BE", ^uint64(0)}, "DE-BE-FZZZZZZZZZZZZ-" + string(CheckCharacter("DEBEFZZZZZZZZZZZZ"))},
	} {
		if got := tc.code.String(); got != tc.want {
			t.Errorf("%+v.String() = %s, want %s", tc.code, got, tc.want)
		}
		back, err := Parse(tc.want)
		if err != nil || back != tc.code {
			t.Errorf("Parse(%s) = %+v, %v; want %+v", tc.want, back, err, tc.code)
		}
	}
}

func TestParseLenient(t *testing.T) {
	want := Code{"CN", "HE", 331}
	for _, in := range []string{"cn-he-00ab-1", " CN-HE-00AB-1\n", "CN-HE-OOAB-1", "cn-he-o0ab-1"} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	got, err := Parse("US-CA-I0L0-" + string(CheckCharacter("USCA1010")))
	if err != nil || got.Index != 1<<15|1<<5 {
		t.Errorf("aliases I and L: got %+v, %v", got, err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		in, wantMsg string
		typo        bool
	}{
		{"CN-HE-00AB-2", "expected 1", true},
		{"CN-HE-00AC-1", "expected", true},
		{"", "four parts", false},
		{"CN-HE-00AB", "four parts", false},
		{"CN-HE-00AB-1-X", "four parts", false},
		{"C1-HE-00AB-1", "country", false},
		{"CN-HEBE-00AB-1", "subdivision", false},
		{"CN--00AB-1", "subdivision", false},
		{"CN-HE-0AB-1", "fewer than 4", false},
		{"CN-HE-000AB-1", "leading zero", false},
		{"CN-HE-00UB-1", "not a Crockford", false},
		{"CN-HE-00AB-*", "check character", false},
		{"CN-HE-00AB-12", "check character", false},
		{"CN-HE-ZZZZZZZZZZZZZ-1", "too large", false},
		{"CN-HE-1ZZZZZZZZZZZZZ-1", "too long", false},
	} {
		_, err := Parse(tc.in)
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want error", tc.in)
			continue
		}
		var ce *CheckError
		if isTypo := errors.As(err, &ce); isTypo != tc.typo {
			t.Errorf("Parse(%q): typo = %v, want %v (%v)", tc.in, isTypo, tc.typo, err)
		}
		if !tc.typo && !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%q): %v does not wrap ErrMalformed", tc.in, err)
		}
		if !strings.Contains(err.Error(), tc.wantMsg) {
			t.Errorf("Parse(%q) = %v, want it to mention %q", tc.in, err, tc.wantMsg)
		}
	}
}

// TestSingleSubstitutionDetected checks the property the check character
// exists for: changing any one character of a code is caught.
func TestSingleSubstitutionDetected(t *testing.T) {
	code := Code{"CN", "HE", 987654}.String()
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	for i := 0; i < len(code)-1; i++ {
		if code[i] == '-' {
			continue
		}
		for _, r := range alphabet {
			if byte(r) == code[i] || (i < 2 && (r < 'A')) {
				continue
			}
			mutated := code[:i] + string(r) + code[i+1:]
			if _, err := Parse(mutated); err == nil {
				t.Errorf("substitution %s -> %s not detected", code, mutated)
			}
		}
	}
}

func TestNew(t *testing.T) {
	if _, err := New("CN", "HE", 1); err != nil {
		t.Fatal(err)
	}
	for _, tc := range [][2]string{{"cn", "HE"}, {"CHN", "HE"}, {"CN", ""}, {"CN", "ABCD"}, {"CN", "h-"}} {
		if _, err := New(tc[0], tc[1], 1); !errors.Is(err, ErrMalformed) {
			t.Errorf("New(%q, %q) = %v, want ErrMalformed", tc[0], tc[1], err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"CN-HE-00AB-1", "cn-he-ooab-1", "VA-0-0000-0", "CN-HE-00AB-2", "--", "ZZ-ZZZ-ZZZZZZZZZZZZ-Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(s)
		if err != nil {
			return
		}
		canon := c.String()
		again, err := Parse(canon)
		if err != nil {
			t.Fatalf("Parse(%q) ok but its canonical form %q fails: %v", s, canon, err)
		}
		if again != c || again.String() != canon {
			t.Fatalf("Format(Parse(x)) not stable: %q -> %q -> %q", s, canon, again.String())
		}
	})
}

func BenchmarkCodeAppend(b *testing.B) {
	c := Code{Country: "CN", Subdivision: "HE", Index: 1795270}
	buf := make([]byte, 0, 32)
	for b.Loop() {
		buf = c.Append(buf[:0])
	}
}

// TestCanonicalIndex: the index of a canonical code, and no index for a
// code that is not canonical.
func TestCanonicalIndex(t *testing.T) {
	for _, i := range []uint64{0, 1, 31, 32, 300, 1_000_000, 1 << 20, 1<<40 + 7} {
		c, err := New("CN", "HE", i)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := CanonicalIndex(c.String()); !ok || got != i {
			t.Errorf("CanonicalIndex(%s) = %d, %v; want %d", c, got, ok, i)
		}
	}
	for _, bad := range []string{"", "-", "CN-HE-00AB", "CN-HE-00A-1", "CN-HE-00aB-1", "CN-HE-00IB-1"} {
		if i, ok := CanonicalIndex(bad); ok {
			t.Errorf("CanonicalIndex(%q) = %d, want not ok", bad, i)
		}
	}
}
