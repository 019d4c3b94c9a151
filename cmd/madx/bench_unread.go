package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"regexp"
	"sync"
	"time"
)

// negativeCount finds every count and measureScore of a generated report;
// the unread phase makes each one -1, so every report fails validation
// with one issue per number and the 422 grows with the Bundle.
var negativeCount = regexp.MustCompile(`"(count|value)":[0-9]+`)

// invalidBundle is a collection Bundle of n generated reports whose counts
// are all negative.
func (b *bencher) invalidBundle(first int, rng *rand.Rand) []byte {
	body := []byte(`{"resourceType":"Bundle","type":"collection","entry":[`)
	for i := range b.cfg.bundleSize {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, `{"resource":`...)
		body, _ = b.gen.appendReport(body, first+i, rng)
		body = append(body, '}')
	}
	body = append(body, `]}`...)
	return negativeCount.ReplaceAll(body, []byte(`"$1":-1`))
}

// unread is the phase of clients that never read their answer (issue 14):
// each of --concurrency connections sends one invalid Bundle and then
// holds the connection open without reading, for --duration, while the
// server's RSS is sampled. Each request counts as answered when its
// connection has been held; an error is a failure to connect or send.
func (b *bencher) unread(ctx context.Context, p *phaseStats) {
	u, err := url.Parse(b.bundleURL)
	if err != nil {
		p.record(0, 0, "url")
		return
	}
	body := b.invalidBundle(int(b.next.Add(int64(b.cfg.bundleSize)))-b.cfg.bundleSize, rand.New(rand.NewPCG(b.cfg.seed, 7)))
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/fhir+json\r\nContent-Length: %d\r\n\r\n", u.RequestURI(), u.Host, len(body))
	hold := b.cfg.duration
	var wg sync.WaitGroup
	for range b.cfg.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			conn, err := net.Dial("tcp", u.Host)
			if err != nil {
				p.record(0, 0, "connect")
				return
			}
			defer conn.Close()
			// A small receive buffer, so the answer stays in the server's
			// memory rather than in this host's socket buffers.
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetReadBuffer(4096)
			}
			if _, err := conn.Write(append([]byte(head), body...)); err != nil {
				p.record(time.Since(start), 0, "send")
				return
			}
			select {
			case <-time.After(hold):
			case <-ctx.Done():
			}
			p.record(time.Since(start), 0, "")
		}()
	}
	wg.Wait()
	fmt.Fprintf(b.out, "unread: %d connections each sent a %d-byte invalid Bundle and read nothing for %s\n", b.cfg.concurrency, len(body), hold)
}
