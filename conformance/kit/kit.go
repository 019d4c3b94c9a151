// Package kit is a black-box conformance suite for servers claiming the
// IHE mADX Content Consumer and Content Data Structure Creator actors. It
// talks to the server only over HTTP (no madx package is imported), loads
// its own fixture definitions, and reports each check as a named test with
// the clause of the specification it comes from.
package kit

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Status is the outcome of one test.
type Status string

// Test outcomes. XFail is a failure the caller declared expected (a known,
// reported non-conformance); XPass is a declared failure that passed, which
// counts as a failure so the list of known failures cannot go stale.
const (
	Pass  Status = "pass"
	Fail  Status = "fail"
	Skip  Status = "skip"
	XFail Status = "xfail"
	XPass Status = "xpass"
)

// Result is the outcome of one named test.
type Result struct {
	Name     string
	Clause   string // where the requirement comes from, e.g. "QRPH-58 2:3.58.4.2.3"
	Status   Status
	Reason   string // why it failed or was skipped; empty on a pass
	Duration time.Duration
}

// Report is what a run found.
type Report struct {
	Base     string
	Started  time.Time
	Duration time.Duration
	Results  []Result
}

// Failed counts the results that make the run fail (Fail and XPass).
func (r *Report) Failed() int {
	n := 0
	for _, res := range r.Results {
		if res.Status == Fail || res.Status == XPass {
			n++
		}
	}
	return n
}

// Count returns how many results have status s.
func (r *Report) Count(s Status) int {
	n := 0
	for _, res := range r.Results {
		if res.Status == s {
			n++
		}
	}
	return n
}

// Options configure a run. Base is required.
type Options struct {
	// Base is the FHIR base URL of the server under test.
	Base string
	// Token returns the bearer token to send; nil sends none. It is called
	// once per run.
	Token func(ctx context.Context) (string, error)
	// Fixtures holds definitions/*.json (loaded with PUT, in dependency
	// order) and reports/*.json (the first MeasureReport is the valid
	// report every negative case is derived from); nil uses the embedded
	// mADX example fixtures.
	Fixtures fs.FS
	// Client sends the requests; nil uses a client with a 60 s timeout.
	Client *http.Client
	// ExpectFail names tests known to fail (reported non-conformances).
	ExpectFail []string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// ErrOptions is returned by Run when the options cannot start a run.
var ErrOptions = errors.New("kit: bad options")

// skipError marks a test that could not run, with the reason.
type skipError struct{ reason string }

func (e skipError) Error() string { return e.reason }

func skipf(format string, args ...any) error { return skipError{fmt.Sprintf(format, args...)} }

// test is one entry of the suite.
type test struct {
	name   string
	clause string
	run    func(ctx context.Context) error
}

// Run runs the whole suite against o.Base and returns the report. It fails
// only when the options are unusable (ErrOptions) or the fixtures cannot be
// read; a non-conformant server is a report with failures, not an error.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	base := strings.TrimSuffix(o.Base, "/")
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		return nil, fmt.Errorf("%w: --base %q is not an http(s) URL", ErrOptions, o.Base)
	}
	fsys := o.Fixtures
	if fsys == nil {
		fsys = embeddedFixtures()
	}
	fx, err := loadFixtures(fsys)
	if err != nil {
		return nil, err
	}
	hc := o.Client
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	c := &client{hc: hc, base: base}
	if o.Token != nil {
		tok, err := o.Token(ctx)
		if err != nil {
			return nil, fmt.Errorf("%w: token: %v", ErrOptions, err)
		}
		c.token = tok
	}
	s := &suite{c: c, fx: fx}
	rep := &Report{Base: base, Started: o.Now()}
	for _, t := range s.tests() {
		start := o.Now()
		err := t.run(ctx)
		res := Result{Name: t.name, Clause: t.clause, Status: Pass, Duration: o.Now().Sub(start)}
		var sk skipError
		switch {
		case errors.As(err, &sk):
			res.Status, res.Reason = Skip, sk.reason
		case err != nil:
			res.Status, res.Reason = Fail, err.Error()
		}
		if slices.Contains(o.ExpectFail, t.name) {
			switch res.Status {
			case Fail:
				res.Status = XFail
			case Pass:
				res.Status, res.Reason = XPass, "declared as an expected failure but passed: remove it from the list"
			}
		}
		rep.Results = append(rep.Results, res)
	}
	rep.Duration = o.Now().Sub(rep.Started)
	return rep, nil
}

// Names lists the tests of the suite in run order, for --expect-fail
// validation and documentation.
func Names() []string {
	s := &suite{}
	var out []string
	for _, t := range s.tests() {
		out = append(out, t.name)
	}
	return out
}

// suite is the state one run shares between tests: what was set up and
// the OperationOutcomes gathered for the severity check.
type suite struct {
	c  *client
	fx *fixtures

	setupErr error    // why the fixtures could not be loaded
	stored   []byte   // the valid report as the kit stored it, or nil
	rejects  []reject // 4xx answers gathered for the severity check
}

// reject is a rejected submission kept for the OperationOutcome checks.
type reject struct {
	test   string
	issues []issue
}

// needSetup skips a test whose prerequisites failed.
func (s *suite) needSetup() error {
	if s.setupErr != nil {
		return skipf("setup failed: %v", s.setupErr)
	}
	return nil
}

func (s *suite) tests() []test {
	ts := []test{
		{"setup/load-fixtures", "QRPH-58 2:3.58.4.1.2 (the jurisdiction's Measure, value sets and facilities)", s.loadDefinitions},
	}
	ts = append(ts, s.qrph59Tests()...)
	ts = append(ts, s.qrph58Tests()...)
	ts = append(ts, s.basicTests()...)
	return ts
}
