package pipeline

import (
	"context"
	"fmt"

	locpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/location_go_proto"
	mpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/measure_go_proto"
	"github.com/madx-project/madx/measures"
	"github.com/madx-project/madx/store"
)

// Catalog is the stored definitions as a way in that does not speak FHIR
// (ADX) sees them, to map its own identifiers onto Measures and Locations.
// It is one request's view, taken from the same snapshot the pipeline then
// checks the mapped reports against, so the mapping and the validation
// agree. The slices are shared: callers must not modify them or the
// resources they hold.
type Catalog struct {
	sn       *snapshot
	measures []*mpb.Measure
}

// Catalog returns the definitions snapshot of ctx (see WithSnapshot, or a
// fresh one) with every stored Measure. Errors are the store's.
func (p *Pipeline) Catalog(ctx context.Context) (*Catalog, error) {
	sn, err := p.snapshotOf(ctx)
	if err != nil {
		return nil, err
	}
	d := sn.d
	d.mu.Lock()
	ms, fresh := d.measures, d.defStamp == sn.defStamp
	d.mu.Unlock()
	if ms == nil || !fresh {
		ms = []*mpb.Measure{}
		err := d.st.List(ctx, "Measure", func(r store.Resource) error {
			m, err := d.decode(r.Body)
			if err != nil {
				return fmt.Errorf("decode stored Measure/%s: %w", r.ID, err)
			}
			if mm, ok := m.(*mpb.Measure); ok {
				ms = append(ms, mm)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		d.mu.Lock()
		if d.defStamp == sn.defStamp {
			d.measures = ms
		}
		d.mu.Unlock()
	}
	return &Catalog{sn: sn, measures: ms}, nil
}

// Measures returns every stored Measure, whatever its status.
func (c *Catalog) Measures() []*mpb.Measure { return c.measures }

// Locations returns every stored Location.
func (c *Catalog) Locations() []*locpb.Location { return c.sn.locs }

// Compiled returns the compiled Measure that canonical ("url" or
// "url|version") resolves to, as a report naming it is checked against; a
// 422 *operationoutcome.Error when none is stored.
func (c *Catalog) Compiled(ctx context.Context, canonical string) (*measures.Definition, error) {
	cm, err := c.sn.measure(ctx, canonical)
	if err != nil {
		return nil, err
	}
	return cm.def, nil
}
