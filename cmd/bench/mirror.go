package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/citylog/citylog/log"
)

// benchMirror times a first cityverify mirror of an n-entry log from its
// directory into a versitygw bucket and into a directory: time, entries
// verified and copied per second, files, and the mirror's peak RSS.
func benchMirror(n int, work, versitygw string) error {
	dir, err := cachedLog(n, work)
	if err != nil {
		return err
	}
	bin, err := buildCommand("cityverify", work)
	if err != nil {
		return err
	}
	s3, err := startS3(versitygw, work)
	if err != nil {
		return err
	}
	defer s3.stop()
	into := filepath.Join(work, fmt.Sprintf("mirror-%d", time.Now().UnixNano()))
	defer os.RemoveAll(into)
	for _, c := range []struct{ name, to string }{
		{"directory -> versitygw bucket", fmt.Sprintf("s3://%s/mirror-%d", benchBucket, time.Now().UnixNano())},
		{"directory -> directory", into},
	} {
		cmd := exec.Command(bin, "mirror", "--log", filepath.Join(dir, log.PublicDir), "--key", filepath.Join(dir, log.StateDir, "vkey"), "--to", c.to, "--json")
		cmd.Env = append(os.Environ(), s3.env...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, os.Stderr
		start := time.Now()
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("mirror %s: %w", c.name, err)
		}
		el := time.Since(start)
		var rep struct {
			Entries uint64
			Files   int
		}
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			return fmt.Errorf("mirror %s printed %q: %w", c.name, out.String(), err)
		}
		rss := ranPeakRSS(cmd)
		fmt.Printf("cityverify mirror, %s, %d entries from empty: %.2f s, %.0f entries/s, %d files, peak RSS %.1f MiB\n",
			c.name, rep.Entries, el.Seconds(), float64(rep.Entries)/el.Seconds(), rep.Files, rss)
	}
	return nil
}
