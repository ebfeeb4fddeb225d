package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"time"

	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/storage/posix"
	"golang.org/x/mod/sumdb/note"
)

// importTessera appends every line of in, as the entry's bytes, to a new
// Tessera POSIX log, and returns once a checkpoint covers them all.
func importTessera(ctx context.Context, in, out string) error {
	skey, _, err := note.GenerateKey(rand.Reader, "bench.tessera.example/log")
	if err != nil {
		return err
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		return err
	}
	driver, err := posix.New(ctx, posix.Config{Path: out})
	if err != nil {
		return err
	}
	opts := tessera.NewAppendOptions().
		WithCheckpointSigner(signer).
		WithBatching(4096, 100*time.Millisecond).
		WithPushback(1 << 22).
		WithCheckpointInterval(time.Second)
	appender, shutdown, reader, err := tessera.NewAppender(ctx, driver, opts)
	if err != nil {
		return err
	}
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	var futures []tessera.IndexFuture
	for sc.Scan() {
		futures = append(futures, appender.Add(ctx, tessera.NewEntry(append([]byte(nil), sc.Bytes()...))))
	}
	if err := sc.Err(); err != nil {
		return err
	}
	var last uint64
	for _, fut := range futures {
		idx, err := fut()
		if err != nil {
			return err
		}
		last = max(last, idx.Index)
	}
	// Durable means published: wait for a checkpoint that covers every entry.
	awaiter := tessera.NewPublicationAwaiter(ctx, reader.ReadCheckpoint, 50*time.Millisecond)
	if _, _, err := awaiter.Await(ctx, func() (tessera.Index, error) { return tessera.Index{Index: last}, nil }); err != nil {
		return fmt.Errorf("waiting for the checkpoint: %w", err)
	}
	return shutdown(ctx)
}
