package sqlite

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/madx-project/madx/store"
)

// TestWALStaysBoundedUnderSustainedWrites writes without pause, as a
// reporting deadline does, and checks that the WAL starts over instead of
// growing with everything ever written (see checkpointEvery).
func TestWALStaysBoundedUnderSustainedWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("writes for a few seconds")
	}
	defer func(every time.Duration, frames int) { checkpointEvery, restartFrames = every, frames }(checkpointEvery, restartFrames)
	checkpointEvery = 20 * time.Millisecond
	walAfter := func(restart int) int64 {
		restartFrames = restart
		dir := t.TempDir()
		s, err := Open(context.Background(), Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		body := []byte(fmt.Sprintf(`{"resourceType":"MeasureReport","payload":%q}`, make([]byte, 2000)))
		for i := range 400 {
			var changes []store.Change
			for j := range 10 {
				changes = append(changes, store.Change{Type: "MeasureReport", ID: fmt.Sprintf("r%d-%d", i, j),
					Index:  store.Index{Subject: fmt.Sprintf("Location/%d", (i*7+j*13)%97), Status: "complete"},
					Render: func(int64, time.Time) ([]byte, error) { return body, nil }})
			}
			if _, err := s.Write(context.Background(), changes); err != nil {
				t.Fatal(err)
			}
		}
		fi, err := os.Stat(s.path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	unbounded := walAfter(1 << 30)
	bounded := walAfter(200)
	t.Logf("WAL after 4,000 reports: %d bytes without restarts, %d with", unbounded, bounded)
	if bounded*3 > unbounded {
		t.Errorf("the WAL grew to %d bytes with restarts every 200 frames, against %d without: not started over", bounded, unbounded)
	}
}
