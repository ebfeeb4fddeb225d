// Command gen writes the fixture logs of the verifier's tests with the
// writer itself, deterministically: the signing key comes from a fixed
// seed and the clock is fixed, so running it again yields identical bytes
// (TestFixtureIsReproducible holds it to that). From the repository root:
//
//	go run ./verifier/testdata/gen -out verifier/testdata
//
// It writes:
//
//	log/        a citylog log of 600 entries: 599 real cities from
//	            testdata/cities.jsonl, and one city in CN-XQ, a subdivision
//	            the operator added (extra-subdivisions.txt), at index 300 (the first of the second batch);
//	            log/checkpoint.300 is the checkpoint it had at size 300
//	vkey        its verifier key
//	fork/       the checkpoint of a fork: the same key, other entries after 300
//	receipt/    receipt.tlog-proof for leaf 7 at size 300 (code: its code);
//	            extra.tlog-proof for the CN-XQ city at size 600 (extra-code)
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/citylog/citylog/log"
	"golang.org/x/mod/sumdb/note"
)

const origin = "fixture.citylog.example/log"

// extraCity is allocated in a subdivision the data module does not have.
const extraCity = `{"country":"CN","subdivision":"XQ","name":"Xiong'an","ids":["national:CN:fixture:XQ-0001"],"lat":39.0,"lon":115.9}`

func main() {
	out := flag.String("out", "verifier/testdata", "directory to write the fixtures into")
	cities := flag.String("cities", "testdata/cities.jsonl", "the sample cities")
	flag.Parse()
	if err := generate(context.Background(), *out, *cities); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func generate(ctx context.Context, out, citiesPath string) error {
	lines, err := readLines(citiesPath, 900)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "citylog-fixture-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	// A fixed seed: Ed25519 key generation reads 32 bytes from it.
	seed := sha256.Sum256([]byte("citylog verifier fixture key"))
	skey, vkey, err := note.GenerateKey(bytes.NewReader(seed[:]), origin)
	if err != nil {
		return err
	}
	reg, forked := filepath.Join(tmp, "reg"), filepath.Join(tmp, "forked")
	if _, err := log.InitWithKey(reg, skey); err != nil {
		return err
	}
	clock := fixedClock(time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC))
	first, err := importLines(ctx, reg, clock, lines[:300])
	if err != nil {
		return err
	}
	receipt7, err := receipt(ctx, reg, 7, first[7])
	if err != nil {
		return err
	}
	checkpoint300, err := os.ReadFile(filepath.Join(reg, log.PublicDir, log.CheckpointPath))
	if err != nil {
		return err
	}
	if err := copyTree(reg, forked); err != nil {
		return err
	}
	// The operator adds a subdivision newer than the data module, then
	// allocates a city in it.
	extra := filepath.Join(reg, log.PublicDir, log.ExtraSubdivsPath)
	f, err := os.OpenFile(extra, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString("CN-XQ\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	second, err := importLines(ctx, reg, clock, append([]string{extraCity}, lines[300:599]...))
	if err != nil {
		return err
	}
	receiptXQ, err := receipt(ctx, reg, 300, second[0])
	if err != nil {
		return err
	}
	if _, err := importLines(ctx, forked, clock, lines[600:900]); err != nil {
		return err
	}

	for _, d := range []string{"log", "fork", "receipt"} {
		if err := os.RemoveAll(filepath.Join(out, d)); err != nil {
			return err
		}
	}
	if err := copyTree(filepath.Join(reg, log.PublicDir), filepath.Join(out, "log")); err != nil {
		return err
	}
	files := map[string][]byte{
		"vkey":                       []byte(vkey + "\n"),
		"log/checkpoint.300":         checkpoint300,
		"receipt/receipt.tlog-proof": receipt7.proof,
		"receipt/code":               []byte(receipt7.code + "\n"),
		"receipt/extra.tlog-proof":   receiptXQ.proof,
		"receipt/extra-code":         []byte(receiptXQ.code + "\n"),
		"fork/checkpoint":            nil,
		"fork/checkpoint.edge":       nil,
	}
	for _, name := range []string{"checkpoint", "checkpoint.edge"} {
		if files["fork/"+name], err = os.ReadFile(filepath.Join(forked, log.PublicDir, name)); err != nil {
			return err
		}
	}
	for name, data := range files {
		path := filepath.Join(out, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// fixedClock returns a clock that starts at t and advances one second a
// reading, so entries get distinct, reproducible times.
func fixedClock(t time.Time) func() time.Time {
	return func() time.Time {
		t = t.Add(time.Second)
		return t
	}
}

// importLines imports lines into the log at dir as one batch, as citylog
// import does, and publishes the identifier index.
// It returns the code of each line.
func importLines(ctx context.Context, dir string, now func() time.Time, lines []string) ([]string, error) {
	w, err := log.Open(ctx, log.Config{Dir: dir, Now: now})
	if err != nil {
		return nil, err
	}
	var codes []string
	_, err = w.Import(ctx, strings.NewReader(strings.Join(lines, "\n")+"\n"), log.ImportOptions{Workers: 1}, func(lr log.LineResult) error {
		if lr.Err != nil {
			return fmt.Errorf("line %d refused: %w", lr.Line, lr.Err)
		}
		codes = append(codes, lr.Code.String())
		return nil
	})
	if err != nil {
		w.Close()
		return nil, err
	}
	return codes, w.Finish(ctx)
}

type receiptFile struct {
	code  string
	proof []byte
}

// receipt returns the receipt of leaf, whose code is code, at the log's
// current size.
func receipt(ctx context.Context, dir string, leaf uint64, code string) (receiptFile, error) {
	w, err := log.Open(ctx, log.Config{Dir: dir})
	if err != nil {
		return receiptFile{}, err
	}
	defer w.Close()
	proof, err := w.Receipt(ctx, leaf)
	if err != nil {
		return receiptFile{}, err
	}
	return receiptFile{code: code, proof: proof}, nil
}

func readLines(path string, n int) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for len(lines) < n && sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) < n {
		return nil, fmt.Errorf("%s has %d lines, want %d", path, len(lines), n)
	}
	return lines, sc.Err()
}

// copyTree copies the files under src to dst.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, info.Mode().Perm())
	})
}
