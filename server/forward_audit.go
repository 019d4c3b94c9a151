package server

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/madx-project/madx/store"
)

// destinationSystem is the identifier system of a forward destination in
// AuditEvent.agent.who: the value is its name (search agent=<name>).
const destinationSystem = "urn:madx:forward-destination"

// forwardAudit is the AuditEvent of the end of one forward: a DICOM
// Export (the report left madx for another system), outcome 0 when the
// destination accepted it, 8 when it went dead-letter (4 is kept for an
// attempt to be retried, which is not audited), and the destination's
// answer in the entity's detail.
// It is stored in the same commit as the outbox entry's new state.
func (s *Server) forwardAudit(d *destination, it *item, rec forwardRecord, at time.Time) store.Change {
	outcome := "0"
	switch rec.State {
	case fwdPending:
		outcome = "4"
	case fwdDead:
		outcome = "8"
	}
	op := map[bool]string{true: "deletion", false: "version"}[rec.Deleted]
	desc := fmt.Sprintf("forward of the %s of MeasureReport/%s version %d to %s (%s %s), attempt %d: %s", op, rec.Report, rec.Version, d.Name, d.Kind, d.URL, rec.Attempts, rec.State)
	switch {
	case rec.Status != 0 && rec.Error != "":
		desc += fmt.Sprintf("; %d %s: %s", rec.Status, http.StatusText(rec.Status), rec.Error)
	case rec.Status != 0:
		desc += fmt.Sprintf("; %d %s", rec.Status, http.StatusText(rec.Status))
	case rec.Error != "":
		desc += "; " + rec.Error
	}
	self := "internal:forward"
	host := d.URL
	if u, err := url.Parse(d.URL); err == nil {
		host = u.Hostname()
	}
	report := entityOf("MeasureReport", rec.Report, it.report.Index)
	report.Detail = append(report.Detail, auditDetail{Type: "version", ValueString: fmt.Sprint(rec.Version)})
	if len(rec.Response) > 0 {
		report.Detail = append(report.Detail, auditDetail{Type: "response", ValueString: string(rec.Response)})
	}
	ev := &auditEvent{ResourceType: "AuditEvent", recorded: at,
		Type:        coding{System: "http://dicom.nema.org/resources/ontology/DCM", Code: "110106", Display: "Export"},
		Subtype:     []coding{{System: "urn:madx:audit", Code: "forward", Display: "Forward to an upstream system"}},
		Action:      "R",
		Recorded:    at.Format(instantLayout),
		Outcome:     outcome,
		OutcomeDesc: desc,
		Agent: []auditAgent{
			{Who: reference{Identifier: &identifier{System: principalSystem, Value: self}, Display: self}, Requestor: true},
			{Who: reference{Identifier: &identifier{System: destinationSystem, Value: d.Name}, Display: d.Name + " " + d.URL}, Requestor: false, Network: &auditNetwork{Address: host, Type: "1"}}, // 1: machine name
		},
		Source: auditSource{Observer: reference{Display: "madx " + Version},
			Type: []coding{{System: "http://terminology.hl7.org/CodeSystem/security-source-type", Code: "4", Display: "Application Server"}}},
		Entity: []auditEntity{report},
	}
	id := s.opts.NewID()
	return store.Change{Type: auditType, ID: id, CreateOnly: true, Index: ev.index(),
		Render: func(vid int64, at time.Time) ([]byte, error) { return ev.render(id, vid, at) }}
}
