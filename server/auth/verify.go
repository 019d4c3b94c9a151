package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	oo "github.com/madx-project/madx/operationoutcome"
)

// Config is what a Verifier trusts.
type Config struct {
	// Issuer and Audience are required: a token must carry exactly this iss
	// and list this aud (a token minted for another service is refused).
	Issuer   string
	Audience string
	// HS256Secret, when set, verifies HS256 tokens (small deployments with
	// one shared secret); HS256Kid, when set, is the kid such tokens carry.
	HS256Secret []byte
	HS256Kid    string
	// Keys verify RS256 and ES256 tokens; several allow rotation.
	Keys []Key
	// Leeway absorbs clock skew on exp and nbf; 30s when zero.
	Leeway time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Verifier checks bearer tokens. Create it with NewVerifier.
type Verifier struct {
	cfg    Config
	algs   []string
	parser *jwt.Parser
}

// MinSecretBytes is the shortest HS256 secret accepted (RFC 7518 3.2: a key
// of the same size as the hash output).
const MinSecretBytes = 32

// NewVerifier checks the configuration and pins the algorithms it allows:
// HS256 only with a secret, RS256/ES256 only with keys of that type; never
// "none".
func NewVerifier(cfg Config) (*Verifier, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("auth: an issuer and an audience are required")
	}
	if cfg.HS256Secret == nil && len(cfg.Keys) == 0 {
		return nil, errors.New("auth: no HS256 secret and no public key configured")
	}
	if cfg.HS256Secret != nil && len(cfg.HS256Secret) < MinSecretBytes {
		return nil, fmt.Errorf("auth: the HS256 secret has %d bytes; at least %d are required", len(cfg.HS256Secret), MinSecretBytes)
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	v := &Verifier{cfg: cfg}
	if cfg.HS256Secret != nil {
		v.algs = append(v.algs, "HS256")
	}
	seen := map[string]bool{}
	for _, k := range cfg.Keys {
		if !seen[k.Alg] {
			seen[k.Alg] = true
			v.algs = append(v.algs, k.Alg)
		}
	}
	v.parser = jwt.NewParser(jwt.WithValidMethods(v.algs), jwt.WithIssuer(cfg.Issuer), jwt.WithAudience(cfg.Audience),
		jwt.WithLeeway(cfg.Leeway), jwt.WithTimeFunc(cfg.Now), jwt.WithExpirationRequired())
	return v, nil
}

// Algorithms lists the pinned algorithms.
func (v *Verifier) Algorithms() []string { return append([]string(nil), v.algs...) }

// claims are the JWT claims madx reads.
type claims struct {
	jwt.RegisteredClaims
	Scope    string   `json:"scope,omitempty"`
	ClientID string   `json:"client_id,omitempty"`
	Subjects []string `json:"madx_subjects,omitempty"`
	// SiteSystem is the identifier system of the sender's facility codes.
	SiteSystem string `json:"madx_site_system,omitempty"`
}

// errUnknownKid and errCritical are returned by the key lookup, so the
// message can say why.
var (
	errUnknownKid = errors.New("unknown key id")
	errCritical   = errors.New("critical header extensions")
)

// textualDate names a time claim (exp, nbf, iat) that the token's payload
// writes as a JSON string: golang-jwt reads "123" as 123, RFC 7519 does
// not. The signature is already verified when this runs.
func textualDate(bearer string) string {
	parts := strings.Split(bearer, ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var raw map[string]json.RawMessage
	if json.Unmarshal(payload, &raw) != nil {
		return ""
	}
	for _, name := range []string{"exp", "nbf", "iat"} {
		if v := bytes.TrimSpace(raw[name]); len(v) > 0 && v[0] == '"' {
			return name
		}
	}
	return ""
}

// Verify checks a bearer token (without the "Bearer " prefix) and returns
// the principal it names. A missing or invalid token is a 401 *oo.Error
// whose diagnostics say what was wrong without echoing the token.
func (v *Verifier) Verify(ctx context.Context, bearer string) (Principal, error) {
	if bearer == "" {
		return Principal{}, unauthorized(nil, "This server requires a bearer token (Authorization: Bearer <JWT>).")
	}
	var c claims
	_, err := v.parser.ParseWithClaims(bearer, &c, v.key)
	if err != nil {
		return Principal{}, unauthorized(err, "The bearer token was refused: %s.", reason(err))
	}
	if name := textualDate(bearer); name != "" {
		return Principal{}, unauthorized(nil, "The bearer token was refused: its %s claim is a string; RFC 7519 §2 makes it a NumericDate, a JSON number of seconds.", name)
	}
	if c.Subject == "" {
		return Principal{}, unauthorized(nil, "The bearer token was refused: it has no sub claim.")
	}
	return Principal{Kind: "jwt", Subject: c.Subject, Issuer: c.Issuer, ClientID: c.ClientID,
		Scopes: strings.Fields(c.Scope), Rights: c.Subjects, SiteSystem: c.SiteSystem}, nil
}

// key picks the verification key by algorithm first, then kid, so a token
// can never make an RSA public key serve as an HMAC secret (the classic
// HS/RS confusion) nor choose an algorithm the key was not pinned to.
func (v *Verifier) key(t *jwt.Token) (any, error) {
	if _, ok := t.Header["crit"]; ok {
		// RFC 7515 §4.1.11: a token whose critical extensions are not all
		// understood must be refused; madx understands none.
		return nil, errCritical
	}
	alg := t.Method.Alg()
	kid, _ := t.Header["kid"].(string)
	if alg == "HS256" {
		if v.cfg.HS256Secret == nil || kid != v.cfg.HS256Kid {
			return nil, errUnknownKid
		}
		return v.cfg.HS256Secret, nil
	}
	var set jwt.VerificationKeySet
	for _, k := range v.cfg.Keys {
		if k.Alg == alg && (kid == "" || k.ID == kid) {
			set.Keys = append(set.Keys, k.Public)
		}
	}
	if len(set.Keys) == 0 {
		return nil, errUnknownKid
	}
	return set, nil
}

// reason turns a jwt error into a client-safe explanation.
func reason(err error) string {
	switch {
	case errors.Is(err, errCritical):
		return "it lists critical header extensions (crit), which this server does not implement (RFC 7515 §4.1.11)"
	case errors.Is(err, errUnknownKid):
		return "it is signed with a key this server does not know (kid and algorithm must match a configured key)"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "it is not a well-formed JWT"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return "its signature could not be verified with the configured keys and algorithms"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "it has expired (exp)"
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "it is not valid yet (nbf/iat)"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "its issuer (iss) is not the one this server trusts"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "it is not meant for this server (aud)"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "a required claim (exp, iss or aud) is missing"
	}
	return "it is not valid"
}

// unauthorized is a 401 with issue type login (FHIR: the client must
// authenticate).
func unauthorized(cause error, format string, args ...any) error {
	return oo.Wrap(http.StatusUnauthorized, cause, oo.Issuef(oo.SeverityFatal, oo.Login, "", format, args...))
}
