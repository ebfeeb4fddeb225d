package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/citylog/citylog/log"
)

// benchGrow imports n new generated requests into a kept log that holds
// at least base entries, in a child process, and reports what the import
// into a fresh log reports: the figures show whether time and memory
// grow with the size of the log already there. The kept log grows by n
// each run; its requests never repeat.
func benchGrow(n, base int, work, cpuProfile string) error {
	dir, err := cachedLog(base, work)
	if err != nil {
		return err
	}
	st, err := log.ReadStatus(context.Background(), dir, nil)
	if err != nil {
		return err
	}
	input := filepath.Join(work, "grow.jsonl")
	if err := generateFrom(input, int(st.Size), n); err != nil {
		return err
	}
	defer os.Remove(input)
	cmd := exec.Command(os.Args[0], "-child", "citylog-append", "-in", input, "-out", dir, "-cpuprofile", cpuProfile)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("citylog: %w", err)
	}
	el := time.Since(start).Seconds()
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	fmt.Printf("citylog   %9d entries into a log of %d  %7.2f s  %9.0f entries/s  peak RSS %6.1f MiB  %8.1f MiB written\n",
		n, st.Size, el, float64(n)/el, float64(ru.Maxrss)/1024, float64(ru.Oublock)*512/(1<<20))
	return nil
}
