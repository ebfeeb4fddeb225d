// Package witness is a C2SP tlog-witness: it cosigns a log's checkpoint
// only if it is consistent with the last one it cosigned for that log, so
// a log cannot show two histories to clients that demand cosignatures.
// Its state survives restarts, and a compare-and-swap under one lock keeps
// concurrent requests from rolling it back.
package witness

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/citylog/citylog/internal/durable"
	"github.com/citylog/citylog/tiles"
	"github.com/citylog/citylog/tiles/cosig"
	"github.com/citylog/citylog/verifier"
	"golang.org/x/mod/sumdb/note"
)

// MaxBodySize bounds an add-checkpoint request.
const MaxBodySize = 1 << 16

// Witness cosigns checkpoints of the logs it is configured for.
type Witness struct {
	signer *cosig.Signer
	logs   map[string]note.Verifier // origin -> the log's key
	state  string
	unlock func() error

	mu sync.Mutex // serialises compare-and-swap of every origin's state
}

// New returns a witness keeping its state in dir, which it locks: a
// second witness process on the same state could cosign two histories,
// each consistent with what it alone saw, so it is refused (the lock is
// flock on Unix, LockFileEx on Windows, and goes with the process).
func New(signer *cosig.Signer, logs []note.Verifier, dir string) (*Witness, error) {
	w := &Witness{signer: signer, logs: map[string]note.Verifier{}, state: dir}
	for _, v := range logs {
		w.logs[v.Name()] = v
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("couldn't create witness state: %w", err)
	}
	unlock, err := durable.Lock(filepath.Join(dir, "lock"))
	if err != nil {
		return nil, fmt.Errorf("couldn't take the witness state %s (one witness process per state): %w", dir, err)
	}
	w.unlock = unlock
	return w, nil
}

// Close releases the state directory.
func (w *Witness) Close() error { return w.unlock() }

func originDir(state, origin string) string {
	h := sha256.Sum256([]byte(origin))
	return filepath.Join(state, hex.EncodeToString(h[:]))
}

// latest returns the last cosigned checkpoint of origin, or size 0.
func (w *Witness) latest(origin string) (tiles.Checkpoint, []byte, error) {
	b, err := os.ReadFile(filepath.Join(originDir(w.state, origin), "checkpoint"))
	if errors.Is(err, fs.ErrNotExist) {
		return tiles.Checkpoint{Origin: origin, Root: tiles.EmptyRoot}, nil, nil
	}
	if err != nil {
		return tiles.Checkpoint{}, nil, err
	}
	cp, err := verifier.OpenCheckpoint(b, w.logs[origin])
	if err != nil {
		return tiles.Checkpoint{}, nil, fmt.Errorf("stored checkpoint of %s does not verify: %w", origin, err)
	}
	return cp.Checkpoint, b, nil
}

// Response is the answer to an add-checkpoint request.
type Response struct {
	Status      int
	ContentType string
	Body        []byte
}

func fail(status int, format string, args ...any) Response {
	return Response{status, "text/plain; charset=utf-8", []byte(fmt.Sprintf(format, args...) + "\n")}
}

// AddCheckpoint handles one add-checkpoint body (tlog-witness): "old N",
// a consistency proof, a blank line, and the signed checkpoint.
func (w *Witness) AddCheckpoint(body []byte) Response {
	old, hashes, signed, err := tiles.ParseAddCheckpoint(body)
	if err != nil {
		return fail(http.StatusBadRequest, "%v", err)
	}
	proof := tiles.HashSlices(hashes)
	origin, _, _ := strings.Cut(string(signed), "\n")
	key, ok := w.logs[origin]
	if !ok {
		return fail(http.StatusNotFound, "this witness does not witness %q", origin)
	}
	opened, err := verifier.OpenCheckpoint(signed, key)
	if errors.Is(err, verifier.ErrMalformed) {
		return fail(http.StatusBadRequest, "malformed checkpoint: %v", err)
	}
	if err != nil {
		return fail(http.StatusForbidden, "%v", err)
	}
	cp := opened.Checkpoint
	if old > cp.Size {
		return fail(http.StatusBadRequest, "old size %d is larger than the checkpoint's %d", old, cp.Size)
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	prev, _, err := w.latest(origin)
	if err != nil {
		return fail(http.StatusInternalServerError, "witness state: %v", err)
	}
	if old != prev.Size {
		return Response{http.StatusConflict, "text/x.tlog.size", []byte(strconv.FormatUint(prev.Size, 10) + "\n")}
	}
	if cp.Size == 0 && cp.Root != tiles.EmptyRoot {
		return fail(http.StatusUnprocessableEntity, "a checkpoint of size 0 must carry the empty root")
	}
	if old == 0 && len(proof) != 0 {
		return fail(http.StatusUnprocessableEntity, "a proof from size 0 must be empty")
	}
	if err := tiles.VerifyConsistency(prev.Size, cp.Size, proof, prev.Root[:], cp.Root[:]); err != nil {
		return fail(http.StatusUnprocessableEntity, "not consistent with the checkpoint of size %d this witness cosigned: %v", prev.Size, err)
	}
	cosigned, err := note.Sign(&note.Note{Text: opened.Body()}, w.signer)
	if err != nil {
		return fail(http.StatusInternalServerError, "couldn't cosign: %v", err)
	}
	_, line, _ := bytes.Cut(cosigned, []byte("\n\n"))
	stored := append(append([]byte(nil), signed...), line...)
	if err := w.store(origin, stored); err != nil {
		return fail(http.StatusInternalServerError, "couldn't persist witness state: %v", err)
	}
	return Response{http.StatusOK, "text/plain; charset=utf-8", line}
}

// store persists the new latest checkpoint, durably, before the reply, and
// appends it to the origin's history so a fork can be proven later.
func (w *Witness) store(origin string, cp []byte) error {
	dir := originDir(w.state, origin)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	h, err := os.OpenFile(filepath.Join(dir, "history"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	_, err = h.Write(append(append([]byte(nil), cp...), '\n'))
	if err == nil {
		err = h.Sync()
	}
	if cerr := h.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return durable.WriteFile(filepath.Join(dir, "checkpoint"), cp, 0o600)
}

// ServeHTTP serves POST /add-checkpoint and, for monitoring,
// GET /<hex(SHA-256(origin))>/checkpoint.
func (w *Witness) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/add-checkpoint" {
		if r.Method != http.MethodPost {
			rw.Header().Set("Allow", "POST")
			http.Error(rw, "use POST", http.StatusMethodNotAllowed)
			return
		}
		body, err := readBody(rw, r)
		if err != nil {
			http.Error(rw, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		resp := w.AddCheckpoint(body)
		rw.Header().Set("Content-Type", resp.ContentType)
		rw.WriteHeader(resp.Status)
		rw.Write(resp.Body)
		return
	}
	id, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/"), "/checkpoint")
	if !ok || len(id) != 64 || strings.Trim(id, "0123456789abcdef") != "" || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		http.NotFound(rw, r)
		return
	}
	b, err := os.ReadFile(filepath.Join(w.state, id, "checkpoint"))
	if err != nil {
		http.NotFound(rw, r)
		return
	}
	rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
	rw.Write(b)
}

func readBody(rw http.ResponseWriter, r *http.Request) ([]byte, error) {
	var buf bytes.Buffer
	_, err := buf.ReadFrom(http.MaxBytesReader(rw, r.Body, MaxBodySize))
	if err != nil {
		return nil, fmt.Errorf("request body larger than %d bytes", MaxBodySize)
	}
	return buf.Bytes(), nil
}
