package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// benchServe starts citylog serve on a fresh log and drives it with
// clients concurrent allocation requests for d, reporting sustained
// allocations/s, latency percentiles and the server's peak RSS. With
// flood > 0, that many slow connections from 127.0.0.1 try to hold the
// server's connections meanwhile, and the clients dial from 127.0.0.2.
// With versitygw set, the log's public tree is in a bucket of a versitygw
// started for the run.
func benchServe(clients, flood int, d, interval time.Duration, work, versitygw string, withSite bool) error {
	bin, err := buildCommand("citylog", work)
	if err != nil {
		return err
	}
	dir := filepath.Join(work, fmt.Sprintf("serve-%d", time.Now().UnixNano()))
	defer os.RemoveAll(dir)
	var env []string
	initArgs := []string{"init", "--dir", dir, "--origin", "bench.citylog.example/log"}
	if versitygw != "" {
		s3, err := startS3(versitygw, work)
		if err != nil {
			return err
		}
		defer s3.stop()
		env = append(os.Environ(), s3.env...)
		initArgs = append(initArgs, "--storage", "s3://"+benchBucket+"/log")
	}
	initCmd := exec.Command(bin, initArgs...)
	initCmd.Env = env
	if out, err := initCmd.CombinedOutput(); err != nil {
		return fmt.Errorf("init: %v: %s", err, out)
	}
	tok, err := exec.Command(bin, "token", "add", "bench", "--dir", dir).Output()
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	token := strings.TrimSpace(string(tok))
	if withSite {
		siteCmd := exec.Command(bin, "site", "--dir", dir)
		siteCmd.Env = env
		if out, err := siteCmd.CombinedOutput(); err != nil {
			return fmt.Errorf("site: %v: %s", err, out)
		}
	}
	srv, addr, err := startServer(bin, dir, interval, env)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	var lat []time.Duration
	var errs int
	var loopErr error
	// The first second (or two intervals) warms up connections and is not
	// measured: 512 connections opening at once would otherwise show up as
	// first-batch latency.
	warm := max(time.Second, 2*interval)
	start := time.Now()
	measureFrom := start.Add(warm)
	deadline := measureFrom.Add(d)
	var floodConns int64
	if flood > 0 {
		clientAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}
		var fmu sync.Mutex
		var fwg sync.WaitGroup
		for range flood {
			fwg.Add(1)
			go func() {
				defer fwg.Done()
				n := slowConnections(addr, deadline)
				fmu.Lock()
				floodConns += n
				fmu.Unlock()
			}()
		}
		defer func() {
			fwg.Wait()
			fmt.Printf("flood: %d slow connections from 127.0.0.1 made by %d goroutines\n", floodConns, flood)
		}()
	}
	// The CPU the server and this load generator spend in the measured
	// window, per allocation: on 2 shared cores the throughput varies with
	// whatever else runs, the cost per request much less.
	var cpu0 [2]time.Duration
	cpuTaken := make(chan struct{})
	go func() {
		time.Sleep(time.Until(measureFrom))
		cpu0 = [2]time.Duration{procCPU(srv.Process.Pid), cpuTime()}
		close(cpuTaken)
	}()
	// One event loop per core, each with its share of the clients, and
	// one P more than loops: with every P in a loop's epoll_wait the
	// runtime's monitor would take Ps back from them every 20 µs, costing
	// a fifth of the load generator's CPU.
	loops := min(runtime.NumCPU(), clients)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(loops + 1))
	var wg sync.WaitGroup
	for l := range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first, n := l*clients/loops, (l+1)*clients/loops-l*clients/loops
			mine, bad, err := runClients(addr, token, first, n, measureFrom, deadline)
			mu.Lock()
			defer mu.Unlock()
			lat = append(lat, mine...)
			errs += bad
			if err != nil && loopErr == nil {
				loopErr = err
			}
		}()
	}
	wg.Wait()
	if loopErr != nil {
		return loopErr
	}
	elapsed := time.Since(measureFrom)
	<-cpuTaken
	serverCPU, clientCPU := procCPU(srv.Process.Pid)-cpu0[0], cpuTime()-cpu0[1]
	rss := peakRSS(srv.Process.Pid)
	srv.Process.Signal(syscall.SIGTERM)
	srv.Wait()
	if len(lat) == 0 {
		return fmt.Errorf("no request succeeded (%d errors)", errs)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration { return lat[int(float64(len(lat)-1)*p)] }
	floodNote := ""
	if flood > 0 {
		floodNote = fmt.Sprintf(", flood of %d slow connections", flood)
	}
	where := "local disk"
	if versitygw != "" {
		where = "versitygw bucket"
	}
	if withSite {
		where += ", with a web site kept up to date"
	}
	fmt.Printf("citylog serve (%s), %d clients%s, interval %v, %v: %d allocations, %.0f/s sustained, latency p50 %v p99 %v max %v, errors %d, server peak RSS %.1f MiB, CPU per allocation: server %.0f µs, load generator %.0f µs\n",
		where, clients, floodNote, interval, d, len(lat), float64(len(lat))/elapsed.Seconds(), pct(.5).Round(time.Millisecond), pct(.99).Round(time.Millisecond),
		lat[len(lat)-1].Round(time.Millisecond), errs, rss,
		float64(serverCPU.Microseconds())/float64(len(lat)), float64(clientCPU.Microseconds())/float64(len(lat)))
	return nil
}

