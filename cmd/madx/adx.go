package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	"github.com/madx-project/madx/adx"
	"github.com/madx-project/madx/conformance"
	"github.com/madx-project/madx/conformance/fhirjson"
	"github.com/madx-project/madx/conformance/fhirxml"
)

const adxUsage = `Usage:
  madx adx to-fhir --definitions DIR [-o FILE] [--query PARAMS] FILE
      ADX -> a collection Bundle of MeasureReports, as POST /api/dataValueSets
      would store them (atomicMode=ALL); conflicts on stderr, exit 1
  madx adx from-fhir --definitions DIR [-o FILE] FILE
      a MeasureReport or a Bundle of them (JSON, or XML for one) -> ADX, as
      GET /api/dataValueSets would export them; the server's refusals on
      stderr, exit 1
`

// adxCmd is `madx adx to-fhir|from-fhir`: the conversions of docs/adx.md
// run by the server itself, embedded in process over the definitions of
// --definitions in a temporary store (as madx validate --definitions), so a
// sender can migrate and check its feed with no server and get exactly the
// server's mapping and errors.
func adxCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "to-fhir" && args[0] != "from-fhir") {
		fmt.Fprint(stderr, adxUsage)
		return fmt.Errorf("%w: madx adx needs to-fhir or from-fhir", errUsage)
	}
	var defsDir, outFile, query, logLevel string
	fset := flag.NewFlagSet("madx adx "+args[0], flag.ContinueOnError)
	fset.SetOutput(stderr)
	fset.StringVar(&defsDir, "definitions", "", "file or directory of definitions (Measure, CodeSystem, ValueSet, Location, Organization) to convert with (required)")
	fset.StringVar(&outFile, "o", "", "write the result to this file instead of stdout")
	if args[0] == "to-fhir" {
		fset.StringVar(&query, "query", "", "DHIS2 import parameters, as the server reads them (e.g. idScheme=uid&orgUnitIdScheme=code)")
	}
	fset.StringVar(&logLevel, "log-level", envOr(getenv, "MADX_LOG_LEVEL", "warn"), "log level of the embedded server (MADX_LOG_LEVEL)")
	if err := fset.Parse(args[1:]); err != nil {
		return usageError(err)
	}
	if defsDir == "" || fset.NArg() != 1 {
		fmt.Fprint(stderr, adxUsage)
		return fmt.Errorf("%w: madx adx %s needs --definitions DIR and one FILE", errUsage, args[0])
	}
	in, err := os.ReadFile(fset.Arg(0))
	if err != nil {
		return err
	}
	snd, done, err := offline(ctx, defsDir, logLevel, stderr)
	if err != nil {
		return err
	}
	defer done()
	snd.out = stderr
	c := adxConverter{snd}
	var out []byte
	if args[0] == "to-fhir" {
		out, err = c.toFHIR(ctx, in, query)
	} else {
		out, err = c.fromFHIR(ctx, fset.Arg(0), in)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", fset.Arg(0), err)
	}
	if outFile != "" {
		return os.WriteFile(outFile, out, 0o644)
	}
	_, err = stdout.Write(out)
	return err
}

// adxConverter talks to the embedded server; its out is where refusals go.
type adxConverter struct{ sender }

// errRefused is a conversion the server refused; what it said is on out.
var errRefused = errors.New("not converted")

// toFHIR imports the message into the temporary store, all groups or none,
// and reads back the reports it stored, without their server ids and meta.
func (c adxConverter) toFHIR(ctx context.Context, msg []byte, query string) ([]byte, error) {
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, fmt.Errorf("%w: --query: %v", errUsage, err)
	}
	q.Set("atomicMode", "ALL")
	api := strings.TrimSuffix(c.base, "/fhir") + "/api/dataValueSets?" + q.Encode()
	status, body, err := c.do(ctx, http.MethodPost, api, "application/adx+xml", "application/json", msg)
	if err != nil {
		return nil, err
	}
	var wm struct {
		Message  string `json:"message"`
		Response struct {
			Conflicts []adx.Conflict `json:"conflicts"`
		} `json:"response"`
	}
	if err := json.Unmarshal(body, &wm); err != nil {
		return nil, fmt.Errorf("the import answered %d with no WebMessage: %s", status, body)
	}
	if status != http.StatusOK || len(wm.Response.Conflicts) > 0 {
		for _, cf := range wm.Response.Conflicts {
			fmt.Fprintf(c.out, "%s: %s\n", cf.Object, cf.Value)
		}
		return nil, fmt.Errorf("%w (HTTP %d): %s", errRefused, status, wm.Message)
	}
	out := &bcrpb.Bundle{Type: &bcrpb.Bundle_TypeCode{Value: cpb.BundleTypeCode_COLLECTION}}
	for next := c.base + "/MeasureReport?_count=1000&_sort=period"; next != ""; {
		status, body, err := c.do(ctx, http.MethodGet, next, "", conformance.MediaFHIRJSON, nil)
		if err != nil {
			return nil, err
		}
		res, err := fhirjson.Unmarshal(body)
		page, ok := res.(*bcrpb.Bundle)
		if err != nil || !ok || status != http.StatusOK {
			return nil, fmt.Errorf("reading the reports back answered %d: %s", status, body)
		}
		next = ""
		for _, l := range page.GetLink() {
			if l.GetRelation().GetValue() == "next" {
				next = l.GetUrl().GetValue()
			}
		}
		for _, e := range page.GetEntry() {
			rep := e.GetResource().GetMeasureReport()
			if rep == nil {
				continue
			}
			// The temporary store's id and version mean nothing to the
			// server the Bundle goes to: there, its entries are creates.
			rep.Id, rep.Meta = nil, nil
			out.Entry = append(out.Entry, &bcrpb.Bundle_Entry{Resource: &bcrpb.ContainedResource{
				OneofResource: &bcrpb.ContainedResource_MeasureReport{MeasureReport: rep}}})
		}
	}
	b, err := fhirjson.MarshalIndent(out)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// fromFHIR stores the reports in the temporary store as one collection
