package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/madx-project/madx/conformance/kit"
)

// benchConfig is everything `madx bench` is told.
type benchConfig struct {
	base, token string
	phases      string
	concurrency int
	bundleSize  int
	duration    time.Duration
	count       int
	facilities  int
	offset      int
	verify      int
	pid         int
	setup       bool
	allowRemote bool
	seed        uint64
	measureID   string
}

// bench is a load generator for any FHIR server taking mADX reports: it
// loads the fixture Measure and N generated facilities, then drives single
// PUTs, collection Bundles and reads, each bounded by --duration or
// --count, and reads a sample back to prove every acknowledgement.
func bench(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var c benchConfig
	fs := flag.NewFlagSet("madx bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.base, "base", "", "FHIR base URL of the server to load (loopback unless --allow-remote)")
	fs.StringVar(&c.token, "token", getenv("MADX_TOKEN"), "bearer token to send (MADX_TOKEN)")
	fs.StringVar(&c.phases, "phases", "put,bundle,read", "comma-separated phases to run in order: put (single PUTs), bundle (collection Bundles), adx (ADX messages of --bundle-size groups to /api/dataValueSets), read (GET Measure and reports), unread (--concurrency connections each send one invalid Bundle of --bundle-size reports and read nothing for --duration)")
	fs.IntVar(&c.concurrency, "concurrency", 8, "concurrent requests")
	fs.IntVar(&c.bundleSize, "bundle-size", 100, "reports per collection Bundle")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "how long each phase runs (ignored with --count)")
	fs.IntVar(&c.count, "count", 0, "requests per phase instead of a duration")
	fs.IntVar(&c.facilities, "facilities", 100, "generated facilities (Locations); reports cycle through them, one per facility and month")
	fs.IntVar(&c.offset, "offset", 0, "number of the first report (reports 0..offset-1 are taken as stored by earlier runs)")
	fs.IntVar(&c.verify, "verify", 200, "acknowledged reports read back afterwards")
	fs.IntVar(&c.pid, "pid", 0, "server process id for RSS (-1: none); default: the local process listening on --base's port")
	fs.BoolVar(&c.setup, "setup", true, "load the Measure, its terminology and the facilities first")
	fs.BoolVar(&c.allowRemote, "allow-remote", false, "allow a --base that is not loopback (only servers you run for testing)")
	fs.Uint64Var(&c.seed, "seed", 1, "random seed of the generated counts")
	if err := fs.Parse(args); err != nil {
		return usageError(err)
	}
	c.base = strings.TrimSuffix(c.base, "/")
	switch {
	case c.base == "":
		return fmt.Errorf("%w: madx bench needs --base URL", errUsage)
	case !isLoopback(c.base) && !c.allowRemote:
		return fmt.Errorf("%w: --base %s is not loopback; a load test saturates its target: add --allow-remote only for a server you run for testing", errUsage, c.base)
	case c.concurrency < 1 || c.bundleSize < 1 || c.facilities < 1 || (c.count <= 0 && c.duration <= 0):
		return fmt.Errorf("%w: --concurrency, --bundle-size, --facilities and one of --count/--duration must be positive", errUsage)
	}
	for _, p := range strings.Split(c.phases, ",") {
		if p != "put" && p != "bundle" && p != "adx" && p != "read" && p != "unread" {
			return fmt.Errorf("%w: unknown phase %q (put, bundle, adx, read, unread)", errUsage, p)
		}
	}
	fx := kit.Fixtures()
	gen, err := newReportGen(fx, c.facilities)
	if err != nil {
		return err
	}
	b := &bencher{cfg: c, gen: gen, out: stdout, acked: map[string]int{},
		hc: &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: c.concurrency + 1, MaxConnsPerHost: c.concurrency + 1}}}
	b.bundleURL = c.base
	if c.pid == 0 && isLoopback(c.base) {
		c.pid = serverPID(c.base)
	}
	b.cfg.pid = c.pid
	if err := b.prepare(ctx, fx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "madx bench %s: %s, concurrency %d, bundle size %d, %d facilities, reports from #%d, server pid %d\n",
		c.base, c.phases, c.concurrency, c.bundleSize, c.facilities, c.offset, c.pid)
	b.next.Store(int64(c.offset))
	var phases []*phaseStats
	for _, name := range strings.Split(c.phases, ",") {
		p := b.run(ctx, name)
		phases = append(phases, p)
	}
	writePhases(stdout, phases)
	if c.pid > 0 {
		_, hwm := procRSS(c.pid)
		fmt.Fprintf(stdout, "server pid %d peak RSS (VmHWM, whole life): %d MiB\n", c.pid, hwm>>20)
	}
	bad := b.verifySample(ctx)
	var errs []error
	for _, p := range phases {
		if n := p.errorCount(); n > 0 {
			errs = append(errs, fmt.Errorf("%s: %d requests failed", p.name, n))
		}
	}
	if bad > 0 {
		errs = append(errs, fmt.Errorf("%d acknowledged reports did not read back as sent", bad))
	}
	return errors.Join(errs...)
}

