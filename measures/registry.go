package measures

import (
	"strings"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	cmpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/concept_map_go_proto"
	locpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/location_go_proto"
	mrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/measure_report_go_proto"
	orgpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/organization_go_proto"

	oo "github.com/madx-project/madx/operationoutcome"
)

// Registry is a compiled, immutable snapshot of the known reporting
// Locations and Organizations, indexed by id, identifier and name. Which
// resources count as known (all stored ones, active ones only, ...) is the
// caller's choice when building it. A nil *Registry knows nothing.
type Registry struct {
	locations     directory
	organizations directory
	// inactive holds the Locations whose status is inactive: closed
	// facilities, which report no more.
	inactive map[string]struct{}
	sites    siteMaps
	// locSystems are the identifier systems Locations use.
	locSystems map[string]bool
}

// directory indexes one resource type.
type directory struct {
	ids    map[string]struct{}
	idents map[identKey][]string // system|value -> ids
	names  map[string][]string   // exact name -> ids
}

type identKey struct{ system, value string }

func newDirectory() directory {
	return directory{ids: map[string]struct{}{}, idents: map[identKey][]string{}, names: map[string][]string{}}
}

func (dir directory) add(id, name string, idents []*dtpb.Identifier) {
	if id == "" {
		return
	}
	dir.ids[id] = struct{}{}
	for _, i := range idents {
		k := identKey{i.GetSystem().GetValue(), i.GetValue().GetValue()}
		dir.idents[k] = append(dir.idents[k], id)
	}
	if name != "" {
		dir.names[name] = append(dir.names[name], id)
	}
}

// NewRegistry indexes locs and orgs, and the site maps that send senders'
// facility codes to the Locations (see siteMaps; nil for none). Resources
// without an id are skipped: they cannot be the target of a reference.
func NewRegistry(locs []*locpb.Location, orgs []*orgpb.Organization, maps []*cmpb.ConceptMap) *Registry {
	reg := &Registry{locations: newDirectory(), organizations: newDirectory(), inactive: map[string]struct{}{}, locSystems: map[string]bool{}}
	for _, l := range locs {
		for _, i := range l.GetIdentifier() {
			reg.locSystems[i.GetSystem().GetValue()] = true
		}
		reg.locations.add(l.GetId().GetValue(), l.GetName().GetValue(), l.GetIdentifier())
		if l.GetStatus().GetValue() == cpb.LocationStatusCode_INACTIVE {
			reg.inactive[l.GetId().GetValue()] = struct{}{}
		}
	}
	for _, o := range orgs {
		reg.organizations.add(o.GetId().GetValue(), o.GetName().GetValue(), o.GetIdentifier())
	}
	reg.addSiteMaps(maps)
	return reg
}

// SubjectRef is the registry entry a MeasureReport.subject resolved to.
type SubjectRef struct {
	// Reference is the relative literal reference of the registry match,
	// "Location/<id>"; empty when the subject did not resolve.
	Reference string
	// MatchedBy says how the match was made: "reference", "identifier",
	// "site map" (a sender's code, through a ConceptMap), "contained
	// identifier", "contained id" or "contained name".
	MatchedBy string
}

// target is what a Reference names, before looking it up.
type target struct {
	kind     string // "Location", "Organization", another resource type, or "" when unknown
	id       string // literal id
	ident    *dtpb.Identifier
	fragment string
	uri      string // an absolute reference as written
}

// text renders the reference for diagnostics and keys; it is built only
// when needed, so a resolvable subject costs no allocation.
func (t target) text() string {
	switch {
	case t.fragment != "":
		return "#" + t.fragment
	case t.uri != "":
		return t.uri
	case t.kind != "":
		return t.kind + "/" + t.id
	}
	return ""
}

// ResolveSubject matches r.subject to a registry Location:
//   - a literal reference Location/<id>, also absolute (http://host/fhir/Location/<id>, with or without _history), by id;
//   - a logical reference (Reference.identifier), by identifier system and value;
//   - a contained Location (#<id>), by one of its identifiers, failing that
//     by its id, failing that by its exact name (the IHE example's
//     contained Location has only a name).
//
// An Organization is rejected: R4 does not allow one as MeasureReport.subject.
// Issues are fatal and point at MeasureReport.subject (or at MeasureReport
// when the subject is missing). The SubjectRef is zero unless the subject
// resolved.
func (reg *Registry) ResolveSubject(r *mrpb.MeasureReport) (SubjectRef, []oo.Issue) {
	if r.GetSubject() == nil {
		return SubjectRef{}, []oo.Issue{oo.Issuef(oo.SeverityFatal, oo.Required, "MeasureReport",
			"MeasureReport.subject is required (mADX-MeasureReport subject 1..1, QRPH-58 2:3.58.4.1.2) but is missing")}
	}
	m, issues := reg.subject(r)
	return m.ref(), issues
}

