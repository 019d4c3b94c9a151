package store

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"io"
	"sync"
)

// Stored bodies. A report's JSON is about 13 KB and very repetitive (the
// same code systems in every stratum); DEFLATE at its fastest level makes
// it about 1 KB. Small enough to sit in the history row itself, so the
// write transaction copies a twelfth of the bytes (SQLite writes each WAL
// page with its own system calls) and the database is a twelfth the size.
//
// A body is either plain, as the codec wrote it (it starts with '{' or
// '<'), or packed: the byte packedMark followed by a raw DEFLATE stream
// (RFC 1951) of the plain body. Engines store what Render returns and give
// readers the plain body (Unpack); the compression itself happens before
// the write transaction, in parallel, through a Template.

const packedMark = 0x00

// maxUnpacked bounds what Unpack produces: stored bodies are the server's
// own (at most a request body, 32 MiB by default), so anything larger is
// corruption, and DEFLATE can expand a thousandfold.
const maxUnpacked = 1 << 30

// minPacked is the smallest body worth packing: below it the DEFLATE
// framing saves little and costs a decompression on every read.
const minPacked = 1024

// Unpack returns the plain body of a stored body: b itself when it is not
// packed.
func Unpack(b []byte) ([]byte, error) {
	if len(b) == 0 || b[0] != packedMark {
		return b, nil
	}
	r := inflaters.Get().(io.ReadCloser)
	defer inflaters.Put(r)
	if err := r.(flate.Resetter).Reset(bytes.NewReader(b[1:]), nil); err != nil {
		return nil, fmt.Errorf("unpack stored body: %w", err)
	}
	out := bytes.NewBuffer(make([]byte, 0, 16*len(b)))
	if _, err := out.ReadFrom(io.LimitReader(r, maxUnpacked+1)); err != nil {
		return nil, fmt.Errorf("unpack stored body: %w", err)
	}
	if out.Len() > maxUnpacked {
		return nil, fmt.Errorf("unpack stored body: more than %d bytes: not a body madx stored", maxUnpacked)
	}
	return out.Bytes(), nil
}

// A Template is a body packed ahead of time around one hole: the bytes
// only the write transaction knows (meta.versionId to meta.lastUpdated).
// Fill makes the packed body in microseconds, so the engine's single
// writer never compresses.
type Template struct {
	head, tail []byte // DEFLATE of the text before and after the hole
	plain      []byte // the whole body, when too small to pack
	start, end int    // the hole in plain
}

// NewTemplate prepares body, whose bytes [start, end) are the hole.
func NewTemplate(body []byte, start, end int) (*Template, error) {
	if start < 0 || end < start || end > len(body) {
		return nil, fmt.Errorf("store: template hole [%d, %d) outside a body of %d bytes", start, end, len(body))
	}
	if len(body) < minPacked {
		return &Template{plain: body, start: start, end: end}, nil
	}
	// The head ends with a sync flush (byte-aligned, not final), the hole
	// goes into a stored block, and the tail is a fresh stream that only
	// refers to itself and carries the final block: concatenated they are
	// one valid DEFLATE stream. A part shorter than minDeflated is stored
	// as it is: building its Huffman tables would cost more (7 µs for the
	// 200 bytes after a report's meta) than its compression saves.
	var head, tail []byte
	var err error
	if start < minDeflated {
		head = appendStored(nil, body[:start], false)
	} else if head, err = deflate(body[:start], false); err != nil {
		return nil, err
	}
	if len(body)-end < minDeflated {
		tail = appendStored(nil, body[end:], true)
	} else if tail, err = deflate(body[end:], true); err != nil {
		return nil, err
	}
	return &Template{head: head, tail: tail}, nil
}

// minDeflated is the shortest part of a template worth compressing.
const minDeflated = 512

// appendStored appends data as DEFLATE stored blocks (at most 65,535 bytes
// each; one empty block for no data), the last one final if final.
func appendStored(out, data []byte, final bool) []byte {
	for first := true; first || len(data) > 0; first = false {
		n := min(len(data), 65535)
		var header byte // BFINAL in the low bit, BTYPE 00, then padding
		if final && n == len(data) {
			header = 1
		}
		out = append(out, header)
		out = binary.LittleEndian.AppendUint16(out, uint16(n))
		out = binary.LittleEndian.AppendUint16(out, ^uint16(n))
		out = append(out, data[:n]...)
		data = data[n:]
	}
	return out
}

// Fill returns the stored body with hole in place of the template's hole.
func (t *Template) Fill(hole []byte) []byte {
	if t.plain != nil {
		out := make([]byte, 0, len(t.plain)-(t.end-t.start)+len(hole))
		out = append(out, t.plain[:t.start]...)
		out = append(out, hole...)
		return append(out, t.plain[t.end:]...)
	}
	out := make([]byte, 0, 1+len(t.head)+5*(len(hole)/65535+1)+len(hole)+len(t.tail))
	out = append(out, packedMark)
	out = append(out, t.head...)
	out = appendStored(out, hole, false)
	return append(out, t.tail...)
}

func deflate(b []byte, final bool) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(b)/8 + 64)
	w := deflaters.Get().(*flate.Writer)
	defer deflaters.Put(w)
	w.Reset(&buf)
	if _, err := w.Write(b); err != nil {
		return nil, fmt.Errorf("store: pack body: %w", err)
	}
	end := w.Flush
	if final {
		end = w.Close
	}
	if err := end(); err != nil {
		return nil, fmt.Errorf("store: pack body: %w", err)
	}
	return buf.Bytes(), nil
}

// A flate writer holds about 1 MB of tables and a reader a 32 KB window:
// both are reused.
var (
	deflaters = sync.Pool{New: func() any {
		w, _ := flate.NewWriter(nil, flate.BestSpeed) // the level is valid: no error
		return w
	}}
	inflaters = sync.Pool{New: func() any { return flate.NewReader(bytes.NewReader(nil)) }}
)

// Plain unpacks the body of a resource an engine read, for engines whose
// read paths meet in one place.
func Plain(r Resource, err error) (Resource, error) {
	if err != nil || r.Body == nil {
		return r, err
	}
	body, uerr := Unpack(r.Body)
	if uerr != nil {
		return Resource{}, fmt.Errorf("read %s/%s/_history/%d: %w: %w", r.Type, r.ID, r.VersionID, uerr, ErrUnavailable)
	}
	r.Body = body
	return r, nil
}

// PlainAll is Plain for a list of resources.
func PlainAll(rs []Resource, err error) ([]Resource, error) {
	if err != nil {
		return rs, err
	}
	for i := range rs {
		if rs[i], err = Plain(rs[i], nil); err != nil {
			return nil, err
		}
	}
	return rs, nil
}
