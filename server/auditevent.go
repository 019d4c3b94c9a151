package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/madx-project/madx/server/pipeline"
	"github.com/madx-project/madx/store"
)

// auditEvent is the FHIR R4 AuditEvent madx writes, as JSON (like
// outBundle: built directly, since the server only ever writes this shape).
// It names resources, measures, subjects and periods, never a report's
// numbers.
type auditEvent struct {
	ResourceType string        `json:"resourceType"`
	ID           string        `json:"id,omitempty"`
	Meta         *auditMeta    `json:"meta,omitempty"`
	Type         coding        `json:"type"`
	Subtype      []coding      `json:"subtype"`
	Action       string        `json:"action"`
	Recorded     string        `json:"recorded"`
	Outcome      string        `json:"outcome"`
	OutcomeDesc  string        `json:"outcomeDesc"`
	Agent        []auditAgent  `json:"agent"`
	Source       auditSource   `json:"source"`
	Entity       []auditEntity `json:"entity,omitempty"`
	recorded     time.Time     `json:"-"`
}

type auditMeta struct {
	VersionID   string `json:"versionId"`
	LastUpdated string `json:"lastUpdated"`
}

type coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
}

type identifier struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

type reference struct {
	Reference  string      `json:"reference,omitempty"`
	Identifier *identifier `json:"identifier,omitempty"`
	Display    string      `json:"display,omitempty"`
}

type auditAgent struct {
	Who       reference     `json:"who"`
	AltID     string        `json:"altId,omitempty"`
	Requestor bool          `json:"requestor"`
	Network   *auditNetwork `json:"network,omitempty"`
}

type auditNetwork struct {
	Address string `json:"address"`
	Type    string `json:"type"`
}

type auditSource struct {
	Site     string    `json:"site,omitempty"`
	Observer reference `json:"observer"`
	Type     []coding  `json:"type"`
}

type auditEntity struct {
	What   reference     `json:"what"`
	Type   *coding       `json:"type,omitempty"`
	Detail []auditDetail `json:"detail,omitempty"`
}

type auditDetail struct {
	Type        string `json:"type"`
	ValueString string `json:"valueString"`
}

// principalSystem is the identifier system of AuditEvent.agent.who: the
// value is auth.Principal.Name ("jwt:<iss>|<sub>", "certificate:<DN>", ...).
const principalSystem = "urn:madx:principal"

// auditEvent builds the record of one attempt.
func (s *Server) auditEvent(rec *auditRecord, status, issues int) *auditEvent {
	subtype := string(rec.interaction)
	rec.mu.Lock()
	bundle, failures := rec.bundleType, rec.entryFailures
	if bundle != "" {
		// restful-interaction has no code for an mADX collection; it is
		// processed all-or-nothing, like a transaction.
		subtype = map[bool]string{true: "batch", false: "transaction"}[bundle == "batch"]
		bundle = fmt.Sprintf(", %s Bundle of %d entries", bundle, rec.bundleEntries)
	}
	rec.mu.Unlock()
	ev := &auditEvent{ResourceType: "AuditEvent", recorded: rec.recorded,
		Type:     coding{System: "http://terminology.hl7.org/CodeSystem/audit-event-type", Code: "rest", Display: "RESTful Operation"},
		Subtype:  []coding{{System: "http://hl7.org/fhir/restful-interaction", Code: subtype}},
		Action:   actionCode(rec.interaction, rec.method),
		Recorded: rec.recorded.Format(instantLayout),
		Outcome:  outcomeCode(status, failures),
		OutcomeDesc: fmt.Sprintf("%s %s%s: %d %s, %d issue(s)%s;%s request id %s", rec.method, rec.path, bundle, status, http.StatusText(status), issues,
			map[bool]string{true: fmt.Sprintf(", %d failed batch entries", rec.entryFailures), false: ""}[rec.entryFailures > 0],
			map[bool]string{true: " client request id " + rec.clientID + ";", false: ""}[rec.clientID != ""], rec.requestID),
		Source: auditSource{Observer: reference{Display: "madx " + Version},
			Type: []coding{{System: "http://terminology.hl7.org/CodeSystem/security-source-type", Code: "4", Display: "Application Server"}}},
	}
	who := rec.who()
	agent := auditAgent{Who: reference{Identifier: &identifier{System: principalSystem, Value: who}, Display: who}, Requestor: true,
		AltID: rec.principal.ClientID}
	if rec.address != "" {
		agent.Network = &auditNetwork{Address: rec.address, Type: "2"} // 2: IP address
	}
	if rec.job != "" {
		ev.Source.Site = "asynchronous job " + rec.job
	}
	ev.Agent = []auditAgent{agent}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, p := range rec.entities {
		ev.Entity = append(ev.Entity, entityOf(p.Type, p.ID, p.Index))
	}
	if len(ev.Entity) == 0 && rec.typ != "" {
		// Nothing was decoded (a delete, or a body refused before it was
		// read): the URL says what the attempt was about.
		ev.Entity = append(ev.Entity, entityOf(rec.typ, rec.id, store.Index{}))
	}
	return ev
}

