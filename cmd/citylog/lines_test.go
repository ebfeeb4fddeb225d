package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/citylog/citylog/log"
	"github.com/citylog/citylog/log/idcode"
)

// TestLineWriterFormats: the hand-formatted import answers are byte for
// byte what fmt and encoding/json wrote before them.
func TestLineWriterFormats(t *testing.T) {
	for _, lr := range []log.LineResult{
		{Line: 1, Result: log.Result{Code: idcode.Code{Country: "CN", Subdivision: "HE", Index: 0}, Index: 0}},
		{Line: 70000, Result: log.Result{Code: idcode.Code{Country: "FR", Subdivision: "IDF", Index: 123456789}, Index: 123456789, Existing: true}},
		{Line: 3, Result: log.Result{Code: idcode.Code{Country: "VA", Subdivision: "0", Index: 42}, Index: 42}},
		{Line: 4, Result: log.Result{Err: errors.New("bad line")}},
	} {
		for _, asJSON := range []bool{false, true} {
			var out, stderr bytes.Buffer
			p := &lineWriter{out: &out, stderr: &stderr, asJSON: asJSON}
			if err := p.print(lr); err != nil {
				t.Fatal(err)
			}
			var want, wantErr string
			switch {
			case lr.Err != nil && asJSON:
				want = fmt.Sprintf(`{"line":%d,"error":%q}`+"\n", lr.Line, lr.Err.Error())
			case lr.Err != nil:
				wantErr = fmt.Sprintf("line %d: %v\n", lr.Line, lr.Err)
			case asJSON:
				b, _ := json.Marshal(codeJSON{Line: lr.Line, Code: lr.Code.String(), Index: lr.Index, Existing: lr.Existing})
				want = string(b) + "\n"
			default:
				existing := ""
				if lr.Existing {
					existing = "\texisting"
				}
				want = fmt.Sprintf("%d\t%s\t%d%s\n", lr.Line, lr.Code, lr.Index, existing)
			}
			if out.String() != want || stderr.String() != wantErr {
				t.Errorf("json=%v %+v:\nstdout %q, want %q\nstderr %q, want %q", asJSON, lr, out.String(), want, stderr.String(), wantErr)
			}
		}
	}
}
