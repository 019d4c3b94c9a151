package server_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/madx-project/madx/server"
)

func gzipped(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	if _, err := zw.Write(b); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return out.Bytes()
}

func gunzip(tb testing.TB, b []byte) []byte {
	tb.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		tb.Fatalf("answer is not gzip: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		tb.Fatalf("answer is not gzip: %v", err)
	}
	return out
}

// A gzip request body is inflated before it is parsed (issue 11, defect
// 13: it was parsed raw, 400 "found byte 0x1f"); the body cap applies to
// the inflated bytes.
func TestGzipRequestBody(t *testing.T) {
	const maxBody = 256 << 10
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			c := newClient(t, e.open(t), func(o *server.Options) { o.MaxBody = maxBody })
			c.loadDefinitions()
			report := testdata(t, "madx/reports/MeasureReport-mADX-MeasureReport-example.json")
			path := "/MeasureReport/mADX-MeasureReport-example"

			r := c.do("PUT", path, gzipped(t, report), "Content-Encoding", "gzip")
			if r.status != http.StatusCreated {
				t.Fatalf("PUT gzip: %d %s", r.status, r)
			}
			plain := c.do("GET", path, nil)
			if plain.status != http.StatusOK || plain.json(t)["status"] != "pending" {
				t.Fatalf("read back: %d %s", plain.status, plain)
			}
			changed := bytes.Replace(report, []byte(`"status": "pending"`), []byte(`"status": "complete"`), 1)
			r = c.do("PUT", path, gzipped(t, changed), "Content-Encoding", "x-gzip")
			if r.status != http.StatusOK || r.json(t)["status"] != "complete" {
				t.Fatalf("PUT x-gzip update: %d %s", r.status, r)
			}

			// A Bundle is where gzip pays: 46 KB of batch in a few KB.
			batch := testdata(t, "madx/reports/Bundle-hiv-2025-02-batch.json")
			if r := c.do("POST", "/", gzipped(t, batch), "Content-Encoding", "gzip"); r.status != http.StatusOK || r.json(t)["type"] != "batch-response" {
				t.Fatalf("POST gzip batch: %d %s", r.status, r)
			} else {
				for i, e := range r.json(t)["entry"].([]any) {
					if st := e.(map[string]any)["response"].(map[string]any)["status"].(string); !strings.HasPrefix(st, "2") {
						t.Errorf("batch entry %d: %s", i, st)
					}
				}
			}

			// 1 MiB of spaces inflates past the 256 KiB cap from about 1 KiB.
			bomb := gzipped(t, append(append([]byte(nil), report[:len(report)-2]...), bytes.Repeat([]byte(" "), 1<<20)...))
			if len(bomb) > maxBody/8 {
				t.Fatalf("the bomb is %d bytes, not small", len(bomb))
			}
			truncated := gzipped(t, report)
			truncated = truncated[:len(truncated)/2]
			// A flipped byte in the trailer breaks the CRC-32.
			badCRC := gzipped(t, report)
			badCRC[len(badCRC)-6] ^= 0xff
			for _, tc := range []struct {
				name     string
				body     []byte
				encoding string
				status   int
				want     string
			}{
				{"bomb", bomb, "gzip", http.StatusRequestEntityTooLarge, "inflates to more than"},
				{"not gzip", report, "gzip", http.StatusBadRequest, "not a valid gzip stream"},
				{"truncated", truncated, "gzip", http.StatusBadRequest, "gzip request body is corrupt: the stream ends early"},
				{"checksum", badCRC, "gzip", http.StatusBadRequest, "gzip request body is corrupt: gzip: invalid checksum"},
				{"unknown encoding", report, "br", http.StatusUnsupportedMediaType, `Content-Encoding "br" is not supported`},
			} {
				t.Run(tc.name, func(t *testing.T) {
					r := c.do("PUT", path, tc.body, "Content-Encoding", tc.encoding)
					m := wantOutcome(t, r, tc.status)
					diag := m["issue"].([]any)[0].(map[string]any)["diagnostics"].(string)
					if !strings.Contains(diag, tc.want) {
						t.Errorf("diagnostics %q, want it to say %q", diag, tc.want)
					}
				})
			}
			if r := c.do("GET", path, nil); r.json(t)["status"] != "complete" {
				t.Errorf("a refused body changed the report: %s", r)
			}
		})
	}
}

// Answers are gzip-compressed for clients that accept it, never for those
// that do not; small answers, HEAD and 304 keep working.
func TestGzipResponse(t *testing.T) {
	forEachEngine(t, func(t *testing.T, c *client) {
		c.loadDefinitions()
		report := testdata(t, "madx/reports/MeasureReport-mADX-MeasureReport-example.json")
		path := "/MeasureReport/mADX-MeasureReport-example"
		if r := c.do("PUT", path, report); r.status != http.StatusCreated {
			t.Fatalf("PUT: %d %s", r.status, r)
		}
		// Setting Accept-Encoding turns off net/http's transparent gunzip,
		// so the test sees the bytes on the wire.
		plain := c.do("GET", path, nil, "Accept-Encoding", "identity")
		if plain.header.Get("Content-Encoding") != "" || plain.header.Get("Vary") != "Accept-Encoding" {
			t.Errorf("identity: Content-Encoding %q, Vary %q", plain.header.Get("Content-Encoding"), plain.header.Get("Vary"))
		}
		for _, ae := range []string{"gzip", "deflate, gzip;q=0.5", "*"} {
			r := c.do("GET", path, nil, "Accept-Encoding", ae)
			if r.status != http.StatusOK || r.header.Get("Content-Encoding") != "gzip" || r.header.Get("Vary") != "Accept-Encoding" {
				t.Fatalf("Accept-Encoding %s: %d Content-Encoding %q Vary %q", ae, r.status, r.header.Get("Content-Encoding"), r.header.Get("Vary"))
			}
			if diff := cmp.Diff(string(plain.body), string(gunzip(t, r.body))); diff != "" {
				t.Errorf("Accept-Encoding %s: inflated answer differs (-plain +gzip):\n%s", ae, diff)
			}
		}
		if r := c.do("GET", path, nil, "Accept-Encoding", "gzip;q=0, *"); r.header.Get("Content-Encoding") != "" {
			t.Errorf("gzip;q=0 got Content-Encoding %q", r.header.Get("Content-Encoding"))
		}
		// An error outcome is a few hundred bytes: not worth compressing.
		r := c.do("GET", "/MeasureReport/nope", nil, "Accept-Encoding", "gzip")
		if r.status != http.StatusNotFound || r.header.Get("Content-Encoding") != "" {
			t.Errorf("small 404: %d Content-Encoding %q", r.status, r.header.Get("Content-Encoding"))
		}
		wantOutcome(t, r, http.StatusNotFound)

		r = c.do("HEAD", path, nil, "Accept-Encoding", "gzip")
		if r.status != http.StatusOK || len(r.body) != 0 || r.header.Get("ETag") == "" {
			t.Errorf("HEAD: %d, %d body bytes, ETag %q", r.status, len(r.body), r.header.Get("ETag"))
		}
		r = c.do("GET", path, nil, "Accept-Encoding", "gzip", "If-None-Match", plain.header.Get("ETag"))
		if r.status != http.StatusNotModified || len(r.body) != 0 || r.header.Get("Vary") != "Accept-Encoding" {
			t.Errorf("304: %d, %d body bytes, Vary %q", r.status, len(r.body), r.header.Get("Vary"))
		}
	})
}
