package server_test

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/madx-project/madx/server"
	"github.com/madx-project/madx/server/auth"
)

const (
	testIssuer   = "https://auth.example.org"
	testAudience = "https://madx.example.org/fhir"
)

// tokenKit mints tokens for the secured test server: a trusted RSA key
// (kid k1), a trusted HS256 secret, and an untrusted RSA key.
type tokenKit struct {
	tb       testing.TB
	key      *rsa.PrivateKey
	stranger *rsa.PrivateKey
	secret   []byte
}

var rsaKeys = struct{ a, b *rsa.PrivateKey }{}

func newTokenKit(tb testing.TB) *tokenKit {
	tb.Helper()
	if rsaKeys.a == nil { // 2048-bit keys are slow to make: once per test binary
		var err error
		if rsaKeys.a, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			tb.Fatal(err)
		}
		if rsaKeys.b, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			tb.Fatal(err)
		}
	}
	return &tokenKit{tb: tb, key: rsaKeys.a, stranger: rsaKeys.b, secret: []byte("0123456789abcdef0123456789abcdef-test-secret")}
}

func (k *tokenKit) security() server.Security {
	k.tb.Helper()
	v, err := auth.NewVerifier(auth.Config{Issuer: testIssuer, Audience: testAudience, HS256Secret: k.secret,
		Keys: []auth.Key{{ID: "k1", Alg: "RS256", Public: &k.key.PublicKey}}})
	if err != nil {
		k.tb.Fatal(err)
	}
	return server.Security{Tokens: v}
}

