//go:build linux && !citylog_portable

package fptable

import "golang.org/x/sys/unix"

// adviseHuge asks for huge pages: fewer TLB misses on random probes.
// Advisory; failure changes nothing.
func adviseHuge(mem []byte) { unix.Madvise(mem, unix.MADV_HUGEPAGE) }
