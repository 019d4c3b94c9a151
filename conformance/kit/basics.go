package kit

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

func (s *suite) basicTests() []test {
	return []test{
		{"FHIR/capabilitystatement", "FHIR R4 http.html#capabilities (GET [base]/metadata)", s.capabilityValid},
		{"FHIR/capability-interactions-served", "FHIR R4 capabilitystatement.html (rest.resource.interaction): each declared interaction answers", s.interactionsServed},
		{"FHIR/etag-versionid", "FHIR R4 http.html#versioning (ETag W/\"versionId\")", s.etag},
		{"FHIR/auth-401", "QRPH-58 2:3.58.4.2.2 status 401; QRPH-58 2:3.58.6 (mutual authentication)", s.auth},
	}
}

// capStatement is the part of a CapabilityStatement the suite reads.
type capStatement struct {
	ResourceType string   `json:"resourceType"`
	Status       string   `json:"status"`
	Date         string   `json:"date"`
	Kind         string   `json:"kind"`
	FHIRVersion  string   `json:"fhirVersion"`
	Format       []string `json:"format"`
	Rest         []struct {
		Mode     string `json:"mode"`
		Resource []struct {
			Type        string `json:"type"`
			Interaction []struct {
				Code string `json:"code"`
			} `json:"interaction"`
		} `json:"resource"`
		Interaction []struct {
			Code string `json:"code"`
		} `json:"interaction"`
	} `json:"rest"`
}

func (cs *capStatement) declares(typ, code string) bool {
	for _, r := range cs.Rest {
		for _, res := range r.Resource {
			if res.Type != typ {
				continue
			}
			for _, in := range res.Interaction {
				if in.Code == code {
					return true
				}
			}
		}
	}
	return false
}

func (s *suite) capability(ctx context.Context) (*capStatement, error) {
	r, err := s.c.do(ctx, req{method: http.MethodGet, path: "/metadata"})
	if err != nil {
		return nil, err
	}
	if err := expectStatus(r, http.StatusOK); err != nil {
		return nil, err
	}
	var cs capStatement
	if err := json.Unmarshal(r.body, &cs); err != nil {
		return nil, fmt.Errorf("/metadata is not JSON: %v", err)
	}
	return &cs, nil
}

var (
	typeInteractions   = []string{"read", "vread", "update", "patch", "delete", "history-instance", "history-type", "create", "search-type"}
	systemInteractions = []string{"transaction", "batch", "search-system", "history-system"}
)

func (s *suite) capabilityValid(ctx context.Context) error {
	cs, err := s.capability(ctx)
	if err != nil {
		return err
	}
	var bad []string
	check := func(ok bool, what string) {
		if !ok {
			bad = append(bad, what)
		}
	}
	check(cs.ResourceType == "CapabilityStatement", fmt.Sprintf("resourceType %q", cs.ResourceType))
	check(slices.Contains([]string{"draft", "active", "retired", "unknown"}, cs.Status), fmt.Sprintf("status %q", cs.Status))
	check(cs.Date != "", "date missing")
	check(slices.Contains([]string{"instance", "capability", "requirements"}, cs.Kind), fmt.Sprintf("kind %q", cs.Kind))
	check(strings.HasPrefix(cs.FHIRVersion, "4.0"), fmt.Sprintf("fhirVersion %q, want 4.0.x", cs.FHIRVersion))
	check(slices.Contains(cs.Format, "json") || slices.Contains(cs.Format, mediaJSON), fmt.Sprintf("format %v lacks json", cs.Format))
	check(len(cs.Rest) > 0, "no rest")
	for i, r := range cs.Rest {
		check(r.Mode == "server" || r.Mode == "client", fmt.Sprintf("rest[%d].mode %q", i, r.Mode))
		for _, res := range r.Resource {
			for _, in := range res.Interaction {
				check(slices.Contains(typeInteractions, in.Code), fmt.Sprintf("%s interaction %q is not a FHIR type-restful-interaction", res.Type, in.Code))
			}
		}
		for _, in := range r.Interaction {
			check(slices.Contains(systemInteractions, in.Code), fmt.Sprintf("system interaction %q is not a FHIR system-restful-interaction", in.Code))
		}
	}
	// The mADX actors' own interactions must be declared.
	check(cs.declares("Measure", "read"), "Measure read (QRPH-59) not declared")
	check(cs.declares("MeasureReport", "update"), "MeasureReport update (QRPH-58) not declared")
	if len(bad) > 0 {
		return fmt.Errorf("%s", strings.Join(bad, "; "))
	}
	return nil
}

