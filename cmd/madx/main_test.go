package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var servingRE = regexp.MustCompile(`"base_url":"([^"]+)"[^\n]*"message":"madx serving"`)

// startServe runs `madx serve` in-process until the returned stop is
// called; it returns the FHIR base URL.
func startServe(t *testing.T, args ...string) (base string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan error, 1)
	env := func(string) string { return "" }
	go func() {
		done <- run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), env, io.Discard, &stderr)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := servingRE.FindStringSubmatch(stderr.String()); m != nil {
			var once sync.Once
			var err error
			stop := func() error {
				once.Do(func() { cancel(); err = <-done })
				return err
			}
			t.Cleanup(func() { _ = stop() })
			return m[1], stop
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited early: %v\n%s", err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	t.Fatalf("serve did not start:\n%s", stderr.String())
	return "", nil
}

func request(t *testing.T, method, url string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func projectFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withoutMeta decodes a resource and drops meta.versionId/lastUpdated.
func withoutMeta(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if meta, ok := m["meta"].(map[string]any); ok {
		delete(meta, "versionId")
		delete(meta, "lastUpdated")
		if len(meta) == 0 {
			delete(m, "meta")
		}
	}
	return m
}

func TestLoadThenServeTheIHEMeasure(t *testing.T) {
	dir := t.TempDir()
	defs := filepath.Join("..", "..", "testdata", "madx", "definitions")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"load", "--data-dir", dir, defs}, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatalf("load: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "Measure/madx-hiv-indicator-example created") || !strings.Contains(out.String(), ", 0 failed") {
		t.Errorf("load summary:\n%s", out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"load", "--data-dir", dir, defs}, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatalf("second load: %v\n%s", err, out.String())
	}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if !strings.HasPrefix(line, "loaded ") && !strings.Contains(line, " unchanged (W/\"1\")") {
			t.Errorf("second load changed something: %s", line)
		}
	}

	base, _ := startServe(t, "--data-dir", dir)
	status, hdr, body := request(t, "GET", base+"/Measure/madx-hiv-indicator-example", nil)
	if status != http.StatusOK || hdr.Get("ETag") != `W/"1"` {
		t.Fatalf("GET Measure: %d %s", status, hdr.Get("ETag"))
	}
	want := withoutMeta(t, projectFile(t, "testdata/madx/definitions/Measure-madx-hiv-indicator-example.json"))
	if diff := cmp.Diff(want, withoutMeta(t, body)); diff != "" {
		t.Errorf("served Measure differs from the IHE example beyond meta (-want +got):\n%s", diff)
	}
	// The README walk-through: PUT the IG's example report.
	status, _, body = request(t, "PUT", base+"/MeasureReport/mADX-MeasureReport-example", projectFile(t, "testdata/madx/reports/MeasureReport-mADX-MeasureReport-example.json"))
	if status != http.StatusCreated {
		t.Fatalf("PUT example report: %d %s", status, body)
	}
}

func TestLoadFailsOnBadFile(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(t.TempDir(), "Measure-bad.json")
	os.WriteFile(bad, []byte(`{"resourceType":"Measure","id":"bad","status":"active"}`), 0o600)
	var out bytes.Buffer
	err := run(context.Background(), []string{"load", "--data-dir", dir, bad}, func(string) string { return "" }, &out, io.Discard)
	if err == nil || !strings.Contains(out.String(), "FAILED") || !strings.Contains(out.String(), "422") {
		t.Errorf("load of an invalid Measure: err=%v\n%s", err, out.String())
	}
}

func TestServeLoadFlagAndRestart(t *testing.T) {
	dir := t.TempDir()
	base, stop := startServe(t, "--data-dir", dir, "--load", filepath.Join("..", "..", "testdata", "madx", "definitions"))
	report := projectFile(t, "testdata/madx/reports/MeasureReport-mADX-MeasureReport-example-literal-subject.json")
	if status, _, body := request(t, "PUT", base+"/MeasureReport/mADX-MeasureReport-example-literal-subject", report); status != http.StatusCreated {
		t.Fatalf("PUT: %d %s", status, body)
	}
	if err := stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	base, _ = startServe(t, "--data-dir", dir)
	status, hdr, _ := request(t, "GET", base+"/MeasureReport/mADX-MeasureReport-example-literal-subject", nil)
	if status != http.StatusOK || hdr.Get("ETag") != `W/"1"` {
		t.Fatalf("after restart: %d %s", status, hdr.Get("ETag"))
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"bogus"}, {"serve", "--no-such-flag"}, {"load"}} {
		if err := run(context.Background(), args, func(string) string { return "" }, io.Discard, io.Discard); !errors.Is(err, errUsage) {
			t.Errorf("run %v: err=%v, want a usage error", args, err)
		}
	}
}

