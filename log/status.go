package log

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/citylog/citylog/internal/store/dirstore"
)

// Status describes a log as its published checkpoint shows it.
type Status struct {
	Origin      string `json:"origin"`
	VerifierKey string `json:"vkey"`
	Size        uint64 `json:"size"`
	Root        []byte `json:"root"`
	// CheckpointTime is when the checkpoint file was last written, where
	// the store says (a local directory); nil otherwise.
	CheckpointTime *time.Time `json:"checkpoint_time,omitempty"`
}

// CheckLogDir fails unless dir was made by Init (its state holds a key).
func CheckLogDir(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, StateDir, keyFile)); err != nil {
		return fmt.Errorf("%w: %s has no %s (run citylog init first)", ErrNotInitialized, dir, filepath.Join(StateDir, keyFile))
	}
	return nil
}

// ReadStatus reads and verifies a log's checkpoint, from store (nil: the
// directory dir/public), without taking the writer's lock, so it works
// while a writer runs.
func ReadStatus(ctx context.Context, dir string, store Storage) (Status, error) {
	if err := CheckLogDir(dir); err != nil {
		return Status{}, err
	}
	state := filepath.Join(dir, StateDir)
	_, v, err := readKeys(state)
	if err != nil {
		return Status{}, err
	}
	pub := filepath.Join(dir, PublicDir)
	local := store == nil
	if local {
		if store, err = dirstore.New(pub); err != nil {
			return Status{}, err
		}
	}
	cp, _, err := readCheckpoint(ctx, store, v)
	if err != nil {
		return Status{}, err
	}
	vkey, _ := os.ReadFile(filepath.Join(state, vkeyFile))
	out := Status{Origin: cp.Origin, VerifierKey: string(trimNL(vkey)), Size: cp.Size, Root: cp.Root[:]}
	if st, err := os.Stat(filepath.Join(pub, CheckpointPath)); local && err == nil {
		t := st.ModTime().UTC()
		out.CheckpointTime = &t
	}
	return out, nil
}
