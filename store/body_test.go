package store_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/madx-project/madx/store"
	"github.com/madx-project/madx/store/storetest"
)

// TestTemplateFill fills templates cut at many places with holes of many
// sizes, and unpacks each back to the body it stands for.
func TestTemplateFill(t *testing.T) {
	report := storetest.ExampleReport(t)
	big := []byte(strings.Repeat("x", 70000))
	for _, tc := range []struct {
		name       string
		body       []byte
		start, end int
		hole       []byte
	}{
		{"meta of a report", report, 40, 60, []byte(`3","lastUpdated":"2026-11-21T08:00:00.123456+00:00`)},
		{"hole at the start", report, 0, 10, []byte("{")},
		{"hole at the end", report, len(report) - 5, len(report), []byte("}]}")},
		{"empty hole", report, 100, 100, nil},
		{"whole body is the hole", report, 0, len(report), report},
		{"hole longer than a stored block", report, 200, 300, big},
		{"small body stays plain", []byte(`{"resourceType":"Location","id":"x"}`), 2, 14, []byte("resourceType")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := store.NewTemplate(tc.body, tc.start, tc.end)
			if err != nil {
				t.Fatal(err)
			}
			want := append(append(append([]byte(nil), tc.body[:tc.start]...), tc.hole...), tc.body[tc.end:]...)
			stored := tmpl.Fill(tc.hole)
			if len(tc.hole) < 100 && len(tc.body) >= 1024 && (stored[0] != 0 || len(stored) >= len(want)/2) {
				t.Errorf("a %d-byte body was stored in %d bytes (first byte %#x): not packed", len(want), len(stored), stored[0])
			}
			got, err := store.Unpack(stored)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("unpacked body differs from the filled one (%d vs %d bytes)", len(got), len(want))
			}
			// A template is filled many times (retries): each is whole.
			if again, _ := store.Unpack(tmpl.Fill(tc.hole)); !bytes.Equal(again, want) {
				t.Error("second fill differs")
			}
		})
	}
}

func TestTemplateRejectsHoleOutside(t *testing.T) {
	for _, h := range [][2]int{{-1, 3}, {5, 4}, {0, 11}} {
		if _, err := store.NewTemplate([]byte("0123456789"), h[0], h[1]); err == nil {
			t.Errorf("hole %v accepted", h)
		}
	}
}

func TestUnpack(t *testing.T) {
	plain := []byte(`{"resourceType":"Location"}`)
	if got, err := store.Unpack(plain); err != nil || !bytes.Equal(got, plain) {
		t.Errorf("plain body: %q, %v", got, err)
	}
	if got, err := store.Unpack(nil); err != nil || got != nil {
		t.Errorf("no body: %q, %v", got, err)
	}
	if _, err := store.Unpack([]byte{0, 0xff, 0xff, 0x12}); err == nil {
		t.Error("corrupt packed body unpacked without error")
	}
}

// BenchmarkTemplate is the cost of packing a report ahead of the write
// (NewTemplate), of the writer's part (Fill), and of a read (Unpack).
func BenchmarkTemplate(b *testing.B) {
	report := storetest.ExampleReport(b)
	hole := []byte(`1","lastUpdated":"2026-11-21T08:00:00.123456+00:00`)
	b.Run("NewTemplate", func(b *testing.B) {
		b.SetBytes(int64(len(report)))
		for range b.N {
			if _, err := store.NewTemplate(report, 40, 60); err != nil {
				b.Fatal(err)
			}
		}
	})
	tmpl, _ := store.NewTemplate(report, 40, 60)
	stored := tmpl.Fill(hole)
	b.Run("Fill", func(b *testing.B) {
		for range b.N {
			tmpl.Fill(hole)
		}
		b.ReportMetric(float64(len(stored)), "stored-bytes")
		b.ReportMetric(float64(len(report)), "plain-bytes")
	})
	b.Run("Unpack", func(b *testing.B) {
		for range b.N {
			if _, err := store.Unpack(stored); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// FuzzTemplate fills templates of arbitrary bodies, holes and hole
// contents, and unpacks each back to exactly the body it stands for; and
// Unpack of arbitrary bytes must fail cleanly, never panic.
func FuzzTemplate(f *testing.F) {
	report := storetest.ExampleReport(f)
	f.Add(report, uint16(40), uint16(20), []byte(`1","lastUpdated":"2026-11-21T08:00:00Z`))
	f.Add(report, uint16(len(report)-300), uint16(170), []byte("x"))
	f.Add([]byte(`{"resourceType":"Location"}`), uint16(2), uint16(12), []byte(""))
	// Failed before the exemption above was applied ahead of Unpack (one
	// CI run in two): a plain body under 1 KB starting with the mark.
	f.Add([]byte("\x00our"), uint16(2), uint16(6), []byte(""))
	f.Fuzz(func(t *testing.T, body []byte, start, length uint16, hole []byte) {
		if len(body) < 2048 {
			// Arbitrary bytes as a packed body: an error is fine, a panic not.
			// (Bounded: 2 KB of DEFLATE can stand for 2 MB.)
			_, _ = store.Unpack(append([]byte{0}, body...))
		}
		s := int(start) % (len(body) + 1)
		e := s + int(length)%(len(body)-s+1)
		tmpl, err := store.NewTemplate(body, s, e)
		if err != nil {
			t.Fatalf("NewTemplate(%d bytes, %d, %d): %v", len(body), s, e, err)
		}
		want := append(append(append([]byte(nil), body[:s]...), hole...), body[e:]...)
		// A plain body (under 1 KB) that starts with the packed mark 0x00
		// cannot be told from a packed one; the server's bodies are JSON and
		// never start so. The exemption must come before Unpack is judged:
		// such a body is read as DEFLATE and may fail to unpack at all.
		if len(body) < 1024 && len(want) > 0 && want[0] == 0 {
			return
		}
		got, err := store.Unpack(tmpl.Fill(hole))
		if err != nil {
			t.Fatalf("Unpack: %v", err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("round trip differs: %d bytes back, %d expected", len(got), len(want))
		}
	})
}