// TestCommandHelpExitsZero: `madx COMMAND --help` (and -h) prints the
// command's flags and succeeds; it is not "flag: help requested" (issue 11).
func TestCommandHelpExitsZero(t *testing.T) {
	for _, cmd := range []string{"serve", "load", "validate", "conformance", "bench", "token"} {
		for _, h := range []string{"--help", "-h"} {
			var out strings.Builder
			if err := run(context.Background(), []string{cmd, h}, func(string) string { return "" }, io.Discard, &out); err != nil {
				t.Errorf("madx %s %s: %v, want success", cmd, h, err)
			}
			if !strings.Contains(out.String(), "-") {
				t.Errorf("madx %s %s printed no flags: %q", cmd, h, out.String())
			}
		}
	}
}

// TestKillNineKeepsAcknowledgedWrites runs the real binary, sends reports,
// kills it with SIGKILL at an arbitrary point, restarts it on the same data
// directory, and checks that every acknowledged version is there.
func TestKillNineKeepsAcknowledgedWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	start := func() (*exec.Cmd, string) {
		return startBinary(t, bin, "--data-dir", dir, "--load", filepath.Join("..", "..", "testdata", "madx", "definitions"))
	}
	cmd, base := start()
	acked := writeUntilKilled(t, cmd, base, 1, 1500*time.Millisecond)
	cmd, base = start()
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	for id, etag := range acked {
		status, hdr, _ := request(t, "GET", base+"/MeasureReport/"+id, nil)
		if status != http.StatusOK || hdr.Get("ETag") != etag {
			t.Errorf("acknowledged %s (%s) after kill -9: %d %s", id, etag, status, hdr.Get("ETag"))
		}
	}
	t.Logf("%d acknowledged writes all survived kill -9", len(acked))
}

// buildBinary builds madx for the tests that run and kill the real
// binary.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "madx")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// startBinary runs `bin serve` on a free loopback port with args and
// returns it with its FHIR base once it serves.
func startBinary(t *testing.T, bin string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if m := servingRE.FindStringSubmatch(sc.Text()); m != nil {
			go io.Copy(io.Discard, stderr)
			return cmd, m[1]
		}
	}
	cmd.Process.Kill()
	t.Fatalf("binary did not start")
	return nil, ""
}

// writeUntilKilled sends reports from 4 writers to base, SIGKILLs cmd
// after d, and returns the acknowledged ids with their ETags. Each
// writer PUTs one report at a time (per 1), or POSTs collection Bundles of
// per reports (their ETags are not kept).
func writeUntilKilled(t *testing.T, cmd *exec.Cmd, base string, per int, d time.Duration) map[string]string {
	t.Helper()
	template := string(projectFile(t, "testdata/madx/reports/MeasureReport-mADX-MeasureReport-example-literal-subject.json"))
	acked := map[string]string{} // id -> ETag
	var mu sync.Mutex
	var wg sync.WaitGroup
	stopWriting := make(chan struct{})
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stopWriting:
					return
				default:
				}
				var ids, bodies []string
				for j := range per {
					n := i*per + j
					id := fmt.Sprintf("k%d-%d", w, n)
					body := strings.Replace(template, `"id": "mADX-MeasureReport-example-literal-subject"`, fmt.Sprintf(`"id": %q`, id), 1)
					month := time.Date(1900+n/12, time.Month(1+n%12), 1, 0, 0, 0, 0, time.UTC)
					body = strings.Replace(body, `"period": {"start":"2025-01-01","end":"2025-01-31"}`,
						fmt.Sprintf(`"period": {"start":%q,"end":%q}`, month.Format("2006-01-02"), month.AddDate(0, 1, -1).Format("2006-01-02")), 1)
					body = strings.Replace(body, `"reference":"Location/HealthPost1"`, fmt.Sprintf(`"reference":"Location/HealthPost%d"`, 1+w%3), -1)
					ids, bodies = append(ids, id), append(bodies, body)
				}
				method, url, body, ok := "PUT", base+"/MeasureReport/"+ids[0], bodies[0], http.StatusCreated
				if per > 1 {
					method, url, ok = "POST", base, http.StatusOK
					body = `{"resourceType":"Bundle","type":"collection","entry":[{"resource":` + strings.Join(bodies, `},{"resource":`) + `}]}`
				}
				req, _ := http.NewRequest(method, url, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/fhir+json")
				if per > 1 {
					req.Header.Set("Prefer", "return=minimal")
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return // the server died
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == ok {
					mu.Lock()
					for _, id := range ids {
						acked[id] = resp.Header.Get("ETag")
					}
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(d)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	close(stopWriting)
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("no write was acknowledged before the kill")
	}
	return acked
}

// TestServeSetsGCTarget checks --gc-percent, and that GOGC, when set, wins
// (the runtime already applied it; serve leaves it alone).
func TestServeSetsGCTarget(t *testing.T) {
	orig := debug.SetGCPercent(100)
	defer debug.SetGCPercent(orig)

	startServeWith(t, nil, "--gc-percent", "250")
	if got := debug.SetGCPercent(100); got != 250 {
		t.Errorf("with --gc-percent 250 the GC target is %d", got)
	}

	debug.SetGCPercent(77)
	startServeWith(t, map[string]string{"GOGC": "77"}, "--gc-percent", "250")
	if got := debug.SetGCPercent(100); got != 77 {
		t.Errorf("with GOGC set, serve changed the GC target to %d", got)
	}
}