// Bundle (the server's checks for each, and for two entries of one report),
// then reads each back as ADX and joins the groups, in the file's order.
func (c adxConverter) fromFHIR(ctx context.Context, file string, data []byte) ([]byte, error) {
	var resources []rawResource
	if bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n\xef\xbb\xbf"), []byte("<")) {
		res, err := fhirxml.Unmarshal(data)
		if err != nil {
			return nil, err
		}
		b, err := fhirjson.Marshal(res)
		if err != nil {
			return nil, err
		}
		resources = []rawResource{{where: file, typ: xmlRoot(data), body: b}}
	} else {
		var err error
		if resources, err = jsonResources(file, data); err != nil {
			return nil, err
		}
	}
	var bundle bytes.Buffer
	bundle.WriteString(`{"resourceType":"Bundle","type":"collection","entry":[`)
	for k, r := range resources {
		if r.typ != "MeasureReport" {
			return nil, fmt.Errorf("%s is a %s; from-fhir converts MeasureReports", r.where, r.typ)
		}
		if k > 0 {
			bundle.WriteByte(',')
		}
		bundle.WriteString(`{"resource":`)
		bundle.Write(r.body)
		bundle.WriteByte('}')
	}
	bundle.WriteString(`]}`)
	if len(resources) == 0 {
		return nil, fmt.Errorf("the file holds no MeasureReport")
	}
	status, body, err := c.do(ctx, http.MethodPost, c.base, conformance.MediaFHIRJSON, conformance.MediaFHIRJSON, bundle.Bytes())
	if err != nil {
		return nil, err
	}
	if status >= 300 {
		c.printOutcome(resources, body)
		return nil, fmt.Errorf("%w (HTTP %d)", errRefused, status)
	}
	var written struct {
		Entry []struct{ Response struct{ Location string } }
	}
	if err := json.Unmarshal(body, &written); err != nil || len(written.Entry) != len(resources) {
		return nil, fmt.Errorf("the collection answered %d with %d entries: %s", status, len(written.Entry), body)
	}
	msg := &adx.Message{Exported: time.Now().UTC().Format(time.RFC3339)}
	for _, e := range written.Entry {
		ref, _, _ := strings.Cut(e.Response.Location, "/_history")
		if !strings.Contains(ref, "://") {
			ref = c.base + "/" + ref
		}
		status, body, err := c.do(ctx, http.MethodGet, ref, "", conformance.MediaADX, nil)
		if err != nil {
			return nil, err
		}
		if status != http.StatusOK {
			c.printOutcome(nil, body)
			return nil, fmt.Errorf("%w: %s as ADX answered %d", errRefused, ref, status)
		}
		m, err := adx.Parse(body, adx.Limits{})
		if err != nil {
			return nil, fmt.Errorf("%s as ADX: %w", ref, err)
		}
		msg.Groups = append(msg.Groups, m.Groups...)
	}
	b, err := adx.Marshal(msg)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// printOutcome writes an OperationOutcome's issues one a line, each at the
// file and entry it is about (Bundle.entry[i] of the collection is the
// file's i-th resource).
func (c adxConverter) printOutcome(resources []rawResource, body []byte) {
	var oo struct {
		Issue []struct {
			Severity, Diagnostics string
			Expression            []string
		}
	}
	if json.Unmarshal(body, &oo) != nil || len(oo.Issue) == 0 {
		fmt.Fprintf(c.out, "%s\n", body)
		return
	}
	for _, is := range oo.Issue {
		where := strings.Join(is.Expression, ", ")
		for k, r := range resources {
			if p := fmt.Sprintf("Bundle.entry[%d].resource", k); strings.HasPrefix(where, p) {
				where = r.where + ": MeasureReport" + strings.TrimPrefix(where, p)
				break
			}
		}
		fmt.Fprintf(c.out, "%s: %s: %s\n", where, is.Severity, is.Diagnostics)
	}
}

// do sends one request to the embedded server and reads its answer.
func (c adxConverter) do(ctx context.Context, method, url, contentType, accept string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", accept)
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}
