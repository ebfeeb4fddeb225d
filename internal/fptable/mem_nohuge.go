//go:build unix && !linux && !citylog_portable

package fptable

func adviseHuge([]byte) {}
