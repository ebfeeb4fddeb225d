package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// citylogCmd runs this test binary as the citylog command.
func citylogCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "CITYLOG_TEST_MAIN=1")
	return cmd
}

type ack struct {
	Line     int
	Code     string
	Index    uint64
	Existing bool
	Error    string
}

// TestKilledImportLosesNothing kills citylog import with SIGKILL at
// several points and checks invariant 2: every code it printed is in the
// log after a restart, under the same code.
func TestKilledImportLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("imports 60,000 lines several times")
	}
	var in bytes.Buffer
	for i := 0; i < 60000; i++ {
		fmt.Fprintf(&in, `{"country":"DE","subdivision":"BY","name":"Town %d","ids":["geonames:%d"]}`+"\n", i, i+1)
	}
	input := filepath.Join(t.TempDir(), "in.jsonl")
	if err := os.WriteFile(input, in.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, killAfter := range []int{1, 2500, 17000, 41000} {
		t.Run(fmt.Sprint(killAfter), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "reg")
			if out, err := citylogCmd("init", "--dir", dir, "--origin", "kill.example/log").CombinedOutput(); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			cmd := citylogCmd("import", "--dir", dir, "--json", "--batch", "1000", input)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var acked []ack
			br := bufio.NewReader(stdout)
			for {
				// An acknowledgement is a whole line: a kill in the middle
				// of a write can leave a fragment without its newline.
				line, err := br.ReadString('\n')
				if err != nil {
					break
				}
				var a ack
				if err := json.Unmarshal([]byte(line), &a); err != nil {
					t.Fatalf("bad output line %q", line)
				}
				acked = append(acked, a)
				if len(acked) == killAfter {
					cmd.Process.Signal(syscall.SIGKILL)
				}
			}
			cmd.Wait()
			if len(acked) < killAfter {
				t.Fatalf("import printed only %d lines", len(acked))
			}

			// Restart: the same file again must answer every printed line
			// with the same code, as existing.
			out, err := citylogCmd("import", "--dir", dir, "--json", input).Output()
			if err != nil {
				t.Fatalf("re-import after kill: %v", err)
			}
			again := map[int]ack{}
			for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				var a ack
				json.Unmarshal([]byte(l), &a)
				again[a.Line] = a
			}
			for _, a := range acked {
				b := again[a.Line]
				if !b.Existing || b.Code != a.Code {
					t.Fatalf("line %d was acknowledged as %s before the kill, now %+v", a.Line, a.Code, b)
				}
			}
			if len(again) != 60000 {
				t.Errorf("re-import answered %d lines", len(again))
			}
		})
	}
}
