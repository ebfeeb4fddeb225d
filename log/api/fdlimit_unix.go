//go:build unix

package api

import "syscall"

// fdLimit is the process's descriptor limit (Go raises the soft limit to
// the hard one at start).
func fdLimit() int {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil || l.Cur > 1<<20 {
		return 1 << 20
	}
	return int(l.Cur)
}