// probe is a harmless request showing whether an interaction is served:
// it names an absent resource or sends an unacceptable body, so a server
// that serves it answers 2xx, 4xx-other-than-not-served, and one that does
// not answers 404 (no such route), 405 or 501.
func probe(typ, code string) (req, []int) {
	absent := "/" + typ + "/madx-kit-probe-absent"
	notServed := []int{http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotImplemented}
	switch code {
	case "read", "vread", "history-instance":
		p := absent
		if code == "vread" {
			p += "/_history/1"
		} else if code == "history-instance" {
			p += "/_history"
		}
		// An absent id is 404 from a server that serves the interaction,
		// so only 405/501 tell it is not served.
		return req{method: http.MethodGet, path: p}, notServed[1:]
	case "update":
		return req{method: http.MethodPut, path: absent, contentType: mediaJSON, body: []byte(`{"resourceType":"OperationOutcome"}`)}, notServed
	case "patch":
		return req{method: http.MethodPatch, path: absent, contentType: "application/json-patch+json", body: []byte(`[]`)}, notServed[1:]
	case "delete":
		return req{method: http.MethodDelete, path: absent}, notServed[1:]
	case "create":
		return req{method: http.MethodPost, path: "/" + typ, contentType: mediaJSON, body: []byte(`{}`)}, notServed
	case "history-type":
		return req{method: http.MethodGet, path: "/" + typ + "/_history"}, notServed
	case "search-type":
		return req{method: http.MethodGet, path: "/" + typ + "?_count=1"}, notServed
	case "transaction", "batch":
		return req{method: http.MethodPost, path: "", contentType: mediaJSON, body: []byte(`{"resourceType":"Bundle","type":"` + code + `"}`)}, notServed
	case "search-system":
		return req{method: http.MethodGet, path: "?_count=1"}, notServed
	case "history-system":
		return req{method: http.MethodGet, path: "/_history"}, notServed
	}
	return req{}, nil
}

func (s *suite) interactionsServed(ctx context.Context) error {
	cs, err := s.capability(ctx)
	if err != nil {
		return err
	}
	var bad []string
	try := func(label string, r req, notServed []int) {
		if r.method == "" {
			return
		}
		resp, err := s.c.do(ctx, r)
		switch {
		case err != nil:
			bad = append(bad, fmt.Sprintf("%s: %v", label, err))
		case resp.status >= 500 && resp.status != http.StatusNotImplemented:
			bad = append(bad, fmt.Sprintf("%s: server error %d", label, resp.status))
		case slices.Contains(notServed, resp.status):
			bad = append(bad, fmt.Sprintf("%s declared but %s %s answers %d", label, r.method, r.path, resp.status))
		}
	}
	for _, rest := range cs.Rest {
		for _, res := range rest.Resource {
			for _, in := range res.Interaction {
				r, ns := probe(res.Type, in.Code)
				try(res.Type+" "+in.Code, r, ns)
			}
		}
		for _, in := range rest.Interaction {
			r, ns := probe("", in.Code)
			try("system "+in.Code, r, ns)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s", strings.Join(bad, "; "))
	}
	return nil
}

// etag updates a report twice and checks that ETag and meta.versionId
// agree and move forward (FHIR R4 http.html#versioning).
func (s *suite) etag(ctx context.Context) error {
	if err := s.needSetup(); err != nil {
		return err
	}
	const id = "madx-kit-etag"
	var prev int
	for i, status := range []string{"pending", "complete"} {
		body, _, err := s.fx.reportVariant(id, 10, func(doc map[string]any) error { doc["status"] = status; return nil })
		if err != nil {
			return err
		}
		r, err := s.c.putJSON(ctx, "/MeasureReport/"+id, body)
		if err != nil {
			return err
		}
		if err := expectStatus(r, http.StatusOK, http.StatusCreated); err != nil {
			return err
		}
		v, err := weakVersion(r.header.Get("ETag"))
		if err != nil {
			return fmt.Errorf("update %d: %w", i+1, err)
		}
		if i > 0 && v <= prev {
			return fmt.Errorf("a changed report got ETag version %d after %d: versions must move forward", v, prev)
		}
		prev = v
	}
	r, err := s.c.do(ctx, req{method: http.MethodGet, path: "/MeasureReport/" + id})
	if err != nil {
		return err
	}
	if err := expectStatus(r, http.StatusOK); err != nil {
		return err
	}
	var got struct {
		Meta struct {
			VersionID string `json:"versionId"`
		} `json:"meta"`
	}
	_ = json.Unmarshal(r.body, &got)
	if want := fmt.Sprintf(`W/"%d"`, prev); r.header.Get("ETag") != want || got.Meta.VersionID != strconv.Itoa(prev) {
		return fmt.Errorf("read: ETag %q and meta.versionId %q, want %s and %d", r.header.Get("ETag"), got.Meta.VersionID, want, prev)
	}
	return nil
}

// weakVersion reads W/"n".
func weakVersion(etag string) (int, error) {
	v, ok := strings.CutPrefix(etag, `W/"`)
	v, ok2 := strings.CutSuffix(v, `"`)
	n, err := strconv.Atoi(v)
	if !ok || !ok2 || err != nil {
		return 0, fmt.Errorf("ETag %q is not W/\"versionId\"", etag)
	}
	return n, nil
}

func (s *suite) auth(ctx context.Context) error {
	r, err := s.c.do(ctx, req{method: http.MethodGet, path: s.measurePath(), noToken: true})
	if err != nil {
		return err
	}
	switch {
	case r.status >= 200 && r.status < 300 && s.c.token == "":
		return skipf("the server does not require a token (GET without one answered %d) and none was given", r.status)
	case r.status >= 200 && r.status < 300:
		return skipf("the server answered %d without a token: it does not require one", r.status)
	case r.status != http.StatusUnauthorized:
		return fmt.Errorf("without a token: %s, want 401", r)
	}
	if _, err := outcome(r); err != nil {
		return fmt.Errorf("401 without a token: %w", err)
	}
	// A wrong token must be refused the same way.
	wrong, err := s.c.do(ctx, req{method: http.MethodGet, path: s.measurePath(), token: "madx-kit-not-a-valid-token"})
	if err != nil {
		return err
	}
	if err := expectStatus(wrong, http.StatusUnauthorized); err != nil {
		return fmt.Errorf("with an invalid token: %w", err)
	}
	return nil
}
