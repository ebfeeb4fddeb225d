package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/citylog/citylog/log"
)

// benchAudit times a full audit (cityverify monitor from an empty state)
// of an n-entry log read from a local directory.
func benchAudit(n int, work string) error {
	dir, err := cachedLog(n, work)
	if err != nil {
		return err
	}
	bin, err := buildCommand("cityverify", work)
	if err != nil {
		return err
	}
	state := filepath.Join(work, fmt.Sprintf("audit-state-%d", time.Now().UnixNano()))
	defer os.RemoveAll(state)
	cmd := exec.Command(bin, "monitor", "--log", filepath.Join(dir, log.PublicDir), "--key", filepath.Join(dir, log.StateDir, "vkey"), "--state", state)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("monitor: %w", err)
	}
	el := time.Since(start)
	rss := ranPeakRSS(cmd)
	fmt.Printf("cityverify monitor, full audit of a %d-entry log from an empty state: %.2f s, %.0f entries/s, peak RSS %.1f MiB\n",
		n, el.Seconds(), float64(n)/el.Seconds(), rss)
	return nil
}
