// Package inprocess serves an http.Handler a request without a socket: the
// server's replay of asynchronous jobs, and the madx commands that embed
// the server (load, validate), so that they get exactly what an HTTP
// client gets.
package inprocess

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
)

// Response is what the handler answered.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Serve runs h on r and collects its answer.
func Serve(h http.Handler, r *http.Request) *Response {
	w := &writer{header: http.Header{}}
	h.ServeHTTP(w, r)
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return &Response{Status: w.status, Header: w.header, Body: w.body.Bytes()}
}

// Client is an *http.Client whose requests h serves.
func Client(h http.Handler) *http.Client {
	return &http.Client{Transport: roundTripper{h}}
}

type roundTripper struct{ h http.Handler }

func (t roundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	res := Serve(t.h, r)
	return &http.Response{
		Status:        strconv.Itoa(res.Status) + " " + http.StatusText(res.Status),
		StatusCode:    res.Status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        res.Header,
		Body:          io.NopCloser(bytes.NewReader(res.Body)),
		ContentLength: int64(len(res.Body)),
		Request:       r,
	}, nil
}

// writer is the smallest http.ResponseWriter: the first status wins, as
// net/http's does.
type writer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *writer) Header() http.Header { return w.header }

func (w *writer) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *writer) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}
