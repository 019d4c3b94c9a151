// Package fhirjson reads and writes FHIR R4 JSON as google/fhir's R4
// protos, in one pass over the bytes and without jsonformat's cost.
//
// The protos are exactly those of google/fhir's jsonformat (v0.7.4, its
// validating unmarshaller in UTC and its marshaller), so the server, the
// validation engine and the XML codec keep working on them unchanged: any
// document both accept decodes to an equal proto, and Marshal writes the
// same bytes. Where jsonformat rejects a document, so does Unmarshal, and
// it reports every problem at once, as OperationOutcome issues with
// FHIRPath expressions, where jsonformat stops early or reports Go paths.
//
// Unmarshal is deliberately stricter than jsonformat where jsonformat
// accepts what FHIR JSON (R4 §2.6.2) forbids:
//
//   - duplicate members, also when they differ only in the case of the
//     first letter ("status" and "Status"), which jsonformat both reads;
//   - invalid UTF-8 and unescaped control characters in strings;
//   - JSON nested deeper than 100 levels;
//   - a value under "_name" or an object under "name" for a primitive
//     (jsonformat reads either spelling as either);
//   - "" for a value-set bound code (jsonformat stores the enum's zero);
//   - "name" and "_name" arrays of different lengths when one is empty
//     (jsonformat accepts or rejects that depending on map order);
//   - Reference members that are google/fhir internals ("fragment",
//     "patientId"...), which jsonformat reads as if they were FHIR.
//
// Like jsonformat it rejects null anywhere, including the null elements
// FHIR uses to align "name" and "_name" arrays; and it skips the
// validation pass (required elements, reference targets, id and code
// formats, string control characters) inside contained resources, which
// jsonformat stores packed in Any and never validates.
//
// Tables derived from the proto descriptors and FHIR annotations are built
// once per message type and cached, so any R4 resource type works.
package fhirjson

import (
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"google.golang.org/protobuf/proto"

	"github.com/madx-project/madx/operationoutcome"

	bpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
)

// Unmarshal decodes one FHIR R4 resource in JSON into its concrete proto
// (e.g. *mrpb.MeasureReport, *bpb.Bundle), equal to what jsonformat's
// validating unmarshaller gives after unwrapping its ContainedResource.
//
// The error, if any, is an *operationoutcome.Error with status 400 and one
// fatal issue per problem: invalid JSON (structure), wrong JSON types and
// unknown or duplicate members (structure), malformed primitives (value),
// codes outside their value set (code-invalid), missing required elements
// (required), unknown resource types and wrong reference targets
// (invalid), and oversized or too deeply nested input (too-long). No
// resource is returned with an error.
//
// The messages of one result are allocated together, in blocks of at most
// 4 KiB per message type, and share no memory with data or with other
// results: a part kept after the rest is dropped keeps its blocks alive.
func Unmarshal(data []byte) (proto.Message, error) {
	return Decoder{Workers: 1}.Unmarshal(data)
}

// Decoder decodes FHIR JSON with options. The zero value decodes Bundle
// entries in parallel on up to GOMAXPROCS goroutines when no other decode
// is running.
type Decoder struct {
	// Workers bounds the goroutines decoding the resources of a top-level
	// Bundle's entries: 0 means GOMAXPROCS while no other Decoder call is
	// in progress and 1 otherwise; 1 decodes in line. It is capped at
	// GOMAXPROCS.
	Workers int
}

// inFlight counts the decodes in progress. Spreading one Bundle over the
// cores shortens it but costs more CPU in all (per report, 375 against
// 360 µs of server CPU in madx bench with 2 to 4 concurrent Bundles): worth
// it while cores would idle, not while other requests keep them busy.
var inFlight atomic.Int32

// Unmarshal is the package Unmarshal, decoding Bundle entries with up to
// d.Workers goroutines. The proto and the issues do not depend on
// Workers; the order of the issues of one entry may.
func (dec Decoder) Unmarshal(data []byte) (proto.Message, error) {
	res, problems := dec.decode(data)
	if len(problems) > 0 {
		return nil, toError(problems)
	}
	return res, nil
}

