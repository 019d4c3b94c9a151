package pipeline

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	cmpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/concept_map_go_proto"
	locpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/location_go_proto"
	mpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/measure_go_proto"
	orgpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/organization_go_proto"
	"github.com/madx-project/madx/measures"
	oo "github.com/madx-project/madx/operationoutcome"
	"github.com/madx-project/madx/store"
	"google.golang.org/protobuf/proto"
)

// Stamps of these types invalidate compiled Measures and the Registry.
var (
	definitionStampTypes = []string{"Measure", "ValueSet", "CodeSystem"}
	registryStampTypes   = []string{"Location", "Organization", "ConceptMap"} // ConceptMaps: the site maps
	allStampTypes        = append(append([]string{}, definitionStampTypes...), registryStampTypes...)
)

// definitions caches compiled Measures and the Registry of facilities, so a
// report is checked against lookup tables rather than the database. Every
// use compares the store's cheap stamps (which change on any write of the
// types, by this process or another sharing the database) and drops what
// is stale: a changed ValueSet takes effect on the next report.
type definitions struct {
	st     store.Store
	decode func([]byte) (proto.Message, error)
	opts   measures.Options

	mu       sync.Mutex
	defStamp int64
	compiled map[string]*compiledMeasure // by the canonical the report named
	regStamp int64
	registry *measures.Registry
	graph    *facilityGraph // submitter rights, from the same Locations and Organizations
	locs     []*locpb.Location
	measures []*mpb.Measure // every stored Measure, for Catalog; nil until asked for, reset with compiled
	allStamp int64          // the stamp of all the types at which both above are current
}

type compiledMeasure struct {
	def    *measures.Definition
	issues []oo.Issue // from Compile: terminology gaps
}

func newDefinitions(st store.Store, decode func([]byte) (proto.Message, error), opts measures.Options) *definitions {
	return &definitions{st: st, decode: decode, opts: opts, compiled: map[string]*compiledMeasure{}, defStamp: -1, regStamp: -1, allStamp: -1}
}

// snapshot is what one request checks against: valid for that request even
// if a concurrent write invalidates the cache meanwhile.
type snapshot struct {
	d        *definitions
	defStamp int64
	registry *measures.Registry
	graph    *facilityGraph
	locs     []*locpb.Location
}

// snapshot refreshes the stamps and returns the current view. One query
// per request: the stamp of all the types together changes whenever
// either group's does, and only then are the two groups asked apart, to
// drop just the stale one (a new Location must not recompile Measures, nor
// a new ValueSet reload thousands of facilities).
func (d *definitions) snapshot(ctx context.Context) (*snapshot, error) {
	all, err := d.st.Stamp(ctx, allStampTypes...)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defStamp, regStamp, same := d.defStamp, d.regStamp, all == d.allStamp && d.registry != nil
	d.mu.Unlock()
	if !same {
		if defStamp, err = d.st.Stamp(ctx, definitionStampTypes...); err != nil {
			return nil, err
		}
		if regStamp, err = d.st.Stamp(ctx, registryStampTypes...); err != nil {
			return nil, err
		}
	}
	d.mu.Lock()
	if defStamp != d.defStamp {
		d.compiled, d.defStamp, d.measures = map[string]*compiledMeasure{}, defStamp, nil
	}
	reg, graph, locs := d.registry, d.graph, d.locs
	if regStamp != d.regStamp {
		reg = nil
	}
	d.mu.Unlock()
	if reg == nil {
		if reg, graph, locs, err = d.loadRegistry(ctx); err != nil {
			return nil, err
		}
		d.mu.Lock()
		d.registry, d.graph, d.locs, d.regStamp = reg, graph, locs, regStamp
		d.mu.Unlock()
	}
	if !same {
		d.mu.Lock()
		if d.defStamp == defStamp && d.regStamp == regStamp {
			// Both groups are known at these stamps: later requests may
			// trust the combined one. It was read first, so it can only be
			// older than the two (a write in between makes the next request
			// look again), never newer.
			d.allStamp = all
		}
		d.mu.Unlock()
	}
	return &snapshot{d: d, defStamp: defStamp, registry: reg, graph: graph, locs: locs}, nil
}

