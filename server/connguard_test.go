package server_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/madx-project/madx/server"
)

// rawConn is one HTTP/1.1 connection to a test server, written by hand.
type rawConn struct {
	tb testing.TB
	c  net.Conn
	r  *bufio.Reader
}

func dialRaw(tb testing.TB, c *client) *rawConn {
	tb.Helper()
	conn, err := net.Dial("tcp", c.srv.Listener.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	return &rawConn{tb: tb, c: conn, r: bufio.NewReader(conn)}
}

func (rc *rawConn) send(s string) {
	rc.tb.Helper()
	if _, err := io.WriteString(rc.c, s); err != nil {
		rc.tb.Fatal(err)
	}
}

// answer reads one response within d and its whole body.
func (rc *rawConn) answer(d time.Duration) (*http.Response, string) {
	rc.tb.Helper()
	_ = rc.c.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(rc.r, nil)
	if err != nil {
		rc.tb.Fatalf("no answer within %v: %v", d, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// closed tells whether the server closes the connection within d.
func (rc *rawConn) closed(d time.Duration) bool {
	_ = rc.c.SetReadDeadline(time.Now().Add(d))
	_, err := rc.r.ReadByte()
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

func newGuardedClient(t *testing.T) *client {
	return newClient(t, openSQLite(t), func(o *server.Options) {
		o.MaxBody = 1 << 20
		o.MaxHeaderBytes = 8 << 10
		o.BodyRate = server.BodyRate{Min: 1000, Window: 300 * time.Millisecond}
	})
}

const putHead = "PUT /fhir/MeasureReport/r1 HTTP/1.1\r\nHost: madx\r\nContent-Type: application/fhir+json\r\n"

// TestSlowBodyIs408: a body that stalls ends in a 408 OperationOutcome and
// a closed connection after one window, not after minutes.
func TestSlowBodyIs408(t *testing.T) {
	rc := dialRaw(t, newGuardedClient(t))
	rc.send(putHead + "Content-Length: 5000\r\n\r\n{")
	start := time.Now()
	resp, body := rc.answer(5 * time.Second)
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(body, `"timeout"`) || !resp.Close {
		t.Errorf("got %d (close %v): %s; want a 408 OperationOutcome with Connection: close", resp.StatusCode, resp.Close, body)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("408 after %v; want about the 300 ms window", d)
	}
	if !rc.closed(2 * time.Second) {
		t.Error("the connection stays open after the 408")
	}
}

// TestReadBodyKeepsTheConnection: an answer given after the whole body was
// read keeps the connection for the next request (the close is for answers
// given before the body was read).
func TestReadBodyKeepsTheConnection(t *testing.T) {
	rc := dialRaw(t, newGuardedClient(t))
	body := `{"resourceType":"MeasureReport"}`
	rc.send(fmt.Sprintf("%sContent-Length: %d\r\n\r\n%s", putHead, len(body), body))
	resp, b := rc.answer(5 * time.Second)
	if resp.StatusCode < 400 || resp.Close {
		t.Fatalf("got %d (close %v): %s; want a refusal that keeps the connection", resp.StatusCode, resp.Close, b)
	}
	rc.send("GET /fhir/metadata HTTP/1.1\r\nHost: madx\r\n\r\n")
	if resp, b := rc.answer(5 * time.Second); resp.StatusCode != http.StatusOK {
		t.Errorf("second request on the connection: %d %s", resp.StatusCode, b)
	}
}

// TestHugeContentLengthBefore100Continue: a declared body above MaxBody is
// a 413 before anything is read, so 100 Continue is never sent.
func TestHugeContentLengthBefore100Continue(t *testing.T) {
	rc := dialRaw(t, newGuardedClient(t))
	rc.send(putHead + "Content-Length: 10000000000\r\nExpect: 100-continue\r\n\r\n")
	resp, body := rc.answer(5 * time.Second)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, `"too-long"`) || !resp.Close {
		t.Errorf("got %d (close %v): %s; want a 413 OperationOutcome with Connection: close, before 100 Continue", resp.StatusCode, resp.Close, body)
	}
	if !rc.closed(2 * time.Second) {
		t.Error("the connection stays open after the 413")
	}
}

// TestLargeHeadersAre431OperationOutcome: headers above MaxHeaderBytes get
// madx's 431, in FHIR.
func TestLargeHeadersAre431OperationOutcome(t *testing.T) {
	rc := dialRaw(t, newGuardedClient(t))
	rc.send("GET /fhir/metadata HTTP/1.1\r\nHost: madx\r\nX-Big: " + strings.Repeat("a", 9<<10) + "\r\n\r\n")
	resp, body := rc.answer(5 * time.Second)
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || !strings.Contains(body, `"OperationOutcome"`) {
		t.Errorf("got %d %s: %.200s; want a 431 OperationOutcome", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}
