// Package log is citylog's single writer: it validates and deduplicates
// allocation requests, sequences them into a C2SP tlog-tiles Merkle tree,
// and publishes tiles, entry bundles and a signed checkpoint.
//
// Every batch goes through the same write order, so a crash at any point
// leaves a log that restarts cleanly:
//
//  1. stage: the batch's entries are written durably to the private state;
//  2. apply: its tiles and bundles are created in the public tree and made
//     durable (one Sync);
//  3. publish: the checkpoint that covers them — cosigned by the witness
//     quorum, if witnesses are configured — replaces the old one, durably;
//  4. answer: only now are the allocations reported.
//
// On open, a staged batch that the checkpoint does not yet cover is applied
// again from the staged bytes, so files at immutable paths are rewritten
// with exactly the bytes they already have.
package log

import (
	"context"
	"fmt"

	"github.com/citylog/citylog/tiles"
	"github.com/citylog/citylog/tiles/source"
)

// Storage is where the public tree lives: a directory, or a bucket. Paths
// are slash-separated and relative to the log's prefix. Implementations
// must be safe for concurrent use.
type Storage interface {
	// ReadFile returns the file at path; a missing file is an error
	// wrapping fs.ErrNotExist.
	ReadFile(ctx context.Context, path string) ([]byte, error)
	// CreateFile makes path hold data. If path already holds the same
	// bytes it succeeds; if it holds other bytes it fails and leaves them:
	// tiles and bundles never change once written. The file need not be
	// durable until Sync.
	CreateFile(ctx context.Context, path string, data []byte) error
	// PutFile atomically replaces path with data: readers see the old or
	// the new bytes. It is durable only after Sync. For mutable files
	// other than the checkpoint, such as the identifier index.
	PutFile(ctx context.Context, path string, data []byte) error
	// ReplaceFile atomically replaces path and makes it durable before
	// returning (the identifier index's meta; recovery after a fault).
	ReplaceFile(ctx context.Context, path string, data []byte) error
	// SwapFile is ReplaceFile, but only if path is still the version
	// this store last read or wrote (or, if the store saw it missing,
	// still missing); otherwise it fails with store.ErrLostRace and writes
	// nothing. The checkpoint, its edge file and the writer's claim
	// (claim.go) are swapped: on shared storage, the lock between writers
	// on several machines.
	SwapFile(ctx context.Context, path string, data []byte) error
	// RemoveFile removes a mutable file that is no longer published, such
	// as a shard of an identifier index of another width; a missing file
	// is not an error. The removal need not be durable.
	RemoveFile(ctx context.Context, path string) error
	// RemoveAll removes every file under the directory dir (a prefix, on
	// object storage) and dir itself: the partial tiles a full tile has
	// replaced. A missing dir is not an error; the removal need not be
	// durable.
	RemoveAll(ctx context.Context, dir string) error
	// Sync makes every CreateFile that returned before it durable.
	Sync(ctx context.Context) error
}

// readBundle reads and splits entry bundle index of a log of size
// leaves; a partial bundle that was collected is read from the full one.
func readBundle(ctx context.Context, s Storage, index, size uint64) ([][]byte, error) {
	bt := tiles.Bundle(index, size)
	entries, err := source.FetchBundle(ctx, source.Func{Name: "the log's storage", Read: s.ReadFile}, bt)
	if err != nil {
		return nil, fmt.Errorf("couldn't read %s: %w", bt.Path(), err)
	}
	return entries, nil
}