// startServer starts citylog serve on a free port and returns its address.
// env, if not nil, is its environment.
func startServer(bin, dir string, interval time.Duration, env []string) (*exec.Cmd, string, error) {
	srv := exec.Command(bin, "serve", "--dir", dir, "--listen", "127.0.0.1:0", "--interval", interval.String(), "--max-batch", "16384")
	srv.Env = env
	stderr, _ := srv.StderrPipe()
	if err := srv.Start(); err != nil {
		return nil, "", err
	}
	sc := bufio.NewScanner(stderr)
	addr := ""
	for sc.Scan() {
		var l struct{ Msg, Addr string }
		json.Unmarshal(sc.Bytes(), &l)
		if l.Msg == "serving" {
			addr = l.Addr
			break
		}
	}
	go io.Copy(io.Discard, stderr)
	if addr == "" {
		srv.Process.Kill()
		return nil, "", fmt.Errorf("server did not start")
	}
	return srv, addr, nil
}

// peakRSS reads a process's peak resident set (VmHWM) in MiB.
func peakRSS(pid int) float64 { return procStatus(pid, "VmHWM") }

// ranPeakRSS is the peak resident set in MiB of a command that has run
// (Linux reports it in KiB).
func ranPeakRSS(cmd *exec.Cmd) float64 {
	return float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) / 1024
}

// procCPU reads the user and system CPU time a process has used from
// /proc/PID/stat (in clock ticks of 1/100 s, as Linux reports them to
// user space on every platform Go supports), or 0.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: fields are
	// counted from its end. utime and stime are fields 14 and 15.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// procStatus reads one of a process's memory figures from
// /proc/PID/status, in MiB.
func procStatus(pid int, field string) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			var kb float64
			fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb)
			return kb / 1024
		}
	}
	return 0
}

// allocateRequest appends a complete POST /api/v1/allocate for a city
// numbered n.
func allocateRequest(b []byte, host, token string, n int) []byte {
	var body [160]byte
	j := append(body[:0], `{"country":"DE","subdivision":"BY","name":"Bench `...)
	j = strconv.AppendInt(j, int64(n), 10)
	j = append(j, `","ids":["geonames:`...)
	j = strconv.AppendInt(j, int64(n+1), 10)
	j = append(j, `"],"lat":48.1,"lon":11.5}`...)
	b = append(b, "POST /api/v1/allocate HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\nAuthorization: Bearer "...)
	b = append(b, token...)
	b = append(b, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(j)), 10)
	b = append(b, "\r\n\r\n"...)
	return append(b, j...)
}

// clientAddr, if set, is the local address the clients dial from.
var clientAddr *net.TCPAddr

// slowConnections holds one slow connection after another to addr from
// 127.0.0.1 until deadline: the headers of a request a byte every 100 ms,
// reconnecting as soon as the server drops it. It returns how many it
// made.
func slowConnections(addr string, deadline time.Time) int64 {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}}
	var n int64
	for time.Now().Before(deadline) {
		c, err := d.Dial("tcp", addr)
		if err != nil {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		n++
		for _, b := range []byte("POST /api/v1/allocate HTTP/1.1\r\nHost: x\r\n") {
			if !time.Now().Before(deadline) {
				break
			}
			if _, err := c.Write([]byte{b}); err != nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		c.Close()
	}
	return n
}
