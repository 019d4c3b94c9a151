package pipeline

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
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

// rendered is a resource encoded ahead of its write.
type rendered struct {
	// render is the store's Render: it splices the assigned version and
	// time into the packed body.
	render func(int64, time.Time) ([]byte, error)
	// plain is the plain body of version v, as the store unpacks it,
	// without inflating what was just deflated: the answer to the write.
	plain func(int64, time.Time) []byte
	// sum is, when asked for, the SHA-256 of the body outside the meta
	// render splices (the content apart from version and time).
	sum string
}

// preRender encodes res once with the sentinel meta. The body is packed
// here too, around the sentinels (store.Template), so the store's single
// writer neither encodes nor compresses.
func (p *Pipeline) preRender(res proto.Message, hash bool) (rendered, error) {
	setVersion(res, 0, p.sent.lastUpdated)
	metaOf(res).VersionId.Value = p.sent.versionID
	body, err := p.opts.Encode(res)
	if err != nil {
		return rendered{}, fmt.Errorf("encode %s/%s: %w", ResourceType(res), ResourceID(res), err)
	}
	vid := []byte(p.sent.versionID)
	i, j := onlyIndex(body, vid), onlyIndex(body, p.sent.stamp)
	if i < 0 || j < 0 {
		return rendered{}, fmt.Errorf("encode %s/%s: the meta sentinels do not appear exactly once", ResourceType(res), ResourceID(res))
	}
	// The hole runs from the first sentinel to the end of the second.
	start, end := min(i, j), max(i+len(vid), j+len(p.sent.stamp))
	hole := body[start:end]
	var out rendered
	if hash {
		h := sha256.New()
		h.Write(body[:start])
		h.Write(body[end:])
		out.sum = "r:" + hex.EncodeToString(h.Sum(nil))
	}
	tmpl, err := store.NewTemplate(body, start, end)
	if err != nil {
		return rendered{}, fmt.Errorf("encode %s/%s: %w", ResourceType(res), ResourceID(res), err)
	}
	fill := func(v int64, at time.Time) []byte {
		filled := bytes.Replace(hole, vid, strconv.AppendInt(nil, v, 10), 1)
		return bytes.Replace(filled, p.sent.stamp, []byte(at.UTC().Format(InstantLayout)), 1)
	}
	out.render = func(v int64, at time.Time) ([]byte, error) {
		// The proto is stamped too, for whoever reads it after the write.
		setVersion(res, v, at)
		return tmpl.Fill(fill(v, at)), nil
	}
	out.plain = func(v int64, at time.Time) []byte {
		f := fill(v, at)
		b := make([]byte, 0, len(body)-len(hole)+len(f))
		return append(append(append(b, body[:start]...), f...), body[end:]...)
	}
	return out, nil
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
