package main

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// A site map CSV is how a jurisdiction uploads in bulk the map of a
// sender's facility codes to its Locations (docs/adx.md, Site codes). One
// row per code, with a header naming the columns:
//
//	system,code,location
//	http://emr.example.org/fhir/sid/facility,EMR-559,OU-559
//
// system is the sender's identifier system and code its facility code;
// location is the Location id, or, instead, target_system and target_code
// name the Location by an identifier of the jurisdiction. madx load turns
// the file into one ConceptMap whose id is the file's name without .csv,
// so loading it again is idempotent and a changed file replaces the map.

// siteMapItems reads a site map CSV as the one ConceptMap to load.
func siteMapItems(file string) ([]item, error) {
	it, err := siteMapItem(file)
	if err != nil {
		return nil, err
	}
	return []item{it}, nil
}

func siteMapItem(file string) (item, error) {
	id := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	if !fhirID.MatchString(id) {
		return item{}, fmt.Errorf("the file name %q is not a FHIR id (letters, digits, - and ., at most 64): the ConceptMap is named after it", id)
	}
	f, err := os.Open(file)
	if err != nil {
		return item{}, err
	}
	defer f.Close()
	groups, err := readSiteRows(f)
	if err != nil {
		return item{}, err
	}
	type target struct {
		Code        string `json:"code"`
		Equivalence string `json:"equivalence"`
	}
	type element struct {
		Code   string   `json:"code"`
		Target []target `json:"target"`
	}
	type group struct {
		Source  string    `json:"source"`
		Target  string    `json:"target,omitempty"`
		Element []element `json:"element"`
	}
	cm := struct {
		ResourceType string  `json:"resourceType"`
		ID           string  `json:"id"`
		Name         string  `json:"name"`
		Status       string  `json:"status"`
		Description  string  `json:"description"`
		Group        []group `json:"group"`
	}{ResourceType: "ConceptMap", ID: id, Name: "SiteMap_" + strings.NewReplacer("-", "_", ".", "_").Replace(id), Status: "active",
		Description: "Site map loaded by madx load from " + filepath.Base(file) + ": a sender's facility codes to the jurisdiction's Locations."}
	for _, g := range groups {
		out := group{Source: g.source, Target: g.target}
		for _, r := range g.rows {
			out.Element = append(out.Element, element{Code: r[0], Target: []target{{Code: r[1], Equivalence: "equivalent"}}})
		}
		cm.Group = append(cm.Group, out)
	}
	body, err := json.Marshal(cm)
	if err != nil {
		return item{}, err
	}
	return item{file: file, typ: "ConceptMap", id: id, body: body}, nil
}

var fhirID = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

// siteGroup is the rows of one sender system and one target system ("" for
// Location ids), in file order: each row is {code, target code}.
type siteGroup struct {
	source, target string
	rows           [][2]string
}

// readSiteRows reads the CSV, every problem at once, each with its line.
func readSiteRows(r io.Reader) ([]*siteGroup, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("no header row (system,code,location or system,code,target_system,target_code): %v", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	_, hasLoc := col["location"]
	_, hasTS := col["target_system"]
	_, hasTC := col["target_code"]
	_, hasSys := col["system"]
	_, hasCode := col["code"]
	if !hasSys || !hasCode || (!hasLoc && !(hasTS && hasTC)) {
		return nil, fmt.Errorf("the header is %q; expected the columns system, code, and location (a Location id) or target_system and target_code", strings.Join(header, ","))
	}
	cell := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	var problems []string
	var groups []*siteGroup
	byKey := map[[2]string]*siteGroup{}
	seen := map[[2]string]string{} // system, code -> where it was mapped
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			problems = append(problems, err.Error())
			if _, ok := err.(*csv.ParseError); ok {
				continue
			}
			break
		}
		sys, code := cell(rec, "system"), cell(rec, "code")
		tsys, tcode := cell(rec, "target_system"), cell(rec, "target_code")
		if loc := cell(rec, "location"); loc != "" {
			tsys, tcode = "", strings.TrimPrefix(loc, "Location/")
		}
		switch {
		case sys == "" || code == "":
			problems = append(problems, fmt.Sprintf("line %d: system and code are required", line))
			continue
		case tcode == "":
			problems = append(problems, fmt.Sprintf("line %d: %s|%s maps to nothing: give location, or target_system and target_code", line, sys, code))
			continue
		}
		if at, dup := seen[[2]string{sys, code}]; dup {
			problems = append(problems, fmt.Sprintf("line %d: %s|%s is mapped on %s already; a code maps to one Location", line, sys, code, at))
			continue
		}
		seen[[2]string{sys, code}] = fmt.Sprintf("line %d", line)
		g := byKey[[2]string{sys, tsys}]
		if g == nil {
			g = &siteGroup{source: sys, target: tsys}
			byKey[[2]string{sys, tsys}] = g
			groups = append(groups, g)
		}
		g.rows = append(g.rows, [2]string{code, tcode})
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	if len(groups) == 0 {
		return nil, errors.New("no rows: a site map needs at least one code")
	}
	return groups, nil
}
