package kit

import (
	"bytes"
	"context"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// sampleReport has one result of each status.
func sampleReport() *Report {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return &Report{Base: "http://127.0.0.1:8080/fhir", Started: start, Duration: 1234 * time.Millisecond, Results: []Result{
		{Name: "QRPH-59/read-measure-json", Clause: "QRPH-59 2:3.59.4.1", Status: Pass, Duration: 12 * time.Millisecond},
		{Name: "QRPH-58/test-case-2-invalid-code", Clause: "QRPH-58 2:3.58.4.2.3; IHE Test Case 2", Status: Fail,
			Reason: "status 201, want [422]: <body & \"quotes\">", Duration: 30 * time.Millisecond},
		{Name: "FHIR/auth-401", Clause: "QRPH-58 2:3.58.4.2.2 status 401", Status: Skip, Reason: "no token given"},
		{Name: "QRPH-58/collection-bundle-bad-entry", Clause: "QRPH-58 2:3.58.4.1.4", Status: XFail, Reason: "POST [base] answered 404"},
		{Name: "FHIR/etag-versionid", Clause: "FHIR R4 http.html#versioning", Status: XPass, Reason: "declared as an expected failure but passed"},
	}}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	file := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", file, diff)
	}
}

func TestWriteJUnitGolden(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteJUnit(&b); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.junit.xml", b.Bytes())
}

func TestWriteTableGolden(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.txt", b.Bytes())
}

func TestWriteHTMLIsSelfContainedAndEscaped(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	h := b.String()
	for _, bad := range []string{"<script", "src=", "href=", "<body & "} {
		if strings.Contains(h, bad) {
			t.Errorf("HTML report contains %q", bad)
		}
	}
	if !strings.Contains(h, "&lt;body &amp; &#34;quotes&#34;&gt;") || !strings.Contains(h, "1 passed, 2 failed, 1 skipped, 1 expected failures") {
		t.Errorf("HTML report lacks the escaped reason or the summary:\n%s", h)
	}
}

func TestFailedCountsFailAndXPass(t *testing.T) {
	if got := sampleReport().Failed(); got != 2 {
		t.Errorf("Failed() = %d, want 2", got)
	}
}

// TestRunAgainstABrokenServer: a server answering 500 to everything gets
// a report full of failures and skips, never a crash or an error.
func TestRunAgainstABrokenServer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	defer srv.Close()
	rep, err := Run(context.Background(), Options{Base: srv.URL + "/fhir"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != len(Names()) {
		t.Errorf("%d results for %d tests", len(rep.Results), len(Names()))
	}
	for _, r := range rep.Results {
		if r.Status == Pass {
			t.Errorf("%s passed against a server answering 500", r.Name)
		}
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	for _, o := range []Options{{Base: ""}, {Base: "ftp://x"}, {Base: "http://x", Fixtures: os.DirFS(t.TempDir())}} {
		if _, err := Run(context.Background(), o); err == nil {
			t.Errorf("Run(%+v) succeeded", o)
		}
	}
}
