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
	Origin         string    `json:"origin"`
	VerifierKey    string    `json:"vkey"`
	Size           uint64    `json:"size"`
	Root           []byte    `json:"root"`
	CheckpointTime time.Time `json:"checkpoint_time"`
}

// ReadStatus reads and verifies a log's checkpoint without taking the
// writer's lock, so it works while a writer runs.
func ReadStatus(ctx context.Context, dir string) (Status, error) {
	state := filepath.Join(dir, StateDir)
	if _, err := os.Stat(filepath.Join(state, keyFile)); err != nil {
		return Status{}, fmt.Errorf("%w: %s has no %s (run citylog init first)", ErrNotInitialized, dir, filepath.Join(StateDir, keyFile))
	}
	_, v, err := readKeys(state)
	if err != nil {
		return Status{}, err
	}
	pub := filepath.Join(dir, PublicDir)
	store, err := dirstore.New(pub)
	if err != nil {
		return Status{}, err
	}
	cp, _, err := readCheckpoint(ctx, store, v)
	if err != nil {
		return Status{}, err
	}
	st, err := os.Stat(filepath.Join(pub, CheckpointPath))
	if err != nil {
		return Status{}, err
	}
	vkey, _ := os.ReadFile(filepath.Join(state, vkeyFile))
	return Status{Origin: cp.Origin, VerifierKey: string(trimNL(vkey)), Size: cp.Size, Root: cp.Root[:], CheckpointTime: st.ModTime().UTC()}, nil
}