// loadRegistry reads every Location and Organization, and the ConceptMaps
// that map senders' facility codes to them (docs/validation.md, Site
// codes). A jurisdiction has thousands, not millions, of facilities:
// holding them is cheaper than a query per report.
func (d *definitions) loadRegistry(ctx context.Context) (*measures.Registry, *facilityGraph, []*locpb.Location, error) {
	var locs []*locpb.Location
	var orgs []*orgpb.Organization
	err := d.st.List(ctx, "Location", func(r store.Resource) error {
		m, err := d.decode(r.Body)
		if err != nil {
			return fmt.Errorf("decode stored Location/%s: %w", r.ID, err)
		}
		if l, ok := m.(*locpb.Location); ok {
			locs = append(locs, l)
		}
		return nil
	})
	if err != nil {
		return nil, nil, nil, err
	}
	err = d.st.List(ctx, "Organization", func(r store.Resource) error {
		m, err := d.decode(r.Body)
		if err != nil {
			return fmt.Errorf("decode stored Organization/%s: %w", r.ID, err)
		}
		if o, ok := m.(*orgpb.Organization); ok {
			orgs = append(orgs, o)
		}
		return nil
	})
	if err != nil {
		return nil, nil, nil, err
	}
	var maps []*cmpb.ConceptMap
	err = d.st.List(ctx, "ConceptMap", func(r store.Resource) error {
		m, err := d.decode(r.Body)
		if err != nil {
			return fmt.Errorf("decode stored ConceptMap/%s: %w", r.ID, err)
		}
		if cm, ok := m.(*cmpb.ConceptMap); ok {
			maps = append(maps, cm)
		}
		return nil
	})
	if err != nil {
		return nil, nil, nil, err
	}
	return measures.NewRegistry(locs, orgs, maps), newFacilityGraph(locs, orgs), locs, nil
}

// measure returns the compiled Measure a report's canonical names, or a
// 422 when none is stored (QRPH-58: the report must reference a Measure the
// jurisdiction published).
func (sn *snapshot) measure(ctx context.Context, canonical string) (*compiledMeasure, error) {
	d := sn.d
	d.mu.Lock()
	cm, ok := d.compiled[canonical]
	d.mu.Unlock()
	if ok {
		return cm, nil
	}
	res, found, err := resolveCanonical(ctx, d.st, d.decode, "Measure", canonical)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, oo.Errorf(http.StatusUnprocessableEntity, oo.NotFound, "MeasureReport.measure",
			"MeasureReport.measure is %q, but no active Measure with that canonical is known to this server; expected the canonical url (optionally |version) of a published Measure.", canonical)
	}
	m := res.(*mpb.Measure)
	def, issues, err := measures.Compile(ctx, m, terminology{st: d.st, decode: d.decode}, d.opts)
	if err != nil {
		return nil, err
	}
	cm = &compiledMeasure{def: def, issues: issues}
	d.mu.Lock()
	if d.defStamp == sn.defStamp { // not invalidated while compiling
		d.compiled[canonical] = cm
	}
	d.mu.Unlock()
	return cm, nil
}

// terminology adapts the store to measures.Terminology.
type terminology struct {
	st     store.Store
	decode func([]byte) (proto.Message, error)
}

func (t terminology) Resolve(ctx context.Context, canonical string) (proto.Message, bool, error) {
	for _, typ := range []string{"ValueSet", "CodeSystem"} {
		res, found, err := resolveCanonical(ctx, t.st, t.decode, typ, canonical)
		if err != nil || found {
			return res, found, err
		}
	}
	return nil, false, nil
}

// resolveCanonical finds a definition by "url" or "url|version". A plain
// url picks the latest version among the active ones, or among all when
// none is active (FHIR R4 references.html#canonical).
func resolveCanonical(ctx context.Context, st store.Store, decode func([]byte) (proto.Message, error), typ, canonical string) (proto.Message, bool, error) {
	url, version, _ := strings.Cut(canonical, "|")
	found, err := st.FindCanonical(ctx, typ, url, version)
	if err != nil || len(found) == 0 {
		return nil, false, err
	}
	best := found[0]
	for _, r := range found[1:] {
		if betterCanonical(r.Index, best.Index) {
			best = r
		}
	}
	res, err := decode(best.Body)
	if err != nil {
		return nil, false, fmt.Errorf("decode stored %s/%s: %w", typ, best.ID, err)
	}
	return res, true, nil
}

// betterCanonical orders candidates: active first, then the higher version
// (numeric segments compared as numbers: 1.10 > 1.9).
func betterCanonical(a, b store.Index) bool {
	if (a.Status == "active") != (b.Status == "active") {
		return a.Status == "active"
	}
	return compareVersions(a.Version, b.Version) > 0
}

func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y string
		if i < len(as) {
			x = as[i]
		}
		if i < len(bs) {
			y = bs[i]
		}
		xn, xerr := strconv.Atoi(x)
		yn, yerr := strconv.Atoi(y)
		switch {
		case xerr == nil && yerr == nil && xn != yn:
			if xn > yn {
				return 1
			}
			return -1
		case (xerr != nil || yerr != nil) && x != y:
			return strings.Compare(x, y)
		}
	}
	return 0
}