// claims returns valid claims for a client; tests change them.
func (k *tokenKit) claims(sub, scope string, subjects ...string) map[string]any {
	now := time.Now()
	c := map[string]any{"iss": testIssuer, "aud": testAudience, "sub": sub, "scope": scope,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
	if len(subjects) > 0 {
		c["madx_subjects"] = subjects
	}
	return c
}

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// rs256 signs with key under the given header kid.
func (k *tokenKit) rs256(key *rsa.PrivateKey, kid string, c map[string]any) string {
	k.tb.Helper()
	in := b64(map[string]any{"alg": "RS256", "typ": "JWT", "kid": kid}) + "." + b64(c)
	sum := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		k.tb.Fatal(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func hs256(secret []byte, header map[string]any, c map[string]any) string {
	in := b64(header) + "." + b64(c)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (k *tokenKit) token(c map[string]any) string { return k.rs256(k.key, "k1", c) }

// admin is the jurisdiction's client: every scope, every facility, auditor.
func (k *tokenKit) admin() string {
	return k.token(k.claims("jurisdiction-admin", "system/*.* system/AuditEvent.read", "*"))
}

// loadDefinitionsAs PUTs the test definitions with a token.
func loadDefinitionsAs(c *client, token string) {
	c.tb.Helper()
	c.loadDefinitions("Authorization", "Bearer "+token)
}

// report is the IHE example report made about subject (a Location id),
// with its own id and month.
func report(tb testing.TB, id, subject string, month int) []byte {
	tb.Helper()
	r := string(testdata(tb, "madx/reports/MeasureReport-mADX-MeasureReport-example-literal-subject.json"))
	r = strings.Replace(r, `"id": "mADX-MeasureReport-example-literal-subject"`, fmt.Sprintf(`"id": %q`, id), 1)
	start := time.Date(1991, time.Month(month), 1, 0, 0, 0, 0, time.UTC)
	r = strings.Replace(r, `"period": {"start":"2025-01-01","end":"2025-01-31"}`,
		fmt.Sprintf(`"period": {"start":%q,"end":%q}`, start.Format("2006-01-02"), start.AddDate(0, 1, -1).Format("2006-01-02")), 1)
	return []byte(strings.ReplaceAll(r, `"reference":"Location/HealthPost1"`, fmt.Sprintf(`"reference":"Location/%s"`, subject)))
}

func collectionOf(reports ...[]byte) []byte {
	var entries []string
	for _, r := range reports {
		entries = append(entries, `{"resource":`+string(r)+`}`)
	}
	return []byte(`{"resourceType":"Bundle","type":"collection","entry":[` + strings.Join(entries, ",") + `]}`)
}

// attempt is one write of the audit check: its request id and the status
// it got.
type attempt struct {
	requestID string
	status    int
}

// TestTokenMatrix sends the same report with every kind of bad token, then
// the right one, and checks each answer; afterwards the audit trail must
// hold exactly one AuditEvent per write attempt, with its outcome.
func TestTokenMatrix(t *testing.T) {
	k := newTokenKit(t)
	forEachSecuredEngine(t, k.security(), func(t *testing.T, c *client) {
		var attempts []attempt
		send := func(method, path string, body []byte, token string) response {
			t.Helper()
			id := fmt.Sprintf("req-%d", len(attempts))
			h := []string{"X-Request-Id", id}
			if token != "" {
				h = append(h, "Authorization", "Bearer "+token)
			}
			r := c.do(method, path, body, h...)
			if got := r.header.Get("X-Client-Request-Id"); got != id {
				t.Errorf("X-Client-Request-Id %q, want the client's %q", got, id)
			}
			// The audit is keyed by the server's own id, never the client's.
			attempts = append(attempts, attempt{r.header.Get("X-Request-Id"), r.status})
			return r
		}
		admin := k.admin()
		loadDefinitionsAs(c, admin)
		hp1 := k.claims("healthpost-1", "system/MeasureReport.write system/MeasureReport.read", "Location/HealthPost1")
		body := report(t, "r-hp1", "HealthPost1", 1)

		expired := k.claims("healthpost-1", "system/MeasureReport.write", "Location/HealthPost1")
		expired["exp"], expired["iat"], expired["nbf"] = time.Now().Add(-time.Hour).Unix(), time.Now().Add(-2*time.Hour).Unix(), time.Now().Add(-2*time.Hour).Unix()
		early := k.claims("healthpost-1", "system/MeasureReport.write", "Location/HealthPost1")
		early["nbf"] = time.Now().Add(time.Hour).Unix()
		wrongIss, wrongAud := k.claims("healthpost-1", "system/MeasureReport.write", "Location/HealthPost1"), k.claims("healthpost-1", "system/MeasureReport.write", "Location/HealthPost1")
		wrongIss["iss"], wrongAud["aud"] = "https://evil.example.org", "https://other.example.org/fhir"
		textExp := k.claims("healthpost-1", "system/MeasureReport.write", "Location/HealthPost1")
		textExp["exp"] = fmt.Sprint(time.Now().Add(time.Hour).Unix())
		publicPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: must(x509.MarshalPKIXPublicKey(&k.key.PublicKey))})

		for _, tc := range []struct {
			name, token string
			status      int
		}{
			{"no token", "", http.StatusUnauthorized},
			{"malformed", "not.a-jwt", http.StatusUnauthorized},
			{"expired", k.token(expired), http.StatusUnauthorized},
			{"not yet valid", k.token(early), http.StatusUnauthorized},
			{"wrong issuer", k.token(wrongIss), http.StatusUnauthorized},
			{"wrong audience", k.token(wrongAud), http.StatusUnauthorized},
			{"wrong signature", k.rs256(k.stranger, "k1", hp1), http.StatusUnauthorized},
			{"alg none", b64(map[string]any{"alg": "none", "typ": "JWT"}) + "." + b64(hp1) + ".", http.StatusUnauthorized},
			{"HS/RS confusion", hs256(publicPEM, map[string]any{"alg": "HS256", "typ": "JWT", "kid": "k1"}, hp1), http.StatusUnauthorized},
			{"HS/RS confusion without kid", hs256(publicPEM, map[string]any{"alg": "HS256", "typ": "JWT"}, hp1), http.StatusUnauthorized},
			{"unknown kid", k.rs256(k.key, "k9", hp1), http.StatusUnauthorized},
			{"exp as a string", k.token(textExp), http.StatusUnauthorized},
			{"crit header", hs256(k.secret, map[string]any{"alg": "HS256", "typ": "JWT", "crit": []string{"exp-ext"}, "exp-ext": 1}, hp1), http.StatusUnauthorized},
			{"missing scope", k.token(k.claims("healthpost-1", "system/Measure.read", "Location/HealthPost1")), http.StatusForbidden},
			{"wrong subject", k.token(k.claims("healthpost-2", "system/MeasureReport.write", "Location/HealthPost2")), http.StatusForbidden},
			{"no facility rights", k.token(k.claims("healthpost-x", "system/MeasureReport.write")), http.StatusForbidden},
			{"correct", k.token(hp1), http.StatusCreated},
			{"correct, HS256, SMART v2 scope", hs256(k.secret, map[string]any{"alg": "HS256", "typ": "JWT"},
				k.claims("healthpost-1", "system/MeasureReport.cu", "Location/HealthPost1")), http.StatusOK},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := send("PUT", "/MeasureReport/r-hp1", body, tc.token)
				if tc.status >= 400 {
					wantOutcome(t, r, tc.status)
				} else if r.status != tc.status {
					t.Fatalf("status %d, want %d: %s", r.status, tc.status, r)
				}
				if tc.status == http.StatusUnauthorized && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate %q, want a Bearer challenge", r.header.Get("WWW-Authenticate"))
				}
				if tc.name == "wrong subject" && !strings.Contains(r.String(), "Location/HealthPost1") {
					t.Errorf("the 403 does not name the subject: %s", r)
				}
			})
		}

		t.Run("wrong subject inside a collection Bundle", func(t *testing.T) {
			b := collectionOf(report(t, "b-1", "HealthPost1", 2), report(t, "b-2", "HealthPost2", 2))
			r := send("POST", "/", b, k.token(hp1))
			m := wantOutcome(t, r, http.StatusForbidden)
			exprs := expressions(m)
			if len(exprs) != 1 || !strings.HasPrefix(exprs[0], "Bundle.entry[1]") || !strings.Contains(r.String(), "Location/HealthPost2") {
				t.Errorf("want one issue on Bundle.entry[1] naming Location/HealthPost2, got %v: %s", exprs, r)
			}
			if g := c.do("GET", "/MeasureReport/b-1", nil, "Authorization", "Bearer "+admin); g.status != http.StatusNotFound {
				t.Errorf("the valid entry of a refused collection was stored: %d", g.status)
			}
			r = send("POST", "/", collectionOf(report(t, "b-1", "HealthPost1", 2)), k.token(hp1))
			if r.status != http.StatusOK {
				t.Fatalf("collection of own reports: %d %s", r.status, r)
			}
		})

		t.Run("each Bundle entry needs its scope", func(t *testing.T) {
			measure := testdata(t, "madx/definitions/Measure-madx-hiv-indicator-example.json")
			b := collectionOf(report(t, "b-3", "HealthPost1", 3), measure)
			m := wantOutcome(t, send("POST", "/", b, k.token(hp1)), http.StatusForbidden)
			if exprs := expressions(m); len(exprs) != 1 || !strings.HasPrefix(exprs[0], "Bundle.entry[1]") {
				t.Errorf("want the Measure entry refused, got %v", exprs)
			}
		})

		t.Run("definitions need their write scope", func(t *testing.T) {
			measure := testdata(t, "madx/definitions/Measure-madx-hiv-indicator-example.json")
			wantOutcome(t, send("PUT", "/Measure/madx-hiv-indicator-example", measure, k.token(hp1)), http.StatusForbidden)
		})

		t.Run("reads are limited to the facility", func(t *testing.T) {
			hp2 := k.token(k.claims("healthpost-2", "system/MeasureReport.read", "Location/HealthPost2"))
			// As if it did not exist (issue 14): 404, not 403.
			wantOutcome(t, c.do("GET", "/MeasureReport/r-hp1", nil, "Authorization", "Bearer "+hp2), http.StatusNotFound)
			wantOutcome(t, c.do("GET", "/MeasureReport/r-hp1/_history", nil, "Authorization", "Bearer "+hp2), http.StatusNotFound)
			if r := c.do("GET", "/MeasureReport/r-hp1", nil, "Authorization", "Bearer "+k.token(hp1)); r.status != http.StatusOK {
				t.Errorf("own report: %d %s", r.status, r)
			}
			district := k.token(k.claims("dashboard", "system/*.read "+auth.ScopeJurisdictionRead))
			if r := c.do("GET", "/MeasureReport/r-hp1", nil, "Authorization", "Bearer "+district); r.status != http.StatusOK {
				t.Errorf("jurisdiction-wide read: %d %s", r.status, r)
			}
			// system/*.read does not make a dashboard an auditor.
			wantOutcome(t, c.do("GET", "/AuditEvent", nil, "Authorization", "Bearer "+district), http.StatusForbidden)
		})

		checkAuditTrail(t, c, admin, attempts)
	})
}

