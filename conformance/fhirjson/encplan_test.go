package fhirjson

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
)

// TestEveryR4TypeHasAPlan checks that every registered R4 message type
// can be encoded through Go struct pointers: Marshal fails on a type the
// plan cannot walk rather than writing something else.
func TestEveryR4TypeHasAPlan(t *testing.T) {
	n := 0
	protoregistry.GlobalTypes.RangeMessages(func(mt protoreflect.MessageType) bool {
		d := mt.Descriptor()
		if !strings.HasPrefix(string(d.FullName()), "google.fhir.r4.core.") {
			return true
		}
		n++
		mi := infoFor(d)
		if err := mi.plan().err; err != nil {
			t.Errorf("%s: %v", d.FullName(), err)
		}
		for i := 0; i < d.Oneofs().Len(); i++ {
			if od := d.Oneofs().Get(i); mi.plan().oneofs[od.FullName()] == nil {
				t.Errorf("%s: oneof %s read through protoreflect", d.FullName(), od.Name())
			}
		}
		for _, fi := range mi.fields {
			if fi.fd.Message() != nil && !fi.fast.ok && fi.fd.ContainingOneof() == nil {
				t.Errorf("%s.%s: read through protoreflect", d.FullName(), fi.fd.Name())
			}
		}
		return true
	})
	if n < 100 {
		t.Fatalf("only %d R4 message types registered", n)
	}
}

// TestMarshalDynamicMessage checks that a message that is not the
// generated Go type (here a dynamicpb copy) encodes like the original.
func TestMarshalDynamicMessage(t *testing.T) {
	res, err := Unmarshal(readFile(t, benchFiles[0].path))
	if err != nil {
		t.Fatal(err)
	}
	dyn := dynamicpb.NewMessage(res.ProtoReflect().Descriptor())
	proto.Merge(dyn, res)
	want, err := Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Marshal(dyn)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("dynamic message encodes differently (-generated +dynamic):\n%s", diff)
	}
}
