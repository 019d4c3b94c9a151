package mongotest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"go.mongodb.org/mongo-driver/v2/event"
)

// Commands counts the commands a MongoDB client sends, by name and
// collection, while Count runs: the round-trip tests of the store and of
// whole HTTP requests (issue 13). Pass Monitor() as mongo.Options.Monitor.
type Commands struct {
	mu     sync.Mutex
	on     bool
	counts map[string]int
}

// Monitor is the driver's command monitor that feeds c.
func (c *Commands) Monitor() *event.CommandMonitor {
	return &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.on {
			name := e.CommandName
			if coll, ok := e.Command.Index(0).Value().StringValueOK(); ok {
				name += " " + coll
			}
			c.counts[name]++
		}
	}}
}

// Count runs fn and returns how many commands it sent, and which
// ("find resources 2, insert history 1, ...").
func (c *Commands) Count(fn func()) (int, string) {
	c.mu.Lock()
	c.on, c.counts = true, map[string]int{}
	c.mu.Unlock()
	fn()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.on = false
	total, names := 0, make([]string, 0, len(c.counts))
	for name, n := range c.counts {
		total += n
		names = append(names, fmt.Sprintf("%s %d", name, n))
	}
	sort.Strings(names)
	return total, strings.Join(names, ", ")
}
