package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"regexp"
	"strconv"
	"time"
)

// reportGen makes valid mADX reports from the fixture report cheaply (the
// load generator shares the CPU with the server when both run locally, so
// it fills a pre-split template instead of encoding JSON per report).
type reportGen struct {
	parts      []string // literal text between holes
	holes      []string // hole names, len(parts)-1
	strata     [][]int  // per stratifier, the indexes of its measureScore holes
	nstrata    int      // measureScore holes in all
	size       int      // bytes of the template without its holes
	facilities int
	base       time.Time // the first reporting month; report k goes back k/facilities months
}

// benchReport is one generated report and what verification compares.
type benchReport struct {
	id    string
	body  []byte
	count int
}

var holeRE = regexp.MustCompile(`"__([A-Z]+[0-9]*)__"`)

// newReportGen builds the generator from the first MeasureReport under
// reports/ in fsys; every stratum's measureScore and the population count
// become holes.
func newReportGen(fsys fs.FS, facilities int) (*reportGen, error) {
	files, _ := fs.Glob(fsys, "reports/*.json")
	if len(files) == 0 {
		return nil, fmt.Errorf("bench: no reports/*.json fixture")
	}
	b, err := fs.ReadFile(fsys, files[0])
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	delete(doc, "meta")
	doc["id"] = "__ID__"
	doc["subject"] = map[string]any{"reference": "__SUBJECT__"}
	doc["reporter"] = map[string]any{"reference": "__SUBJECT__"}
	doc["period"] = map[string]any{"start": "__START__", "end": "__END__"}
	g := &reportGen{facilities: facilities, base: time.Date(2024, 12, 1, 0, 0, 0, 0, time.UTC)}
	groups, _ := doc["group"].([]any)
	if len(groups) == 0 {
		return nil, fmt.Errorf("bench: the fixture report has no group")
	}
	group := groups[0].(map[string]any)
	pops, _ := group["population"].([]any)
	if len(pops) == 0 {
		return nil, fmt.Errorf("bench: the fixture report has no population")
	}
	pops[0].(map[string]any)["count"] = "__COUNT__"
	n := 0
	strs, _ := group["stratifier"].([]any)
	for _, s := range strs {
		var holes []int
		strata, _ := s.(map[string]any)["stratum"].([]any)
		for _, st := range strata {
			st.(map[string]any)["measureScore"] = map[string]any{"value": fmt.Sprintf("__S%d__", n)}
			holes = append(holes, n)
			n++
		}
		g.strata = append(g.strata, holes)
	}
	tmpl, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	locs := holeRE.FindAllSubmatchIndex(tmpl, -1)
	prev := 0
	for _, l := range locs {
		g.parts = append(g.parts, string(tmpl[prev:l[0]]))
		g.holes = append(g.holes, string(tmpl[l[2]:l[3]]))
		prev = l[1]
	}
	g.parts = append(g.parts, string(tmpl[prev:]))
	g.nstrata = n
	for _, p := range g.parts {
		g.size += len(p)
	}
	return g, nil
}

// facilityID is the id of generated Location number i.
func facilityID(i int) string { return fmt.Sprintf("bench-fac-%05d", i) }

// reportID is the id of report k: one per (facility, month), so the
// business key (measure, subject, period) never collides with another id.
func (g *reportGen) reportID(k int) string {
	return fmt.Sprintf("%s-m%04d", facilityID(k%g.facilities), k/g.facilities)
}

// make builds report k with random counts drawn from rng (appendReport).
func (g *reportGen) make(k int, rng *rand.Rand) benchReport {
	body, r := g.appendReport(make([]byte, 0, g.size+256), k, rng)
	r.body = body
	return r
}

// appendReport appends report k to dst: the first stratifier's strata are
// drawn (0..60 each, a facility's month), the population count is their
// sum, and every other stratifier splits that count across its strata, so
// the report is consistent as well as valid. It allocates only the id.
func (g *reportGen) appendReport(dst []byte, k int, rng *rand.Rand) ([]byte, benchReport) {
	month := g.base.AddDate(0, -(k / g.facilities), 0)
	scores := make([]int, g.nstrata)
	count := 0
	for i, holes := range g.strata {
		if i == 0 {
			for _, h := range holes {
				v := rng.IntN(61)
				scores[h] = v
				count += v
			}
			continue
		}
		left := count
		for j, h := range holes {
			v := left
			if j < len(holes)-1 && left > 0 {
				v = rng.IntN(left + 1)
			}
			scores[h] = v
			left -= v
		}
	}
	if len(g.strata) == 0 {
		count = rng.IntN(1000)
	}
	id := g.reportID(k)
	for i, p := range g.parts {
		dst = append(dst, p...)
		if i == len(g.holes) {
			break
		}
		switch h := g.holes[i]; h {
		case "ID":
			dst = strconv.AppendQuote(dst, id)
		case "SUBJECT":
			dst = strconv.AppendQuote(dst, "Location/"+facilityID(k%g.facilities))
		case "START":
			dst = append(month.AppendFormat(append(dst, '"'), "2006-01-02"), '"')
		case "END":
			dst = append(month.AddDate(0, 1, -1).AppendFormat(append(dst, '"'), "2006-01-02"), '"')
		case "COUNT":
			dst = strconv.AppendInt(dst, int64(count), 10)
		default: // S<n>: a stratum's measureScore
			n, _ := strconv.Atoi(h[1:])
			dst = strconv.AppendInt(dst, int64(scores[n]), 10)
		}
	}
	return dst, benchReport{id: id, count: count}
}

// locationJSON is generated facility i, identified like the fixtures'
// HealthPosts (facility-code identifier).
func locationJSON(i int) []byte {
	return []byte(fmt.Sprintf(`{"resourceType":"Location","id":%q,"identifier":[{"system":"http://example.org/fhir/sid/facility-code","value":"BF-%05d"}],"status":"active","name":"Bench facility %d","mode":"instance"}`,
		facilityID(i), i, i))
}
