package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/madx-project/madx/adx"
	"github.com/madx-project/madx/store"
)

// maxAnswer caps what is read of a destination's answer.
const maxAnswer = 32 << 20

// call sends one request to d and reads the answer; status 0 and the error
// when there was none.
func (d *destination) call(ctx context.Context, method, u, contentType string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json, application/fhir+json")
	d.authorize(req)
	res, err := d.client.Do(req)
	if err != nil {
		// The URL is the configured one and holds no credential; the error
		// names it so that an operator sees which destination is down.
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer))
	if err != nil {
		return 0, nil, fmt.Errorf("read the answer of %s: %w", u, err)
	}
	return res.StatusCode, b, nil
}

// failAll gives every item the same failed outcome.
func failAll(items []*item, status int, err string, body []byte) {
	for _, it := range items {
		it.status, it.err, it.response = status, err, body
		it.refused = !retryable(status)
	}
}

// httpFailure says what a call that got no success came to.
func httpFailure(status int, err error) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("the destination answered %d %s", status, http.StatusText(status))
}

// sendFHIR sends the items to a FHIR server as one batch Bundle: a PUT of
// the stored version under the same id, or a DELETE. Each entry's answer
// decides that item (a 404 or 410 to a DELETE is success: nothing is left
// to delete).
func (f *forwarder) sendFHIR(ctx context.Context, d *destination, items []*item) {
	// Written by hand: json.Marshal would compact and check every stored
	// body again, a third of the cost of a send.
	var buf bytes.Buffer
	buf.WriteString(`{"resourceType":"Bundle","type":"batch","entry":[`)
	methods := make([]string, len(items))
	for i, it := range items {
		if i > 0 {
			buf.WriteByte(',')
		}
		rel := "MeasureReport/" + it.rec.Report
		methods[i] = http.MethodPut
		if it.rec.Deleted {
			methods[i] = http.MethodDelete
			fmt.Fprintf(&buf, `{"request":{"method":"DELETE","url":%q}}`, rel)
			continue
		}
		fmt.Fprintf(&buf, `{"fullUrl":%q,"resource":`, d.URL+"/"+rel)
		buf.Write(it.report.Body)
		fmt.Fprintf(&buf, `,"request":{"method":"PUT","url":%q}}`, rel)
	}
	buf.WriteString(`]}`)
	body := buf.Bytes()
	status, answer, err := d.call(ctx, http.MethodPost, d.URL, "application/fhir+json", body)
	if err != nil || status != http.StatusOK {
		failAll(items, status, httpFailure(status, err), answer)
		return
	}
	var resp struct {
		Entry []struct {
			Response struct {
				Status  string          `json:"status"`
				Outcome json.RawMessage `json:"outcome"`
			} `json:"response"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(answer, &resp); err != nil || len(resp.Entry) != len(items) {
		failAll(items, status, fmt.Sprintf("the destination's batch-response is not one entry per request (%d requests): %v", len(items), err), answer)
		return
	}
	for i, it := range items {
		r := resp.Entry[i].Response
		code, _ := strconv.Atoi(strings.Fields(r.Status + " 0")[0])
		it.status, it.response = code, r.Outcome
		switch {
		case code >= 200 && code < 300, it.rec.Deleted && (code == http.StatusNotFound || code == http.StatusGone):
			it.ok = true
		default:
			it.err = fmt.Sprintf("the destination answered %s to %s MeasureReport/%s", r.Status, methods[i], it.rec.Report)
			it.refused = !retryable(code)
		}
	}
}

// sendADX sends the items to DHIS2's /api/dataValueSets as ADX: the
// reports' values with importStrategy CREATE_AND_UPDATE, and with
// importStrategy DELETE the values of deleted reports and those a new
// version no longer holds (so no stale value stays upstream because its
// stratum was left out). Each call is atomic (atomicMode=ALL): a refusal
// is narrowed down by halving until the refused report is alone, which
// then goes dead-letter with DHIS2's ImportSummary.
func (f *forwarder) sendADX(ctx context.Context, d *destination, items []*item) {
	sctx, err := f.s.pipe.WithSnapshot(ctx)
	if err != nil {
		failAll(items, 0, err.Error(), nil)
		return
	}
	cat, err := f.s.pipe.Catalog(sctx)
	if err != nil {
		failAll(items, 0, err.Error(), nil)
		return
	}
	ex := adx.NewExporter(cat, adx.Options{DataSet: d.Scheme, DataElement: d.Scheme, OrgUnit: d.Scheme})
	var parts []adxPart
	for _, it := range items {
		p, err := f.adxPart(sctx, ex, it)
		if err != nil {
			it.refused, it.err = true, "cannot write this report as ADX: "+err.Error()
			continue
		}
		parts = append(parts, p)
	}
	f.sendADXParts(ctx, d, parts)
}

// adxPart is what one item sends: values to set, values to delete.
type adxPart struct {
	it          *item
	set, delete *adx.Group
}

func (f *forwarder) adxPart(ctx context.Context, ex *adx.Exporter, it *item) (adxPart, error) {
	p := adxPart{it: it}
	rep, err := f.s.storedReport(it.report)
	if err != nil {
		return p, err
	}
	g, err := ex.Group(ctx, rep)
	if err != nil {
		return p, err
	}
	if it.rec.Deleted {
		p.delete = &g
		return p, nil
	}
	p.set = &g
	prev, err := f.lastSent(ctx, it)
	if err != nil || prev == nil {
		return p, err
	}
	old, err := f.s.storedReport(*prev)
	if err != nil {
		return p, err
	}
	og, err := ex.Group(ctx, old)
	if err != nil {
		return p, nil // the old version no longer maps: nothing to clear by it
	}
	if stale := staleValues(og, g); len(stale.Values) > 0 {
		p.delete = &stale
	}
	return p, nil
}

// lastSent is the version of the report the destination last accepted,
// from the outbox entry's history (nil when none is known, or the last
// thing sent was a deletion).
func (f *forwarder) lastSent(ctx context.Context, it *item) (*store.Resource, error) {
	const look = 20 // entries coalesced before a send: a few at most
	for v := it.entry.VersionID - 1; v >= 1 && v >= it.entry.VersionID-look; v-- {
		e, err := f.s.opts.Store.ReadVersion(ctx, forwardType, it.entry.ID, v)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		var rec forwardRecord
		if json.Unmarshal(e.Body, &rec) != nil || rec.State != fwdSent {
			continue
		}
		if rec.Deleted || rec.Version == it.rec.Version {
			return nil, nil
		}
		r, err := f.s.opts.Store.ReadVersion(ctx, "MeasureReport", rec.Report, rec.Version)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		return &r, err
	}
	return nil, nil
}

// staleValues is old's group holding the values of old that now has no
// value with the same data element and disaggregation.
func staleValues(old, now adx.Group) adx.Group {
	key := func(v adx.DataValue) string {
		k := []string{v.DataElement}
		for _, a := range v.Disaggs {
			k = append(k, a.Name+"="+a.Value)
		}
		slices.Sort(k[1:])
		return strings.Join(k, "\x00")
	}
	keep := map[string]bool{}
	for _, v := range now.Values {
		keep[key(v)] = true
	}
	out := old
	out.Values = nil
	for _, v := range old.Values {
		if !keep[key(v)] {
			out.Values = append(out.Values, v)
		}
	}
	return out
}

// sendADXParts sends parts in two calls: first the values to delete
// (importStrategy DELETE), then the values to set (CREATE_AND_UPDATE,
// atomicMode=ALL, halved on a refusal). Deleting first keeps the end state
// right on a destination that deletes a whole dataSet's values for an
// orgUnit and period, as madx does. A deletion the destination answers
// with an ImportSummary counts as done even with conflicts: a value that
// is not there is not stale, and the summary is kept for the operator.
func (f *forwarder) sendADXParts(ctx context.Context, d *destination, parts []adxPart) {
	if len(parts) == 0 {
		return
	}
	var set, del []adx.Group
	for _, p := range parts {
		if p.set != nil {
			set = append(set, *p.set)
		}
		if p.delete != nil {
			del = append(del, *p.delete)
		}
	}
	status, answer, failure, refused := f.postADX(ctx, d, "DELETE", del)
	if failure == "" {
		status, answer, failure, refused = f.postADX(ctx, d, "CREATE_AND_UPDATE", set)
	}
	switch {
	case failure == "":
		for _, p := range parts {
			p.it.ok, p.it.status, p.it.response = true, status, summaryOnly(answer)
		}
	case refused && len(parts) > 1:
		f.sendADXParts(ctx, d, parts[:len(parts)/2])
		f.sendADXParts(ctx, d, parts[len(parts)/2:])
	default:
		for _, p := range parts {
			p.it.status, p.it.err, p.it.response, p.it.refused = status, failure, answer, refused
		}
	}
}

// postADX posts groups as one ADX message; failure is "" on success, and
// refused tells a refusal of the content (a retry cannot help) from a
// failure to deliver.
func (f *forwarder) postADX(ctx context.Context, d *destination, strategy string, groups []adx.Group) (status int, answer []byte, failure string, refused bool) {
	if len(groups) == 0 {
		return 0, nil, "", false
	}
	body, err := adx.Marshal(&adx.Message{Exported: f.s.opts.Now().UTC().Format("2006-01-02T15:04:05Z"), Groups: groups})
	if err != nil {
		return 0, nil, err.Error(), true
	}
	deleting := strategy == "DELETE"
	q := url.Values{"idScheme": {d.Scheme.String()}, "importStrategy": {strategy}, "atomicMode": {map[bool]string{true: "NONE", false: "ALL"}[deleting]}}
	status, answer, err = d.call(ctx, http.MethodPost, d.URL+"/api/dataValueSets?"+q.Encode(), mediaADX, body)
	if err != nil || ((status < 200 || status >= 300) && status != http.StatusConflict) {
		return status, answer, httpFailure(status, err), !retryable(status)
	}
	sum, ok := importSummaryOf(answer)
	switch {
	case !ok:
		return status, answer, fmt.Sprintf("the destination answered %d with no ImportSummary", status), status == http.StatusConflict
	case deleting:
	case sum.Status == adxError || sum.ImportCount.Ignored > 0 || status == http.StatusConflict:
		// Conflicts alone may be warnings about values DHIS2 imported.
		return status, answer, fmt.Sprintf("the destination refused the values (%s: %d ignored, %d conflicts%s)", sum.Status, sum.ImportCount.Ignored, len(sum.Conflicts), firstConflict(sum)), true
	}
	return status, answer, "", false
}

func firstConflict(sum importSummary) string {
	if len(sum.Conflicts) == 0 {
		return ""
	}
	c := sum.Conflicts[0]
	return fmt.Sprintf("; first: %s: %s", c.Object, c.Value)
}

// importSummaryOf reads DHIS2's answer: a WebMessage holding the
// ImportSummary in response (2.36 and later), or the ImportSummary itself.
func importSummaryOf(b []byte) (importSummary, bool) {
	var wm struct {
		Response *importSummary `json:"response"`
		importSummary
	}
	if json.Unmarshal(b, &wm) != nil {
		return importSummary{}, false
	}
	if wm.Response != nil && wm.Response.Status != "" {
		return *wm.Response, true
	}
	return wm.importSummary, wm.importSummary.Status != ""
}

// summaryOnly keeps the status and counts of a successful import, not
// the whole answer, with every report of the call.
func summaryOnly(b []byte) json.RawMessage {
	sum, ok := importSummaryOf(b)
	if !ok {
		return nil
	}
	out, _ := json.Marshal(struct {
		Status      string      `json:"status"`
		ImportCount importCount `json:"importCount"`
	}{sum.Status, sum.ImportCount})
	return out
}
