package pipeline

import (
	"bytes"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/madx-project/madx/store"
)

// The store assigns meta.versionId and meta.lastUpdated inside its write
// transaction, but encoding a report there would serialise the most
// expensive step behind the single writer. So a resource is encoded ahead,
// in parallel, with two sentinel values that cannot occur in a client's
// data (random per process), and Render only splices the real values in.
type sentinels struct {
	versionID   string // a valid FHIR id
	lastUpdated time.Time
	stamp       []byte // lastUpdated as the codec writes it
}

func newSentinels(newID func() string) sentinels {
	// An instant in the year 1000 with random microseconds: well-formed for
	// the codec, and never a real lastUpdated.
	id := newID()
	us, _ := strconv.ParseUint(id[:10], 16, 64)
	at := time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(us%(365*24*3600*1e6)) * time.Microsecond)
	return sentinels{versionID: "madx-vid-" + id, lastUpdated: at, stamp: []byte(at.Format(InstantLayout))}
}

// preRender encodes res with the sentinel meta and returns the store's
// Render, which splices the assigned version and time in. The body is
// packed here too, around the sentinels (store.Template), so the store's
// single writer neither encodes nor compresses.
func (p *Pipeline) preRender(res proto.Message) (render func(int64, time.Time) ([]byte, error), plain func(int64, time.Time) []byte, err error) {
	setVersion(res, 0, p.sent.lastUpdated)
	metaOf(res).VersionId.Value = p.sent.versionID
	body, err := p.opts.Encode(res)
	if err != nil {
		return nil, nil, fmt.Errorf("encode %s/%s: %w", ResourceType(res), ResourceID(res), err)
	}
	vid := []byte(p.sent.versionID)
	i, j := onlyIndex(body, vid), onlyIndex(body, p.sent.stamp)
	if i < 0 || j < 0 {
		return nil, nil, fmt.Errorf("encode %s/%s: the meta sentinels do not appear exactly once", ResourceType(res), ResourceID(res))
	}
	// The hole runs from the first sentinel to the end of the second.
	start, end := min(i, j), max(i+len(vid), j+len(p.sent.stamp))
	hole := body[start:end]
	tmpl, err := store.NewTemplate(body, start, end)
	if err != nil {
		return nil, nil, fmt.Errorf("encode %s/%s: %w", ResourceType(res), ResourceID(res), err)
	}
	fill := func(v int64, at time.Time) []byte {
		filled := bytes.Replace(hole, vid, strconv.AppendInt(nil, v, 10), 1)
		return bytes.Replace(filled, p.sent.stamp, []byte(at.UTC().Format(InstantLayout)), 1)
	}
	render = func(v int64, at time.Time) ([]byte, error) {
		// The proto is stamped too, for whoever reads it after the write.
		setVersion(res, v, at)
		return tmpl.Fill(fill(v, at)), nil
	}
	// The plain body of version v, as the store unpacks it, without
	// inflating what was just deflated: the answer to the write.
	plain = func(v int64, at time.Time) []byte {
		f := fill(v, at)
		out := make([]byte, 0, len(body)-len(hole)+len(f))
		return append(append(append(out, body[:start]...), f...), body[end:]...)
	}
	return render, plain, nil
}

// InstantLayout is how FHIR instants are written: microseconds, as the
// store keeps them.
const InstantLayout = "2006-01-02T15:04:05.000000Z07:00"

// onlyIndex is the index of the one occurrence of sep in b, or -1 when
// there is none or more than one: b is read once.
func onlyIndex(b, sep []byte) int {
	i := bytes.Index(b, sep)
	if i < 0 || bytes.Contains(b[i+len(sep):], sep) {
		return -1
	}
	return i
}
