package sqlite

import (
	"database/sql"
	"fmt"
	"net/url"
	"time"

	"github.com/madx-project/madx/store"
)

// checkpointEvery is how often the WAL is copied into the database file.
// A PASSIVE checkpoint never waits for the writer or the readers: it copies
// what it can, and SQLite starts the WAL over once a checkpoint completes
// with no reader left on the old frames, so the file stays small.
const checkpointEvery = 2 * time.Second

// startCheckpointer runs PASSIVE checkpoints on a connection of their own
// until the store closes.
func (s *Store) startCheckpointer(path string) error {
	q := url.Values{}
	q.Set("_busy_timeout", "10000")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return fmt.Errorf("sqlite: open %s for checkpoints: %v: %w", path, err, store.ErrUnavailable)
	}
	db.SetMaxOpenConns(1)
	s.ckpt, s.ckptDone = db, make(chan struct{})
	go func() {
		defer close(s.ckptDone)
		t := time.NewTicker(checkpointEvery)
		defer t.Stop()
		for {
			select {
			case <-s.quit:
				return
			case <-t.C:
				// A failure is retried on the next tick; the WAL stays
				// correct meanwhile, only longer.
				_, _ = db.Exec("PRAGMA wal_checkpoint(PASSIVE)")
			}
		}
	}()
	return nil
}
