package mongo_test

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/madx-project/madx/store"
	"github.com/madx-project/madx/store/mongo"
	"github.com/madx-project/madx/store/mongotest"
)

func TestOpenNoServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // a port nobody listens on
	_, err = mongo.Open(context.Background(), mongo.Options{URI: "mongodb://" + addr + "/", ConnectTimeout: 300 * time.Millisecond})
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Open without a server: err=%v, want ErrUnavailable", err)
	}
}

func TestServerGone(t *testing.T) {
	var s *mongo.Store
	t.Run("while the server runs", func(t *testing.T) {
		uri := mongotest.Start(t)
		var err error
		s, err = mongo.Open(context.Background(), mongo.Options{URI: uri, ConnectTimeout: 300 * time.Millisecond, RecoverEvery: -1})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		mustWrite(t, s, report("r", "k", `1`))
	}) // the server stops here
	defer s.Close()
	ctx := context.Background()
	checks := map[string]error{
		"Ping": s.Ping(ctx),
		"Read": func() error { _, err := s.Read(ctx, "MeasureReport", "r"); return err }(),
		"Write": func() error {
			_, err := s.Write(ctx, []store.Change{report("r", "k", `2`)})
			return err
		}(),
		"Write2": func() error {
			_, err := s.Write(ctx, []store.Change{report("r", "k", `2`), report("q", "", `2`)})
			return err
		}(),
		"ReportKeyHolders": func() error { _, err := s.ReportKeyHolders(ctx, []string{"k"}); return err }(),
		"Stamp":            func() error { _, err := s.Stamp(ctx, "Measure"); return err }(),
	}
	for name, err := range checks {
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s with the server gone: err=%v, want ErrUnavailable", name, err)
		}
	}
}

// TestFerretDBOnlyInTests keeps FerretDB (and its test helper) out of the
// engine, hence out of the madx binary.
func TestFerretDBOnlyInTests(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/madx-project/madx/store/mongo").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "FerretDB") || strings.HasSuffix(dep, "/store/mongotest") {
			t.Errorf("store/mongo depends on %s outside its tests", dep)
		}
	}
}
