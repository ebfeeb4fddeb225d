//go:build !unix && !windows

package durable

import "os"

// lockFile does nothing where the platform has no file locks (js,
// wasip1): one process per state directory is then the caller's promise.
func lockFile(*os.File) error { return nil }
