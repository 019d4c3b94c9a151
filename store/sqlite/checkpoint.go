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
// what it can. SQLite starts the WAL over only when a write begins with
// every frame copied and no reader on them, which never happens under a
// sustained load (there is always a frame committed since the copy began):
// measured, the WAL grew by 60 MB a second, to 3.2 GB in 50 s of Bundles,
// and every page lookup in it got slower (CPU per report 302 -> 389 µs).
// So once the WAL holds restartFrames and a checkpoint has caught up, the
// writer runs a RESTART checkpoint between two transactions: it copies the
// few frames committed since and lets the next write start the WAL over.
//
// Variables so that a test can make them small.
var (
	checkpointEvery = 2 * time.Second
	restartFrames   = 16384 // 64 MiB of 4 KiB pages
)

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
				s.checkpoint(db)
			}
		}
	}()
	return nil
}

// checkpoint runs a PASSIVE checkpoint and, when the WAL is long enough to
// start over, asks the writer to do it. The writer's RESTART copies what
// was committed since the last passive pass began, during which the writer
// waits; so first, more passes copy what came in during the previous one,
// each shorter, to leave the writer little.
func (s *Store) checkpoint(db *sql.DB) {
	for pass := 0; pass < 3; pass++ {
		var busy, frames, copied int
		if err := db.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied); err != nil {
			return
		}
		if frames < restartFrames || copied != frames {
			return
		}
	}
	s.walRestart.Store(true)
}

// restartWAL runs on the writer's connection between transactions when the
// checkpointer asked for it (see checkpointEvery).
func (s *Store) restartWAL() {
	if s.walRestart.Swap(false) {
		// A failure (a reader held on past the busy timeout) leaves the WAL
		// as it was; the checkpointer asks again.
		_, _ = s.w.Exec("PRAGMA wal_checkpoint(RESTART)")
	}
}
