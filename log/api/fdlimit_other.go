//go:build !unix

package api

// fdLimit: no descriptor limit to read; a modest cap.
func fdLimit() int { return 8192 }