// checkAuditTrail checks one AuditEvent per attempt, with its outcome, and
// none with a report's numbers.
func checkAuditTrail(t *testing.T, c *client, auditor string, attempts []attempt) {
	t.Helper()
	r := c.do("GET", "/AuditEvent?_count=1000&agent=jwt:"+testIssuer+"|healthpost-1,unauthenticated,healthpost-2,healthpost-x", nil, "Authorization", "Bearer "+auditor)
	if r.status != http.StatusOK {
		t.Fatalf("AuditEvent search: %d %s", r.status, r)
	}
	var b struct {
		Entry []struct {
			Resource struct {
				ID, Outcome, OutcomeDesc string
				Entity                   []struct{ What struct{ Reference string } }
			}
		}
	}
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(r.body), `"count"`) || strings.Contains(string(r.body), "measureScore") {
		t.Errorf("the audit trail holds report content")
	}
	byRequest := map[string]string{}
	for _, e := range b.Entry {
		d := e.Resource.OutcomeDesc
		id := d[strings.LastIndex(d, "request id ")+len("request id "):]
		if !strings.Contains(d, "client request id req-") {
			t.Errorf("AuditEvent %s does not keep the client's request id: %s", e.Resource.ID, d)
		}
		if _, dup := byRequest[id]; dup {
			t.Errorf("two AuditEvents for request %s", id)
		}
		byRequest[id] = e.Resource.Outcome
	}
	for _, a := range attempts {
		want := "0"
		if a.status >= 400 {
			want = "4"
		}
		if got, ok := byRequest[a.requestID]; !ok || got != want {
			t.Errorf("request %s (%d): AuditEvent outcome %q (found %v), want %q", a.requestID, a.status, got, ok, want)
		}
		delete(byRequest, a.requestID)
	}
	for id := range byRequest {
		t.Errorf("AuditEvent for unknown request %s", id)
	}
	// Read by id, and the search parameters.
	if len(b.Entry) > 0 {
		if g := c.do("GET", "/AuditEvent/"+b.Entry[0].Resource.ID, nil, "Authorization", "Bearer "+auditor); g.status != http.StatusOK {
			t.Errorf("read AuditEvent: %d %s", g.status, g)
		}
	}
	for q, atLeast := range map[string]int{"outcome=4": 10, "entity=MeasureReport/r-hp1": 10, "date=ge2000-01-01&outcome=0": 3, "date=lt2000-01-01": 0} {
		r := c.do("GET", "/AuditEvent?"+q, nil, "Authorization", "Bearer "+auditor)
		entries, _ := r.json(t)["entry"].([]any)
		n := len(entries)
		if atLeast == 0 && n != 0 || n < atLeast {
			t.Errorf("AuditEvent?%s: %d entries, want at least %d", q, n, atLeast)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// forEachSecuredEngine is forEachEngine with the server's Security set.
func forEachSecuredEngine(t *testing.T, sec server.Security, fn func(t *testing.T, c *client)) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			fn(t, newClient(t, e.open(t), func(o *server.Options) { o.Security = sec }))
		})
	}
}
