package server

import (
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/madx-project/madx/adx"
)

// Forwarding configures sending accepted reports on to upstream systems
// (docs/forwarding.md). Zero Destinations: nothing is forwarded.
type Forwarding struct {
	Destinations []Destination
	// MaxPending bounds the outbox: a write that would enqueue a forward
	// while this many are pending is refused with 503 and Retry-After.
	// DefaultForwardMaxPending when zero.
	MaxPending int
	// BackingUp is the number of pending forwards above which /readyz
	// answers 503; MaxPending/2 when zero.
	BackingUp int
	// Backoff is the wait after the first failed attempt, doubled after
	// each further one up to MaxBackoff, with ±25% jitter. 5 s and 1 h when
	// zero.
	Backoff, MaxBackoff time.Duration
	// Timeout bounds one call to a destination; 60 s when zero.
	Timeout time.Duration
	// Batch is the most forwards sent in one call; 200 when zero.
	Batch int
}

// DefaultForwardMaxPending is Forwarding.MaxPending's default.
const DefaultForwardMaxPending = 100000

// Destination kinds.
const (
	KindFHIR = "fhir" // another FHIR server: a batch Bundle of PUT and DELETE
	KindADX  = "adx"  // DHIS2's /api/dataValueSets
)

// Destination is one upstream system reports are forwarded to.
type Destination struct {
	// Name identifies the destination in the outbox and the operations
	// ([a-z0-9-], at most 32).
	Name string
	Kind string
	// URL is the destination's FHIR base (fhir) or DHIS2's base, the part
	// before /api (adx).
	URL string
	// Token is a bearer token; User and Password basic credentials. They
	// are read from files at start-up and never logged or stored.
	Token, User, Password string
	// Measures and Locations filter what is forwarded: a report goes when
	// its Measure canonical (without |version) is one of Measures, and its
	// subject is at or below one of Locations ("Location/<id>" or
	// "Organization/<id>", as rights are). Empty: every one.
	Measures, Locations []string
	// Scheme is the ADX ID scheme the destination reads (adx only):
	// code (the default) or uid.
	Scheme adx.Scheme
	// MaxAttempts is how many failed attempts make a forward dead-letter;
	// 10 when zero.
	MaxAttempts int
}

var destinationName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// ParseDestination reads a destination from its --forward spelling:
// comma-separated key=value pairs, for example
//
//	name=dhis2,kind=adx,url=https://hmis.example.org,user=madx,password-file=/run/secrets/dhis2,measure=https://example.org/Measure/hiv|https://example.org/Measure/tb,location=Location/district-1,attempts=10,id-scheme=code
//
// Credentials come only from files (token-file, password-file), so that
// they appear in no process listing.
func ParseDestination(spec string) (Destination, error) {
	var d Destination
	bad := func(format string, args ...any) (Destination, error) {
		return Destination{}, fmt.Errorf("--forward %q: "+format, append([]any{spec}, args...)...)
	}
	d.Scheme = adx.Code
	for _, kv := range strings.Split(spec, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return bad("%q is not key=value", kv)
		}
		switch k {
		case "name":
			d.Name = v
		case "kind":
			d.Kind = v
		case "url":
			d.URL = strings.TrimSuffix(v, "/")
		case "user":
			d.User = v
		case "token-file", "password-file":
			b, err := os.ReadFile(v)
			if err != nil {
				return bad("%s: %v", k, err)
			}
			secret := strings.TrimSpace(string(b))
			if secret == "" {
				return bad("%s %s is empty", k, v)
			}
			if k == "token-file" {
				d.Token = secret
			} else {
				d.Password = secret
			}
		case "token", "password":
			return bad("%s is not accepted on the command line; put it in a file and give %s-file", k, k)
		case "measure":
			d.Measures = append(d.Measures, strings.Split(v, "|")...)
		case "location":
			d.Locations = append(d.Locations, strings.Split(v, "|")...)
		case "attempts":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return bad("attempts is %q; expected a whole number of 1 or more", v)
			}
			d.MaxAttempts = n
		case "id-scheme":
			s, err := adx.ParseScheme(v)
			if err != nil {
				return bad("id-scheme: %v", err)
			}
			d.Scheme = s
		case "policy":
			if v != "each" {
				return bad("policy is %q; only each (forward every report as it is accepted) is built: the quarter's aggregate is not (docs/forwarding.md)", v)
			}
		default:
			return bad("unknown key %q; expected name, kind, url, token-file, user, password-file, measure, location, attempts, id-scheme or policy", k)
		}
	}
	return d, d.check()
}

func (d *Destination) check() error {
	if !destinationName.MatchString(d.Name) {
		return fmt.Errorf("--forward: name is %q; expected 1 to 32 of a-z, 0-9 and -, starting with a letter or digit", d.Name)
	}
	if d.Kind != KindFHIR && d.Kind != KindADX {
		return fmt.Errorf("--forward %s: kind is %q; expected fhir or adx", d.Name, d.Kind)
	}
	u, err := url.Parse(d.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--forward %s: url is %q; expected an absolute http or https URL", d.Name, d.URL)
	}
	if d.Token != "" && d.User != "" {
		return fmt.Errorf("--forward %s: give either token-file or user and password-file, not both", d.Name)
	}
	if (d.User == "") != (d.Password == "") {
		return fmt.Errorf("--forward %s: basic auth needs both user and password-file", d.Name)
	}
	for _, l := range d.Locations {
		if !strings.HasPrefix(l, "Location/") && !strings.HasPrefix(l, "Organization/") {
			return fmt.Errorf("--forward %s: location is %q; expected Location/<id> or Organization/<id>", d.Name, l)
		}
	}
	if d.MaxAttempts == 0 {
		d.MaxAttempts = 10
	}
	return nil
}

// withDefaults fills the zero fields of f and checks the names are unique.
func (f Forwarding) withDefaults() (Forwarding, error) {
	seen := map[string]bool{}
	for i := range f.Destinations {
		d := &f.Destinations[i]
		if err := d.check(); err != nil {
			return f, err
		}
		if seen[d.Name] {
			return f, fmt.Errorf("--forward: two destinations are named %q", d.Name)
		}
		seen[d.Name] = true
	}
	if f.MaxPending <= 0 {
		f.MaxPending = DefaultForwardMaxPending
	}
	if f.BackingUp <= 0 {
		f.BackingUp = f.MaxPending / 2
	}
	if f.Backoff <= 0 {
		f.Backoff = 5 * time.Second
	}
	if f.MaxBackoff <= 0 {
		f.MaxBackoff = time.Hour
	}
	if f.Timeout <= 0 {
		f.Timeout = time.Minute
	}
	if f.Batch <= 0 {
		f.Batch = 200
	}
	return f, nil
}
