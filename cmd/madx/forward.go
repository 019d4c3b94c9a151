package main

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/madx-project/madx/server"
)

// forwardConfig is what `madx serve` is told about forwarding
// (docs/forwarding.md).
type forwardConfig struct {
	specs                        stringList
	maxPending, backingUp        int
	backoff, maxBackoff, timeout time.Duration
}

func (c *forwardConfig) register(fs *flag.FlagSet, getenv func(string) string) error {
	fs.Var(&c.specs, "forward", "forward accepted reports to an upstream system: name=..,kind=fhir|adx,url=..[,token-file=..|,user=..,password-file=..][,measure=url|url][,location=Location/id|..][,attempts=N][,id-scheme=code|uid]; repeatable (MADX_FORWARD, one destination per line)")
	fs.IntVar(&c.maxPending, "forward-max-pending", int(envInt(getenv, "MADX_FORWARD_MAX_PENDING", server.DefaultForwardMaxPending)), "pending forwards at most; writes that would pass it are refused with 503 (MADX_FORWARD_MAX_PENDING)")
	fs.IntVar(&c.backingUp, "forward-backing-up", int(envInt(getenv, "MADX_FORWARD_BACKING_UP", 0)), "pending forwards above which /readyz answers 503; 0: half of --forward-max-pending (MADX_FORWARD_BACKING_UP)")
	for _, d := range []struct {
		p              *time.Duration
		name, env, def string
		usage          string
	}{
		{&c.backoff, "forward-backoff", "MADX_FORWARD_BACKOFF", "5s", "wait after a failed forward, doubled after each further failure"},
		{&c.maxBackoff, "forward-max-backoff", "MADX_FORWARD_MAX_BACKOFF", "1h", "longest wait between two attempts of a forward"},
		{&c.timeout, "forward-timeout", "MADX_FORWARD_TIMEOUT", "60s", "time one call to a destination may take"},
	} {
		v, err := time.ParseDuration(envOr(getenv, d.env, d.def))
		if err != nil {
			return fmt.Errorf("%w: %s: %v", errUsage, d.env, err)
		}
		fs.DurationVar(d.p, d.name, v, d.usage+" ("+d.env+")")
	}
	return nil
}

// options parses the destinations (flags, else MADX_FORWARD).
func (c *forwardConfig) options(getenv func(string) string) (server.Forwarding, error) {
	specs := c.specs
	if len(specs) == 0 {
		for _, l := range strings.Split(getenv("MADX_FORWARD"), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				specs = append(specs, l)
			}
		}
	}
	f := server.Forwarding{MaxPending: c.maxPending, BackingUp: c.backingUp, Backoff: c.backoff, MaxBackoff: c.maxBackoff, Timeout: c.timeout}
	for _, s := range specs {
		d, err := server.ParseDestination(s)
		if err != nil {
			return f, fmt.Errorf("%w: %v", errUsage, err)
		}
		f.Destinations = append(f.Destinations, d)
	}
	return f, nil
}
