// Package jsverify is the citylog verifier of the static site: verify.js,
// a small dependency-free ES module that checks a city code in the
// browser on WebCrypto (SHA-256, Ed25519) exactly as package verifier
// does (docs/SPEC.md §6), and rules.js, the ISO 3166 data it judges
// entries by, generated from the Go verifier's own rules (RulesJS).
//
// The two are held to the Go verifier by shared vectors: Generate builds
// small logs, honest and hostile, and records the Go verifier's verdict
// on each (testdata/vectors.json); the package's tests run every vector
// in a real headless Chromium and require verify.js to give the same
// verdict, fetch the same files, and write receipts verifier.VerifyReceipt
// accepts. Regenerate both files with
//
//	go run ./site/jsverify/gen
//
// The package imports no part of the writer (package log): like
// cityverify, it is the reading side.
package jsverify

import "embed"

//go:generate go run ./gen -dir .

// Files holds verify.js and rules.js, for the site generator to copy
// into the site side by side (verify.js imports "./rules.js"). The module
// exports parseCode, verifyCode and verifyReceipt; see the comments in
// verify.js for their contracts.
//
//go:embed verify.js rules.js
var Files embed.FS
