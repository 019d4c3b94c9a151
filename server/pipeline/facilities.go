package pipeline

import (
	"context"
	"strings"

	locpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/location_go_proto"
	"github.com/madx-project/madx/measures"
)

// Facilities is the registry of reporting Locations as the pipeline sees
// it in one snapshot: the same hierarchy rights are checked against
// (Location.partOf, Location.managingOrganization, Organization.partOf),
// for the operations that count and sum reports over a district
// ($completeness, $aggregate). It is read-only and never changes: a new
// registry is a new Facilities.
type Facilities struct {
	sn *snapshot
}

// Facilities returns the registry of the snapshot ctx's request works
// with (see oneSnapshot).
func (p *Pipeline) Facilities(ctx context.Context) (*Facilities, error) {
	sn, err := p.snapshotOf(ctx)
	if err != nil {
		return nil, err
	}
	return &Facilities{sn: sn}, nil
}

// Under lists, sorted, the Locations ("Location/<id>") at or below ref:
// for "Location/x", x and the Locations partOf it at any depth; for
// "Organization/o", the Locations o or an Organization partOf o manages,
// and those below them. An identifier ("system|value") names what it
// identifies. The answer is cached with the registry.
func (f *Facilities) Under(ref string) []string {
	return f.sn.graph.coveredLocations([]string{ref})
}

// Parent is the Location a Location ("Location/<id>" or its id) is partOf,
// as "Location/<id>", or "" for a root.
func (f *Facilities) Parent(loc string) string {
	if p := f.sn.graph.locParent[strings.TrimPrefix(loc, "Location/")]; p != "" {
		return "Location/" + p
	}
	return ""
}

// Location returns a stored Location by reference or id, nil when the
// registry has none.
func (f *Facilities) Location(loc string) *locpb.Location {
	id := strings.TrimPrefix(loc, "Location/")
	for _, l := range f.sn.locs {
		if l.GetId().GetValue() == id {
			return l
		}
	}
	return nil
}

// Registry is the compiled Measures and terminology of the same snapshot.
func (f *Facilities) Registry() *measures.Registry { return f.sn.registry }
