package fhirjson

import (
	"slices"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	dpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	rpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	mrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/measure_report_go_proto"
)

// TestSlabMessagesDistinct checks that slab messages never overlap, start
// zero, and come from slabs of at most slabBytes.
func TestSlabMessagesDistinct(t *testing.T) {
	cm := infoFor((&dpb.Coding{}).ProtoReflect().Descriptor())
	d := newDecoder(nil)
	defer d.release()
	var ps []uintptr
	for range 1000 {
		p := d.newMsg(cm)
		if c := (*dpb.Coding)(p); !proto.Equal(c, &dpb.Coding{}) {
			t.Fatalf("new message is not zero: %v", c)
		}
		(*dpb.Coding)(p).Code = &dpb.Code{Value: "x"}
		ps = append(ps, uintptr(p))
		if s := d.slabs[cm.slab.id]; s.n*int(cm.slab.size) > slabBytes && s.n > 1 {
			t.Fatalf("slab of %d messages, %d bytes: more than slabBytes", s.n, s.n*int(cm.slab.size))
		}
	}
	slices.Sort(ps)
	for i := 1; i < len(ps); i++ {
		if ps[i]-ps[i-1] < unsafe.Sizeof(dpb.Coding{}) {
			t.Fatalf("messages at %#x and %#x overlap", ps[i-1], ps[i])
		}
	}
}

// TestDecodesIndependent checks that a decoded resource shares no memory
// that later decodes write: slabs and string chunks are never reused.
func TestDecodesIndependent(t *testing.T) {
	data := readFile(t, benchFiles[0].path)
	first, err := Unmarshal(data)
	if err != nil {
		t.Fatal(err)
	}
	want := proto.Clone(first)
	for range 3 {
		if _, err := Unmarshal([]byte(baseReport)); err != nil {
			t.Fatal(err)
		}
		if _, err := Unmarshal(data); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(want, first, protocmp.Transform()); diff != "" {
		t.Fatalf("an earlier result changed (-want +got):\n%s", diff)
	}
}

// TestListAppendCopies checks that appending to a decoded list does not
// write over another list cut from the same chunk.
func TestListAppendCopies(t *testing.T) {
	res, err := Unmarshal(readFile(t, benchFiles[0].path))
	if err != nil {
		t.Fatal(err)
	}
	comps := res.(*mrpb.MeasureReport).GetGroup()[0].GetStratifier()[0].GetStratum()[0].GetComponent()
	// The two lists are cut one after the other.
	a, b := comps[0].GetCode().GetCoding(), comps[0].GetValue().GetCoding()
	if len(a) != 1 || len(b) != 1 {
		t.Fatalf("fixture changed: %d and %d codings", len(a), len(b))
	}
	want := b[0]
	comps[0].GetCode().Coding = append(a, &dpb.Coding{})
	if b[0] != want {
		t.Fatal("append to one list changed the next")
	}
}

// TestOneofFastPath checks, for every member of a few oneofs, that setting
// it through its oneofField is what protoreflect sees, and that setting
// another member replaces it.
func TestOneofFastPath(t *testing.T) {
	for _, m := range []proto.Message{&rpb.ContainedResource{}, &dpb.Extension_ValueX{}, &dpb.Reference{}} {
		mi := infoFor(m.ProtoReflect().Descriptor())
		var members []*fieldInfo
		for _, fi := range mi.fields {
			if fi.fd.ContainingOneof() != nil && fi.fd.Message() != nil {
				if !fi.oneof.ok {
					t.Errorf("%s: no fast path", fi.fd.FullName())
				}
				members = append(members, fi)
			}
		}
		d := newDecoder(nil)
		for i, fi := range members {
			pm := m.ProtoReflect().Type().New()
			p := structPointer(pm)
			if has(p, mi, fi) {
				t.Fatalf("%s: set in a new message", fi.fd.FullName())
			}
			if i > 0 {
				d.mutable(p, mi, members[i-1])
			}
			c := d.mutable(p, mi, fi)
			if got := pm.WhichOneof(fi.fd.ContainingOneof()); got != fi.fd {
				t.Fatalf("%s: protoreflect sees %v set", fi.fd.FullName(), got)
			}
			if structPointer(pm.Get(fi.fd).Message()) != c || !has(p, mi, fi) || d.mutable(p, mi, fi) != c {
				t.Fatalf("%s: the member is not the message made", fi.fd.FullName())
			}
		}
		d.release()
	}
}
