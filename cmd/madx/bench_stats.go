package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// phaseStats gathers one phase's measurements from many workers.
type phaseStats struct {
	name     string
	mu       sync.Mutex
	lat      []time.Duration
	requests int
	reports  int // reports acknowledged (2xx) by the server
	errors   map[string]int
	elapsed  time.Duration
	peakRSS  int64 // bytes, sampled during the phase; 0 when unknown
	// serverCPU and benchCPU are the CPU time (user + system) the server
	// process (0 when not local) and this tool used during the phase: on a
	// shared machine CPU per report is the figure that stays put.
	serverCPU, benchCPU time.Duration
}

func newPhase(name string) *phaseStats { return &phaseStats{name: name, errors: map[string]int{}} }

// record adds one request: its latency, the reports it carried if it
// succeeded, or the reason it failed ("422", "transport").
func (p *phaseStats) record(d time.Duration, reports int, failure string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests++
	p.lat = append(p.lat, d)
	if failure != "" {
		p.errors[failure]++
		return
	}
	p.reports += reports
}

func (p *phaseStats) errorCount() int {
	n := 0
	for _, c := range p.errors {
		n += c
	}
	return n
}

func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64) }

// writePhases prints the results table.
func writePhases(w io.Writer, phases []*phaseStats) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\trequests\treports\terrors\treq/s\treports/s\tp50 ms\tp95 ms\tp99 ms\tmax ms\tpeak RSS MiB\tserver CPU µs/report\tbench CPU µs/report\t")
	for _, p := range phases {
		lat := slices.Clone(p.lat)
		slices.Sort(lat)
		secs := p.elapsed.Seconds()
		rss := "-"
		if p.peakRSS > 0 {
			rss = strconv.FormatInt(p.peakRSS>>20, 10)
		}
		serverCPU, benchCPU := "-", "-"
		if p.reports > 0 {
			if p.serverCPU > 0 {
				serverCPU = strconv.FormatInt(p.serverCPU.Microseconds()/int64(p.reports), 10)
			}
			benchCPU = strconv.FormatInt(p.benchCPU.Microseconds()/int64(p.reports), 10)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.0f\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", p.name, p.requests, p.reports, p.errorCount(),
			float64(p.requests)/secs, float64(p.reports)/secs,
			ms(percentile(lat, .50)), ms(percentile(lat, .95)), ms(percentile(lat, .99)), ms(percentile(lat, 1)), rss, serverCPU, benchCPU)
	}
	tw.Flush()
	for _, p := range phases {
		if len(p.errors) == 0 {
			continue
		}
		keys := make([]string, 0, len(p.errors))
		for k := range p.errors {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s x%d", k, p.errors[k]))
		}
		fmt.Fprintf(w, "errors in %s: %s\n", p.name, strings.Join(parts, ", "))
	}
}

// isLoopback says whether the URL's host is this machine.
func isLoopback(base string) bool {
	u, err := url.Parse(base)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// serverPID finds the local process listening on base's port by reading
// /proc/net/tcp{,6} for the listening socket's inode and /proc/*/fd for its
// owner (Linux; 0 when it cannot be found or is not ours to read).
func serverPID(base string) int {
	u, err := url.Parse(base)
	if err != nil {
		return 0
	}
	port, _ := strconv.Atoi(u.Port())
	if port == 0 {
		port = map[string]int{"http": 80, "https": 443}[u.Scheme]
	}
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			// local_address is HEXIP:HEXPORT; st 0A is LISTEN.
			if len(fields) < 10 || fields[3] != "0A" {
				continue
			}
			if i := strings.LastIndexByte(fields[1], ':'); i > 0 {
				if p, err := strconv.ParseInt(fields[1][i+1:], 16, 32); err == nil && int(p) == port {
					inodes["socket:["+fields[9]+"]"] = true
				}
			}
		}
		fh.Close()
	}
	if len(inodes) == 0 {
		return 0
	}
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range fds {
		if target, err := os.Readlink(fd); err == nil && inodes[target] {
			pid, _ := strconv.Atoi(strings.Split(fd, "/")[2])
			return pid
		}
	}
	return 0
}

// procRSS reads a process's resident set (VmRSS) and its peak (VmHWM) in
// bytes from /proc/PID/status.
func procRSS(pid int) (rss, hwm int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb << 10
		case "VmHWM:":
			hwm = kb << 10
		}
	}
	return rss, hwm
}

// procCPU is the CPU time (user + system) a process has used, from
// /proc/PID/stat in clock ticks (100 per second on Linux); 0 when unknown.
func procCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; fields count from its ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * (time.Second / 100)
}

// sampleRSS records the largest VmRSS of pid into p until stop is closed.
func sampleRSS(pid int, p *phaseStats, stop <-chan struct{}) {
	if pid <= 0 {
		return
	}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		if rss, _ := procRSS(pid); rss > 0 {
			p.mu.Lock()
			p.peakRSS = max(p.peakRSS, rss)
			p.mu.Unlock()
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}