// subject resolves r.subject (present) and refuses a closed facility: a
// Location whose status is inactive keeps no reporting obligation, and a
// report in its name is a mistake or a misuse (issue 11). suspended is a
// temporary closure and still reports. Check and ResolveSubject share it.
func (reg *Registry) subject(r *mrpb.MeasureReport) (match, []oo.Issue) {
	m, issues := reg.resolve(r, r.GetSubject(), "MeasureReport.subject", false)
	if reg == nil || m.kind != "Location" {
		return m, issues
	}
	if _, closed := reg.inactive[m.id]; closed {
		issues = append(issues, oo.Issuef(oo.SeverityFatal, oo.BusinessRule, "MeasureReport.subject",
			"MeasureReport.subject is Location/%s, whose status is inactive (the facility is closed); expected an active reporting Location. The jurisdiction can set it active again if it reports again.", m.id))
	}
	return m, issues
}

// checkReporter matches r.reporter, when it names a Location or an
// Organization, like the subject; other reporter types are not checked.
func (reg *Registry) checkReporter(r *mrpb.MeasureReport) []oo.Issue {
	if r.GetReporter() == nil {
		return nil
	}
	_, issues := reg.resolve(r, r.GetReporter(), "MeasureReport.reporter", true)
	return issues
}

// match is a registry hit; it becomes a SubjectRef only when the caller
// wants one, so that Check resolves subjects without allocating.
type match struct{ kind, id, how string }

func (m match) ref() SubjectRef {
	if m.id == "" {
		return SubjectRef{}
	}
	return SubjectRef{Reference: m.kind + "/" + m.id, MatchedBy: m.how}
}

func (reg *Registry) resolve(r *mrpb.MeasureReport, ref *dtpb.Reference, expr string, orgAllowed bool) (match, []oo.Issue) {
	if reg == nil {
		reg = &Registry{}
	}
	t := parseReference(ref)
	fail := func(code oo.IssueType, format string, args ...any) (match, []oo.Issue) {
		return match{}, []oo.Issue{oo.Issuef(oo.SeverityFatal, code, expr, format, args...)}
	}
	if t.fragment != "" {
		loc, org := contained(r, t.fragment)
		switch {
		case loc != nil:
			id, how := reg.locations.matchContained(loc.GetId().GetValue(), loc.GetName().GetValue(), loc.GetIdentifier())
			if id == "" {
				return fail(oo.NotFound, "%s %s is a contained Location (name %q) that matches no known reporting Location by identifier, id or exact name (IHE mADX Test Case 3)",
					expr, t.text(), loc.GetName().GetValue())
			}
			return match{"Location", id, how}, nil
		case org != nil && !orgAllowed:
			return fail(oo.Invalid, orgNotSubject, expr, t.text())
		case org != nil:
			id, how := reg.organizations.matchContained(org.GetId().GetValue(), org.GetName().GetValue(), org.GetIdentifier())
			if id == "" {
				return fail(oo.NotFound, "%s %s is a contained Organization (name %q) that matches no known Organization by identifier, id or exact name",
					expr, t.text(), org.GetName().GetValue())
			}
			return match{"Organization", id, how}, nil
		default:
			return fail(oo.NotFound, "%s %s names no Location or Organization in MeasureReport.contained", expr, t.text())
		}
	}
	switch t.kind {
	case "Location":
		if _, ok := reg.locations.ids[t.id]; !ok {
			return fail(oo.NotFound, "%s %s is not a known reporting Location (IHE mADX Test Case 3)", expr, t.text())
		}
		return match{"Location", t.id, "reference"}, nil
	case "Organization":
		if !orgAllowed {
			return fail(oo.Invalid, orgNotSubject, expr, t.text())
		}
		if _, ok := reg.organizations.ids[t.id]; !ok {
			return fail(oo.NotFound, "%s %s is not a known Organization", expr, t.text())
		}
		return match{"Organization", t.id, "reference"}, nil
	case "":
	default:
		if orgAllowed {
			return match{}, nil // a Practitioner or other reporter: nothing to match it against
		}
		return fail(oo.Invalid, "%s %s refers to a %s; mADX reports are about a facility: the subject must be a known Location", expr, t.text(), t.kind)
	}
	if t.ident != nil {
		k := identKey{t.ident.GetSystem().GetValue(), t.ident.GetValue().GetValue()}
		typ := ref.GetType().GetValue()
		if typ == "" || typ == "Location" || strings.HasSuffix(typ, "/Location") {
			if ids := reg.locations.idents[k]; len(ids) == 1 {
				return match{"Location", ids[0], "identifier"}, nil
			} else if len(ids) > 1 {
				return fail(oo.NotFound, "%s identifier %s|%s is shared by several known Locations (%s): it cannot identify one", expr, k.system, k.value, strings.Join(ids, ", "))
			}
			// A sender's own code, mapped by the jurisdiction.
			if id, refusal, ok := reg.site(k, expr); ok && refusal != "" {
				return fail(oo.NotFound, "%s (IHE mADX Test Case 3)", refusal)
			} else if ok {
				return match{"Location", id, "site map"}, nil
			}
		}
		if ids := reg.organizations.idents[k]; len(ids) > 0 && typ != "Location" {
			if !orgAllowed {
				return fail(oo.Invalid, orgNotSubject, expr, "identifier "+k.system+"|"+k.value+" (Organization/"+ids[0]+")")
			}
			return match{"Organization", ids[0], "identifier"}, nil
		}
		return fail(oo.NotFound, "%s identifier %s|%s matches no known reporting Location (IHE mADX Test Case 3)", expr, k.system, k.value)
	}
	if t.text() != "" {
		return fail(oo.NotFound, "%s %s cannot be resolved: expected Location/<id>, an absolute URL ending in Location/<id>, #<contained id> or an identifier", expr, t.text())
	}
	return fail(oo.Required, "%s has neither a reference nor an identifier: it cannot name a reporting Location", expr)
}

