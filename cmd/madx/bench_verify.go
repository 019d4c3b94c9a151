package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"
)

// verifySample reads back up to --verify acknowledged reports and checks
// each holds the population count that was sent: every 2xx must be a
// stored report (issue 7). It returns how many did not match.
func (b *bencher) verifySample(ctx context.Context) int {
	b.mu.Lock()
	ids := make([]string, 0, len(b.acked))
	for id := range b.acked {
		ids = append(ids, id)
	}
	b.mu.Unlock()
	rng := rand.New(rand.NewPCG(b.cfg.seed, 99))
	rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	ids = ids[:min(len(ids), b.cfg.verify)]
	bad := 0
	for _, id := range ids {
		st, body, err := b.do(ctx, http.MethodGet, b.cfg.base+"/MeasureReport/"+id, "", nil)
		// The last requests of a phase may still be in flight: a server
		// that caps concurrent requests per client answers 429; wait and
		// ask again rather than count it as a report that was lost.
		for try := 0; err == nil && st == http.StatusTooManyRequests && try < 20; try++ {
			select {
			case <-ctx.Done():
				return bad + 1
			case <-time.After(100 * time.Millisecond):
			}
			st, body, err = b.do(ctx, http.MethodGet, b.cfg.base+"/MeasureReport/"+id, "", nil)
		}
		var got struct {
			Group []struct {
				Population []struct {
					Count *int `json:"count"`
				} `json:"population"`
			} `json:"group"`
		}
		_ = json.Unmarshal(body, &got)
		want := b.acked[id]
		switch {
		case err != nil || st != http.StatusOK:
			fmt.Fprintf(b.out, "verify: GET MeasureReport/%s: %d %v\n", id, st, err)
			bad++
		case len(got.Group) == 0 || len(got.Group[0].Population) == 0 || got.Group[0].Population[0].Count == nil || *got.Group[0].Population[0].Count != want:
			fmt.Fprintf(b.out, "verify: MeasureReport/%s does not hold the count %d that was acknowledged\n", id, want)
			bad++
		}
	}
	fmt.Fprintf(b.out, "verified %d of %d acknowledged reports by reading them back: %d mismatches\n", len(ids), len(b.acked), bad)
	return bad
}