// bencher is one bench run's shared state.
type bencher struct {
	cfg       benchConfig
	gen       *reportGen
	hc        *http.Client
	out       io.Writer
	bundleURL string
	// adxDataSet is the fixture Measure's first identifier value: the ADX
	// dataSet of the adx phase.
	adxDataSet string
	next       atomic.Int64 // number of the next report to generate

	mu       sync.Mutex
	acked    map[string]int // id -> population count acknowledged
	ackedIDs []string       // the keys of acked, for picking reads
}

func (b *bencher) do(ctx context.Context, method, url, ctype string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Accept", "application/fhir+json")
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if b.cfg.token != "" {
		req.Header.Set("Authorization", "Bearer "+b.cfg.token)
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	return resp.StatusCode, rb, err
}

// prepare loads the definitions and facilities (unless --setup=false) and
// finds where the server takes Bundles.
func (b *bencher) prepare(ctx context.Context, fx fs.FS) error {
	files, _ := fs.Glob(fx, "definitions/*.json")
	order := map[string]int{"CodeSystem": 0, "ValueSet": 1, "Organization": 2, "Location": 3, "Measure": 4}
	type def struct {
		typ, id string
		body    []byte
	}
	var defs []def
	for _, f := range files {
		body, _ := fs.ReadFile(fx, f)
		var h struct{ ResourceType, ID string }
		if json.Unmarshal(body, &h) == nil {
			defs = append(defs, def{h.ResourceType, h.ID, body})
			if h.ResourceType == "Measure" {
				b.cfg.measureID = h.ID
				var m struct{ Identifier []struct{ Value string } }
				if json.Unmarshal(body, &m) == nil && len(m.Identifier) > 0 {
					b.adxDataSet = m.Identifier[0].Value
				}
			}
		}
	}
	// Find where Bundles go, once: an empty batch is harmless anywhere.
	if err := b.postBundle(ctx, []byte(`{"resourceType":"Bundle","type":"batch"}`)); err != nil {
		fmt.Fprintf(b.out, "note: an empty batch Bundle was refused (%v); the bundle phase may fail\n", err)
	}
	if !b.cfg.setup {
		return nil
	}
	for rank := range 5 {
		for _, d := range defs {
			if order[d.typ] != rank {
				continue
			}
			st, rb, err := b.do(ctx, http.MethodPut, b.cfg.base+"/"+d.typ+"/"+d.id, "application/fhir+json", d.body)
			if err != nil || st >= 300 {
				return fmt.Errorf("bench setup: PUT %s/%s: %d %v %.300s", d.typ, d.id, st, err, rb)
			}
		}
	}
	// Facilities go in transaction Bundles of 500 PUTs (FHIR POST [base]).
	start := time.Now()
	for lo := 0; lo < b.cfg.facilities; lo += 500 {
		var entries []string
		for i := lo; i < min(lo+500, b.cfg.facilities); i++ {
			entries = append(entries, fmt.Sprintf(`{"resource":%s,"request":{"method":"PUT","url":"Location/%s"}}`, locationJSON(i), facilityID(i)))
		}
		body := []byte(`{"resourceType":"Bundle","type":"transaction","entry":[` + strings.Join(entries, ",") + `]}`)
		if err := b.postBundle(ctx, body); err != nil {
			return fmt.Errorf("bench setup: facilities %d..: %w", lo, err)
		}
	}
	fmt.Fprintf(b.out, "setup: %d definitions and %d facilities loaded in %s\n", len(defs), b.cfg.facilities, time.Since(start).Round(time.Millisecond))
	return nil
}

// postBundle POSTs a Bundle to [base]; a server that answers 404 there but
// serves [base]/ is used at [base]/ from then on (and told about).
func (b *bencher) postBundle(ctx context.Context, body []byte) error {
	st, rb, err := b.do(ctx, http.MethodPost, b.bundleURL, "application/fhir+json", body)
	if err == nil && st == http.StatusNotFound && b.bundleURL == b.cfg.base {
		b.bundleURL = b.cfg.base + "/"
		fmt.Fprintf(b.out, "note: POST [base] answered 404; posting Bundles to %s (not FHIR conformant)\n", b.bundleURL)
		st, rb, err = b.do(ctx, http.MethodPost, b.bundleURL, "application/fhir+json", body)
	}
	if err != nil {
		return err
	}
	if st >= 300 {
		return fmt.Errorf("status %d: %.300s", st, rb)
	}
	return nil
}

// run drives one phase with cfg.concurrency workers until the deadline
// or the request budget is spent.
func (b *bencher) run(ctx context.Context, name string) *phaseStats {
	label := fmt.Sprintf("%s c=%d", name, b.cfg.concurrency)
	if name == "bundle" || name == "adx" || name == "unread" {
		label = fmt.Sprintf("%s n=%d c=%d", name, b.cfg.bundleSize, b.cfg.concurrency)
	}
	p := newPhase(label)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if b.cfg.count <= 0 {
		ctx, cancel = context.WithTimeout(ctx, b.cfg.duration)
		defer cancel()
	}
	var budget atomic.Int64
	budget.Store(int64(b.cfg.count))
	stop := make(chan struct{})
	go sampleRSS(b.cfg.pid, p, stop)
	serverCPU, benchCPU := procCPU(b.cfg.pid), procCPU(os.Getpid())
	start := time.Now()
	workers := b.cfg.concurrency
	if name == "unread" {
		b.unread(ctx, p) // its connections are the workers
		workers = 0
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(b.cfg.seed, uint64(w)+uint64(len(name))<<32))
			for ctx.Err() == nil {
				if b.cfg.count > 0 && budget.Add(-1) < 0 {
					return
				}
				b.one(ctx, name, rng, p)
			}
		}()
	}
	wg.Wait()
	p.elapsed = time.Since(start)
	if serverCPU > 0 {
		p.serverCPU = procCPU(b.cfg.pid) - serverCPU
	}
	p.benchCPU = procCPU(os.Getpid()) - benchCPU
	close(stop)
	return p
}

