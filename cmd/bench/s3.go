package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/citylog/citylog/internal/store/s3store"
)

// s3Server is a versitygw (posix backend) the benchmark starts on
// loopback, with one bucket.
type s3Server struct {
	cmd      *exec.Cmd
	endpoint string
	dir      string // the backend's directory: its files are the objects
	env      []string
}

const benchBucket = "bench"

// startS3 starts versitygw (the binary .ci/test installs into the
// repository's .bin/) with its data in work.
func startS3(bin, work string) (*s3Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := filepath.Join(work, fmt.Sprintf("versitygw-%d", time.Now().UnixNano()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--port", addr, "posix", dir)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY=bench", "ROOT_SECRET_KEY=benchsecret")
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s (run .ci/test once to install it): %w", bin, err)
	}
	s := &s3Server{cmd: cmd, endpoint: "http://" + addr, dir: dir,
		env: []string{"AWS_ENDPOINT_URL=http://" + addr, "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=bench", "AWS_SECRET_ACCESS_KEY=benchsecret"}}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(s.endpoint); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("versitygw did not start")
		}
	}
	st, err := s3store.New(s3store.Config{Bucket: benchBucket, Endpoint: s.endpoint, AccessKey: "bench", SecretKey: "benchsecret", PathStyle: true})
	if err == nil {
		err = st.CreateBucket(context.Background())
	}
	if err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

func (s *s3Server) stop() {
	s.cmd.Process.Kill()
	s.cmd.Wait()
	os.RemoveAll(s.dir)
}

// pid is the server's process, for its peak RSS.
func (s *s3Server) pid() int { return s.cmd.Process.Pid }
