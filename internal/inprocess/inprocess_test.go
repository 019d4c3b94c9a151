package inprocess

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestClientGetsWhatTheHandlerAnswered(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("ETag", `W/"2"`)
		w.WriteHeader(http.StatusCreated)
		w.WriteHeader(http.StatusTeapot) // ignored, as net/http does
		io.WriteString(w, "got "+string(b))
	})
	res, err := Client(h).Post("http://x.invalid/fhir/Location", "application/fhir+json", strings.NewReader("body"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusCreated || res.Header.Get("ETag") != `W/"2"` || string(b) != "got body" {
		t.Fatalf("got %d %v %q, want 201, the ETag and %q", res.StatusCode, res.Header, b, "got body")
	}
}

func TestServeDefaultsTo200(t *testing.T) {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	res := Serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }), r)
	if res.Status != http.StatusOK || string(res.Body) != "ok" {
		t.Fatalf("got %d %q", res.Status, res.Body)
	}
}
