// Package auth verifies who is calling madx and what they may do: bearer
// JWTs (HS256, RS256, ES256; issuer, audience and algorithm pinned), client
// certificates mapped to submitters, SMART backend-services scopes and the
// facilities a submitter may report for. It knows nothing of HTTP routing:
// the server asks Verify for a Principal and the Principal what it allows.
package auth

import (
	"context"
	"strings"
)

// Perm is one SMART v2 permission letter (c, r, u, d, s).
type Perm byte

// The SMART v2 permissions (hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html).
const (
	Create Perm = 'c'
	Read   Perm = 'r'
	Update Perm = 'u'
	Delete Perm = 'd'
	Search Perm = 's'
)

// Scopes madx gives a meaning beyond SMART's resource scopes.
const (
	// ScopeJurisdictionRead lets a token read the MeasureReports of every
	// facility, not only those of its madx_subjects (a district dashboard).
	ScopeJurisdictionRead = "madx/jurisdiction.read"
	// AllSubjects in madx_subjects gives the rights of every facility (the
	// jurisdiction's own admin client).
	AllSubjects = "*"
)

// Principal is an authenticated caller: who it is and what it may do. It
// is stored with asynchronous submissions (JSON) so they run later with the
// rights the submitter had when they were accepted.
type Principal struct {
	// Kind is "jwt", "certificate", "anonymous" (auth off) or "internal"
	// (madx's own start-up loader).
	Kind string `json:"kind"`
	// Subject is the token's sub or the certificate's subject DN.
	Subject  string `json:"sub,omitempty"`
	Issuer   string `json:"iss,omitempty"`
	ClientID string `json:"client_id,omitempty"`
	// Scopes are the granted SMART scopes, as sent.
	Scopes []string `json:"scopes,omitempty"`
	// Rights are the facilities the principal may report for:
	// "Location/<id>", "Organization/<id>" (every Location it manages,
	// through partOf chains), "system|value" identifiers of either, or "*".
	Rights []string `json:"rights,omitempty"`
	// SiteSystem is the identifier system of the sender's own facility
	// codes (claim madx_site_system): an ADX orgUnit it sends is a code of
	// that system, mapped to the jurisdiction's Locations by the site maps
	// (docs/adx.md, Site codes). Empty: orgUnit is a Location identifier
	// value in any system.
	SiteSystem string `json:"site_system,omitempty"`
	// Unrestricted is true when authentication is off or for madx itself:
	// every scope and every facility.
	Unrestricted bool `json:"unrestricted,omitempty"`
}

// Anonymous is the principal of every request when authentication is off
// (loopback only, or --allow-anonymous).
func Anonymous() Principal { return Principal{Kind: "anonymous", Unrestricted: true} }

// Internal is madx acting on its own behalf (definitions loaded at start-up).
func Internal(name string) Principal {
	return Principal{Kind: "internal", Subject: name, Unrestricted: true}
}

// Name identifies the principal in audit records and logs:
// "jwt:<iss>|<sub>", "certificate:<DN>", "anonymous", "internal:<name>".
func (p Principal) Name() string {
	switch p.Kind {
	case "jwt":
		return "jwt:" + p.Issuer + "|" + p.Subject
	case "anonymous":
		return "anonymous"
	}
	return p.Kind + ":" + p.Subject
}

// Allows reports whether the scopes grant perm on resource type typ.
// AuditEvent is granted only by a scope naming it: a system/*.read client
// (a dashboard) is not thereby an auditor.
func (p Principal) Allows(typ string, perm Perm) bool {
	if p.Unrestricted {
		return true
	}
	for _, sc := range p.Scopes {
		t, perms, ok := parseScope(sc)
		if !ok || (t != typ && (t != "*" || typ == "AuditEvent")) {
			continue
		}
		if strings.IndexByte(perms, byte(perm)) >= 0 {
			return true
		}
	}
	return false
}

// HasScope reports whether the exact scope was granted.
func (p Principal) HasScope(scope string) bool {
	if p.Unrestricted {
		return true
	}
	for _, sc := range p.Scopes {
		if sc == scope {
			return true
		}
	}
	return false
}

// AllFacilities reports whether the principal may report for (and read the
// reports of) every facility.
func (p Principal) AllFacilities() bool {
	if p.Unrestricted {
		return true
	}
	for _, r := range p.Rights {
		if r == AllSubjects {
			return true
		}
	}
	return false
}

// parseScope reads "system/Type.perm": v1 read|write|* or v2 letters
// (cruds). Scopes with v2 query parameters restrict in ways madx does not
// evaluate, so they grant nothing rather than too much.
func parseScope(sc string) (typ, perms string, ok bool) {
	rest, ok := strings.CutPrefix(sc, "system/")
	if !ok || strings.ContainsRune(rest, '?') {
		return "", "", false
	}
	typ, p, ok := strings.Cut(rest, ".")
	if !ok || typ == "" {
		return "", "", false
	}
	switch p {
	case "read":
		return typ, "rs", true
	case "write":
		return typ, "cud", true
	case "*":
		return typ, "cruds", true
	}
	for i := 0; i < len(p); i++ {
		if strings.IndexByte("cruds", p[i]) < 0 {
			return "", "", false
		}
	}
	return typ, p, p != ""
}

type principalKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal ctx carries, if any.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