// render is the stored body of the record as version vid of id.
func (ev *auditEvent) render(id string, vid int64, at time.Time) ([]byte, error) {
	e := *ev
	e.ID = id
	e.Meta = &auditMeta{VersionID: strconv.FormatInt(vid, 10), LastUpdated: at.UTC().Format(pipeline.InstantLayout)}
	return json.Marshal(e)
}

func entityOf(typ, id string, x store.Index) auditEntity {
	ref := typ
	if id != "" {
		ref += "/" + id
	}
	e := auditEntity{What: reference{Reference: ref}, Type: &coding{System: "http://hl7.org/fhir/resource-types", Code: typ}}
	add := func(k, v string) {
		if v != "" {
			e.Detail = append(e.Detail, auditDetail{Type: k, ValueString: v})
		}
	}
	add("measure", x.Measure)
	add("subject", x.Subject)
	if !x.PeriodStart.IsZero() || !x.PeriodEnd.IsZero() {
		add("period", formatDay(x.PeriodStart)+"/"+formatDay(x.PeriodEnd))
	}
	add("url", x.URL)
	add("version", x.Version)
	return e
}

func formatDay(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02")
}

// index is what AuditEvent search reads without decoding the body: the
// time in PeriodStart/PeriodEnd, the outcome in Status, and tokens for
// agent, entity and outcome (the "code:" parameters of the conformance
// table, matched exactly).
func (ev *auditEvent) index() store.Index {
	x := store.Index{Status: ev.Outcome, PeriodStart: ev.recorded, PeriodEnd: ev.recorded}
	x.Tokens = append(x.Tokens, "outcome="+ev.Outcome, "action="+ev.Action, "subtype="+ev.Subtype[0].Code)
	for _, a := range ev.Agent {
		x.Tokens = append(x.Tokens, "agent="+a.Who.Identifier.Value)
		if rest, ok := strings.CutPrefix(a.Who.Identifier.Value, "jwt:"); ok {
			// A bare token subject (agent=healthpost-1) finds the
			// principal of any trusted issuer.
			if i := strings.LastIndexByte(rest, '|'); i >= 0 {
				x.Tokens = append(x.Tokens, "agent="+rest[i+1:])
			}
		}
		if a.AltID != "" {
			x.Tokens = append(x.Tokens, "agent="+a.AltID)
		}
	}
	for _, e := range ev.Entity {
		x.Tokens = append(x.Tokens, "entity="+e.What.Reference)
		for _, d := range e.Detail {
			if d.Type == "subject" || d.Type == "measure" {
				x.Tokens = append(x.Tokens, "entity="+d.ValueString)
			}
		}
	}
	return x
}

// entityTexts is the log line's summary of the entities.
func (ev *auditEvent) entityTexts() []string {
	out := make([]string, 0, len(ev.Entity))
	for _, e := range ev.Entity {
		parts := []string{e.What.Reference}
		for _, d := range e.Detail {
			parts = append(parts, d.Type+"="+d.ValueString)
		}
		out = append(out, strings.Join(parts, " "))
	}
	return out
}
