package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/madx-project/madx/conformance/kit"
	"github.com/madx-project/madx/internal/cputime"
)

// TestBenchAgainstOurServer drives every phase briefly against an
// in-process server: all generated reports must be accepted and read back.
func TestBenchAgainstOurServer(t *testing.T) {
	base, _ := startServe(t, "--data-dir", t.TempDir(), "--load", filepath.Join("..", "..", "testdata", "madx", "definitions"))
	var out bytes.Buffer
	args := []string{"bench", "--base", base, "--phases", "put,bundle,adx,read", "--count", "6", "--concurrency", "2", "--bundle-size", "5", "--facilities", "7", "--verify", "50"}
	if err := run(context.Background(), args, func(string) string { return "" }, &out, &out); err != nil {
		t.Fatalf("bench: %v\n%s", err, out.String())
	}
	for _, want := range []string{"put c=2", "bundle n=5 c=2", "adx n=5 c=2", "read c=2", "7 facilities loaded", "0 mismatches"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("bench output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestBenchRefusesRemoteAndBadFlags(t *testing.T) {
	env := func(string) string { return "" }
	for _, args := range [][]string{
		{"bench"},
		{"bench", "--base", "http://example.org/fhir"},
		{"bench", "--base", "http://127.0.0.1:1/fhir", "--phases", "put,delete"},
		{"bench", "--base", "http://127.0.0.1:1/fhir", "--concurrency", "0"},
	} {
		if err := run(context.Background(), args, env, &bytes.Buffer{}, &bytes.Buffer{}); !errors.Is(err, errUsage) {
			t.Errorf("run %v: %v, want a usage error", args, err)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	for base, want := range map[string]bool{
		"http://127.0.0.1:8080/fhir": true, "http://localhost/fhir": true, "http://[::1]:80/fhir": true,
		"https://hmis.example.org/fhir": false, "http://10.0.0.1/fhir": false, "::not a url": false,
	} {
		if got := isLoopback(base); got != want {
			t.Errorf("isLoopback(%q) = %v", base, got)
		}
	}
}

// TestGeneratedReportsAreConsistent: the population count is the sum of
// the first stratifier, every other stratifier splits it, and ids and
// periods give each (facility, month) one report.
func TestGeneratedReportsAreConsistent(t *testing.T) {
	g, err := newReportGen(kit.Fixtures(), 3)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[string]bool{}
	for k := range 9 {
		r := g.make(k, rng)
		var doc struct {
			ID      string `json:"id"`
			Subject struct{ Reference string }
			Period  struct{ Start, End string }
			Group   []struct {
				Population []struct{ Count int }
				Stratifier []struct {
					Stratum []struct {
						MeasureScore struct{ Value int } `json:"measureScore"`
					}
				}
			}
		}
		if err := json.Unmarshal(r.body, &doc); err != nil {
			t.Fatalf("report %d is not JSON: %v\n%s", k, err, r.body)
		}
		key := doc.Subject.Reference + " " + doc.Period.Start
		if doc.ID != r.id || seen[key] || !strings.HasSuffix(doc.Period.End, "-31") && !strings.HasSuffix(doc.Period.End, "-30") {
			t.Errorf("report %d: id %s, key %s (seen %v), period %+v", k, doc.ID, key, seen[key], doc.Period)
		}
		seen[key] = true
		count := doc.Group[0].Population[0].Count
		if count != r.count {
			t.Errorf("report %d: count %d, generator says %d", k, count, r.count)
		}
		for i, s := range doc.Group[0].Stratifier {
			sum := 0
			for _, st := range s.Stratum {
				sum += st.MeasureScore.Value
			}
			if sum != count {
				t.Errorf("report %d stratifier %d sums to %d, count is %d", k, i, sum, count)
			}
		}
	}
}

// TestProcCPU compares procCPU with getrusage around a spin rather than
// with the wall time spun: on a shared machine the spin may get much less
// CPU than the wall time it takes, so a wall-time bound is a coin toss.
func TestProcCPU(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc here")
	}
	// getrusage is read outside procCPU's readings, so its span holds theirs.
	ruBefore := cputime.Process()
	before := procCPU(os.Getpid())
	deadline := time.Now().Add(10 * time.Second)
	for x := 0; cputime.Process()-ruBefore < 300*time.Millisecond && time.Now().Before(deadline); x++ {
		_ = x * x
	}
	after := procCPU(os.Getpid())
	got, want := after-before, cputime.Process()-ruBefore
	// /proc/PID/stat counts utime and stime in 10 ms ticks, each truncated
	// at both readings: up to 20 ms either way, and a little more under for
	// the getrusage calls outside the span.
	if d := got - want; d < -50*time.Millisecond || d > 30*time.Millisecond {
		t.Errorf("procCPU counted %v over a spin that getrusage counted as %v", got, want)
	}
	if procCPU(0) != 0 || procCPU(-1) != 0 {
		t.Error("procCPU of no process is not 0")
	}
}
