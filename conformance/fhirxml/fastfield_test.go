package fhirxml

import (
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// TestGoFields checks, for every element of every R4 resource and the
// types they reach, that a child made through the Go struct offset is
// the one protoreflect sees in that field.
func TestGoFields(t *testing.T) {
	seen := map[*schema]bool{}
	var walk func(s *schema)
	fast := 0
	walk = func(s *schema) {
		if s == nil || seen[s] {
			return
		}
		seen[s] = true
		for name, el := range s.elements {
			walk(el.sch)
			if el.gf == nil {
				continue
			}
			fast++
			m := newMessage(t, s.desc)
			var child protoreflect.Message
			if el.gf.list {
				var ok bool
				if _, _, ok = el.gf.appendNew(m); !ok {
					t.Fatalf("%s.%s: parent type refused", s.desc.FullName(), name)
				}
				c, i, _ := el.gf.appendNew(m)
				child = c
				list := m.Get(el.field).List()
				if i != 1 || list.Len() != 2 || list.Get(1).Message().Interface() != child.Interface() {
					t.Errorf("%s.%s: appended child not in the list", s.desc.FullName(), name)
				}
			} else {
				c, ok := el.gf.mutable(m)
				if !ok {
					t.Fatalf("%s.%s: parent type refused", s.desc.FullName(), name)
				}
				again, _ := el.gf.mutable(m)
				if !m.Has(el.field) || m.Get(el.field).Message().Interface() != c.Interface() || again.Interface() != c.Interface() {
					t.Errorf("%s.%s: child not in the field", s.desc.FullName(), name)
				}
				child = c
			}
			if child.Descriptor() != el.field.Message() {
				t.Errorf("%s.%s: child is a %s", s.desc.FullName(), name, child.Descriptor().FullName())
			}
		}
	}
	for _, f := range resourceFields() {
		walk(schemaOf(f.Message()))
	}
	if fast < 1000 {
		t.Errorf("only %d elements have a Go field", fast)
	}
}

func newMessage(t *testing.T, d protoreflect.MessageDescriptor) protoreflect.Message {
	t.Helper()
	mt, err := protoregistry.GlobalTypes.FindMessageByName(d.FullName())
	if err != nil {
		t.Fatalf("no Go type for %s: %v", d.FullName(), err)
	}
	return mt.New()
}