// one sends one request of the phase and records it.
func (b *bencher) one(ctx context.Context, phase string, rng *rand.Rand, p *phaseStats) {
	var reports []benchReport
	var method, url, ctype string
	var body []byte
	switch phase {
	case "put":
		r := b.gen.make(int(b.next.Add(1)-1), rng)
		reports = []benchReport{r}
		method, url, ctype, body = http.MethodPut, b.cfg.base+"/MeasureReport/"+r.id, "application/fhir+json", r.body
	case "bundle":
		first := int(b.next.Add(int64(b.cfg.bundleSize))) - b.cfg.bundleSize
		body = make([]byte, 0, b.cfg.bundleSize*(b.gen.size+300)+64)
		body = append(body, `{"resourceType":"Bundle","type":"collection","entry":[`...)
		for i := range b.cfg.bundleSize {
			if i > 0 {
				body = append(body, ',')
			}
			body = append(body, `{"resource":`...)
			var r benchReport
			body, r = b.gen.appendReport(body, first+i, rng)
			reports = append(reports, r)
			body = append(body, '}')
		}
		body = append(body, `]}`...)
		method, url, ctype = http.MethodPost, b.bundleURL, "application/fhir+json"
	case "adx":
		first := int(b.next.Add(int64(b.cfg.bundleSize))) - b.cfg.bundleSize
		var err error
		if body, err = b.adxMessage(first, rng); err != nil {
			p.record(0, 0, "generate")
			return
		}
		// ADX reports get ids from the server: counted, not read back.
		reports = make([]benchReport, b.cfg.bundleSize)
		method, url, ctype = http.MethodPost, adxURL(b.cfg.base), "application/adx+xml"
	case "read":
		method, url = http.MethodGet, b.cfg.base+"/Measure/"+b.cfg.measureID
		if id := b.randomStored(rng); id != "" && rng.IntN(5) > 0 {
			url = b.cfg.base + "/MeasureReport/" + id
		}
	}
	start := time.Now()
	st, rb, err := b.do(ctx, method, url, ctype, body)
	d := time.Since(start)
	switch {
	case ctx.Err() != nil:
		return // cut off by the deadline: not a measurement
	case err != nil:
		p.record(d, 0, "transport")
	case st >= 300:
		p.record(d, 0, fmt.Sprint(st))
	case phase == "adx" && !adxOK(rb):
		p.record(d, 0, "adx conflicts")
	default:
		p.record(d, len(reports), "")
		b.mu.Lock()
		for _, r := range reports {
			if r.id == "" {
				continue
			}
			if _, ok := b.acked[r.id]; !ok {
				b.ackedIDs = append(b.ackedIDs, r.id)
			}
			b.acked[r.id] = r.count
		}
		b.mu.Unlock()
	}
}

// randomStored picks an acknowledged report id, or one of the first
// --offset reports taken as stored by earlier runs.
func (b *bencher) randomStored(rng *rand.Rand) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.ackedIDs) > 0 {
		return b.ackedIDs[rng.IntN(len(b.ackedIDs))]
	}
	if b.cfg.offset > 0 {
		return b.gen.reportID(rng.IntN(b.cfg.offset))
	}
	return ""
}