const orgNotSubject = "%s %s is an Organization; FHIR R4 allows only Patient, Practitioner, PractitionerRole, Location, Device, RelatedPerson or Group as MeasureReport.subject, so an mADX report names the facility's Location as subject (an Organization may be the reporter)"

// matchContained applies the contained-resource rule: identifier, failing
// that id, failing that exact name; each only when it picks exactly one.
func (dir directory) matchContained(id, name string, idents []*dtpb.Identifier) (string, string) {
	for _, i := range idents {
		if ids := dir.idents[identKey{i.GetSystem().GetValue(), i.GetValue().GetValue()}]; len(ids) == 1 {
			return ids[0], "contained identifier"
		}
	}
	if _, ok := dir.ids[id]; ok && id != "" {
		return id, "contained id"
	}
	if ids := dir.names[name]; len(ids) == 1 && name != "" {
		return ids[0], "contained name"
	}
	return "", ""
}

// parseReference reads google/fhir's split Reference: typed ids
// (location_id, organization_id, ...), fragment, or a uri that the
// unmarshaller could not split (absolute URLs).
func parseReference(ref *dtpb.Reference) target {
	t := target{ident: ref.GetIdentifier()}
	switch {
	case ref.GetFragment() != nil:
		t.fragment = ref.GetFragment().GetValue()
	case ref.GetLocationId() != nil:
		t.kind, t.id = "Location", ref.GetLocationId().GetValue()
	case ref.GetOrganizationId() != nil:
		t.kind, t.id = "Organization", ref.GetOrganizationId().GetValue()
	case ref.GetUri() != nil:
		t.uri = ref.GetUri().GetValue()
		t.kind, t.id = splitURL(t.uri)
		if strings.HasPrefix(t.uri, "#") {
			t.fragment, t.kind, t.uri = t.uri[1:], "", ""
		}
	case ref.GetReference() != nil:
		// Another typed id: Patient/x, Practitioner/x, ...
		m := ref.ProtoReflect()
		if fd := m.WhichOneof(m.Descriptor().Oneofs().ByName("reference")); fd != nil {
			t.kind = snakeToType(strings.TrimSuffix(string(fd.Name()), "_id"))
			t.id = m.Get(fd).Message().Interface().(*dtpb.ReferenceId).GetValue()
		}
	}
	return t
}

// splitURL takes "[base/]Type/id[/_history/v]" apart.
func splitURL(u string) (kind, id string) {
	parts := strings.Split(strings.TrimRight(u, "/"), "/")
	if n := len(parts); n >= 4 && parts[n-2] == "_history" {
		parts = parts[:n-2]
	}
	if n := len(parts); n >= 2 {
		return parts[n-2], parts[n-1]
	}
	return "", ""
}

func snakeToType(s string) string {
	var b strings.Builder
	for _, w := range strings.Split(s, "_") {
		if w != "" {
			b.WriteString(strings.ToUpper(w[:1]) + w[1:])
		}
	}
	return b.String()
}

// contained finds the contained Location or Organization with that id.
// google/fhir stores contained resources as Any holding a
// ContainedResource; an Any holding the resource itself is accepted too.
func contained(r *mrpb.MeasureReport, id string) (*locpb.Location, *orgpb.Organization) {
	for _, a := range r.GetContained() {
		var loc *locpb.Location
		var org *orgpb.Organization
		switch cr := (&bcrpb.ContainedResource{}); {
		case a.MessageIs(cr):
			if a.UnmarshalTo(cr) != nil {
				continue
			}
			loc, org = cr.GetLocation(), cr.GetOrganization()
		case a.MessageIs(&locpb.Location{}):
			loc = &locpb.Location{}
			if a.UnmarshalTo(loc) != nil {
				continue
			}
		case a.MessageIs(&orgpb.Organization{}):
			org = &orgpb.Organization{}
			if a.UnmarshalTo(org) != nil {
				continue
			}
		}
		if loc != nil && loc.GetId().GetValue() == id {
			return loc, nil
		}
		if org != nil && org.GetId().GetValue() == id {
			return nil, org
		}
	}
	return nil, nil
}