// UnmarshalBundle decodes a Bundle and keeps problems per entry, so that
// a batch can process its good entries and answer for the bad ones.
//
// entryErrs has one element per entry: nil when the entry decoded cleanly,
// else an *operationoutcome.Error (status 400) whose expressions start
// with Bundle.entry[i]; a failed entry's resource is cleared. err is an
// *operationoutcome.Error for problems outside the entries, for a document
// that is not a Bundle, or for invalid JSON; the Bundle is nil then.
func (dec Decoder) UnmarshalBundle(data []byte) (b *bpb.Bundle, entryErrs []error, err error) {
	res, problems := dec.decode(data)
	b, ok := res.(*bpb.Bundle)
	var outside, inside []problem
	for _, p := range problems {
		if p.entry < 0 || !ok || p.entry >= len(b.GetEntry()) {
			outside = append(outside, p)
		} else {
			inside = append(inside, p)
		}
	}
	if !ok && len(outside) == 0 {
		outside = append(outside, problem{entry: -1, issue: operationoutcome.Issuef(operationoutcome.SeverityFatal,
			operationoutcome.Invalid, "", "expected a Bundle, found %s", resourceName(res))})
	}
	if len(outside) > 0 {
		return nil, nil, toError(append(outside, inside...))
	}
	entryErrs = make([]error, len(b.GetEntry()))
	byEntry := map[int][]problem{}
	for _, p := range inside {
		byEntry[p.entry] = append(byEntry[p.entry], p)
	}
	for i, ps := range byEntry {
		entryErrs[i] = toError(ps)
		b.Entry[i].Resource = nil
	}
	return b, entryErrs, nil
}

func resourceName(m proto.Message) string {
	if m == nil {
		return "no resource"
	}
	return "a " + string(m.ProtoReflect().Descriptor().Name())
}

// workers is the number of goroutines to use for n jobs.
func (dec Decoder) workers(n int) int {
	w := runtime.GOMAXPROCS(0)
	if dec.Workers > 0 && dec.Workers < w {
		w = dec.Workers
	}
	return min(w, n)
}

// decode runs one decode and returns the resource (possibly partial) and
// the problems, with entry problems in entry order after the others.
func (dec Decoder) decode(data []byte) (proto.Message, []problem) {
	alone := inFlight.Add(1) == 1
	defer inFlight.Add(-1)
	d := newDecoder(data)
	var jobs []entryJob
	if dec.Workers > 1 || dec.Workers == 0 && alone && runtime.GOMAXPROCS(0) > 1 {
		d.deferred = &jobs
	}
	cr := d.decodeDocument()
	problems, syntaxOK := d.problems, d.err == nil
	d.release()
	if len(jobs) > 0 && syntaxOK {
		results := runJobs(data, jobs, dec.workers(len(jobs)))
		for _, ps := range results {
			problems = append(problems, ps...)
		}
		slices.SortStableFunc(problems, func(a, b problem) int { return a.entry - b.entry })
	}
	if cr == nil {
		return nil, problems
	}
	return unwrap(cr), problems
}

// runJobs decodes deferred entry resources on w goroutines; each job
// writes only its own entry's ContainedResource, so they share nothing.
func runJobs(data []byte, jobs []entryJob, w int) [][]problem {
	results := make([][]problem, len(jobs))
	run := func(i int) {
		j := jobs[i]
		// The main pass checked the syntax of data[start:end]; bounding the
		// worker to it keeps a bug from reading into the next entry.
		sub := newDecoder(data[:j.end])
		sub.pos, sub.depth, sub.entry = j.start, entryDepth, j.entry
		sub.steps = append(sub.steps, pathStep{stepNameOf("Bundle"), -1}, pathStep{stepNameOf("entry"), j.entry}, pathStep{stepNameOf("resource"), -1})
		sub.decodeResource(j.target, false)
		sub.syntaxProblem()
		results[i] = sub.problems
		sub.release()
	}
	if w <= 1 {
		for i := range jobs {
			run(i)
		}
		return results
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range w {
		wg.Go(func() {
			for i := range next {
				run(i)
			}
		})
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()
	return results
}

// entryDepth is the JSON depth of a top-level Bundle.entry.resource value.
const entryDepth = 3

var bundleEntryFD = (&bpb.Bundle{}).ProtoReflect().Descriptor().Fields().ByName("entry")

// deferEntry reports whether the ContainedResource being read is a
// top-level Bundle.entry.resource to leave for a worker.
func (d *decoder) deferEntry(target unsafe.Pointer) bool {
	if d.deferred == nil || d.entry < 0 || len(d.steps) != 3 {
		return false
	}
	d.skipSpace()
	start := d.pos
	d.skipValue(d.depth)
	*d.deferred = append(*d.deferred, entryJob{start: start, end: d.pos, entry: d.entry, target: target})
	return true
}
