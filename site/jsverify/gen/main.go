// Command gen writes the generated files of package jsverify: rules.js
// (the ISO data of the Go verifier's rules) and testdata/vectors.json
// (the shared vectors, with the Go verifier's verdicts). Both come out
// byte for byte the same every time; the package's tests fail if the
// committed files differ from what it writes. From the repository root:
//
//	go run ./site/jsverify/gen
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/citylog/citylog/log/entry"
	"github.com/citylog/citylog/site/jsverify"
)

func main() {
	dir := flag.String("dir", "site/jsverify", "the package's directory")
	cities := flag.String("cities", "", "the sample cities (default: testdata/cities.jsonl of the repository above -dir)")
	flag.Parse()
	if *cities == "" {
		*cities = filepath.Join(*dir, "..", "..", "testdata", "cities.jsonl")
	}
	if err := run(*dir, *cities); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(dir, citiesPath string) error {
	cities, err := os.ReadFile(citiesPath)
	if err != nil {
		return err
	}
	vs, err := jsverify.Generate(context.Background(), cities)
	if err != nil {
		return err
	}
	data, err := vs.Encode()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.js"), jsverify.RulesJS(entry.DefaultRules()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "testdata", "vectors.json"), data, 0o644)
}
