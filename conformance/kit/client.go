package kit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// Media types the suite sends and expects (FHIR R4 http.html#mime-type).
const (
	mediaJSON = "application/fhir+json"
	mediaXML  = "application/fhir+xml"
)

// client sends FHIR requests to the server under test.
type client struct {
	hc    *http.Client
	base  string
	token string
}

// response is an HTTP answer read whole.
type response struct {
	method, url string
	status      int
	header      http.Header
	body        []byte
}

func (r *response) String() string {
	b := string(r.body)
	if len(b) > 300 {
		b = b[:300] + "..."
	}
	return fmt.Sprintf("%s %s -> %d %s", r.method, r.url, r.status, strings.TrimSpace(b))
}

// mediaType is the response Content-Type without parameters.
func (r *response) mediaType() string {
	mt, _, _ := mime.ParseMediaType(r.header.Get("Content-Type"))
	return mt
}

// req describes one request; path is relative to the base ("" is the
// base itself, as in FHIR's POST [base]).
type req struct {
	method      string
	path        string
	contentType string
	accept      string
	body        []byte
	noToken     bool
	token       string // overrides the configured token
}

func (c *client) do(ctx context.Context, r req) (*response, error) {
	u := c.base + r.path
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	hr, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return nil, err
	}
	accept := r.accept
	if accept == "" {
		accept = mediaJSON
	}
	hr.Header.Set("Accept", accept)
	if r.contentType != "" {
		hr.Header.Set("Content-Type", r.contentType)
	}
	tok := c.token
	if r.token != "" {
		tok = r.token
	}
	if tok != "" && !r.noToken {
		hr.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.hc.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %w", r.method, u, err)
	}
	return &response{method: r.method, url: u, status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// putJSON PUTs a FHIR JSON body.
func (c *client) putJSON(ctx context.Context, path string, body []byte) (*response, error) {
	return c.do(ctx, req{method: http.MethodPut, path: path, contentType: mediaJSON, body: body})
}

// issue is an OperationOutcome.issue as the suite reads it.
type issue struct {
	Severity    string   `json:"severity"`
	Code        string   `json:"code"`
	Diagnostics string   `json:"diagnostics"`
	Expression  []string `json:"expression"`
	Location    []string `json:"location"`
}

// paths are the issue's expressions, or its (deprecated) locations when it
// has none.
func (i issue) paths() []string {
	if len(i.Expression) > 0 {
		return i.Expression
	}
	return i.Location
}

// outcome checks that r carries an OperationOutcome (FHIR R4
// http.html#rejecting-updates: errors SHOULD come with one; mADX QRPH-58
// 2:3.58.4.2.3 makes it SHALL for rejected reports) and returns its issues.
func outcome(r *response) ([]issue, error) {
	mt := r.mediaType()
	if mt != mediaJSON && mt != "application/json" {
		return nil, fmt.Errorf("status %d without a FHIR JSON OperationOutcome (Content-Type %q): %s", r.status, r.header.Get("Content-Type"), r)
	}
	var oo struct {
		ResourceType string  `json:"resourceType"`
		Issue        []issue `json:"issue"`
	}
	if err := json.Unmarshal(r.body, &oo); err != nil || oo.ResourceType != "OperationOutcome" {
		return nil, fmt.Errorf("status %d without an OperationOutcome body: %s", r.status, r)
	}
	if len(oo.Issue) == 0 {
		return nil, fmt.Errorf("OperationOutcome without issues (issue is 1..*): %s", r)
	}
	return oo.Issue, nil
}

// allIssues walks any FHIR JSON (an OperationOutcome, or a response Bundle
// with outcomes in its entries) for OperationOutcome issues.
func allIssues(b []byte) []issue {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return nil
	}
	var out []issue
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if x["resourceType"] == "OperationOutcome" {
				raw, _ := json.Marshal(x["issue"])
				var is []issue
				_ = json.Unmarshal(raw, &is)
				out = append(out, is...)
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(v)
	return out
}

// expectStatus fails unless r.status is one of want.
func expectStatus(r *response, want ...int) error {
	for _, w := range want {
		if r.status == w {
			return nil
		}
	}
	return fmt.Errorf("status %d, want %v: %s", r.status, want, r)
}
