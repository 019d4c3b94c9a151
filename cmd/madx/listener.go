package main

import (
	"net"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Defaults of the connection caps (docs/security.md). 4,096 connections
// hold a few hundred MB at most (a goroutine and buffers each); serve lowers
// the cap to fit the file-descriptor limit (fdReserve kept for the store
// and logs). 128 per address is four times the per-client request cap, for
// keep-alive connections and facilities behind one NAT. Behind a reverse
// proxy every connection comes from the proxy: raise
// --max-connections-per-address to --max-connections there.
const (
	defaultMaxConnections        = 4096
	defaultMaxConnectionsPerAddr = 128
	fdReserve                    = 256
)

// fitConnections lowers an overall cap to what the file-descriptor limit
// leaves; it says whether it did.
func fitConnections(max int) (int, bool) {
	fds := fdLimit()
	if fds <= 0 || (max > 0 && max <= fds-fdReserve) {
		return max, false
	}
	fit := fds - fdReserve
	if fit < 1 {
		fit = 1
	}
	return fit, true
}

// capListener refuses connections beyond an overall cap and a cap per
// client address (issue 14, item 4: 2,000 slow connections exhausted the
// file descriptors). A refused connection is reset at once rather than
// left in the accept queue, so the client learns it without waiting; a
// zero or negative cap is no cap.
type capListener struct {
	net.Listener
	max, perAddr int
	log          zerolog.Logger

	mu      sync.Mutex
	total   int
	byAddr  map[string]int
	refused int       // since the last log line
	logged  time.Time // when refusals were last logged
}

func newCapListener(ln net.Listener, max, perAddr int, log zerolog.Logger) *capListener {
	return &capListener{Listener: ln, max: max, perAddr: perAddr, log: log, byAddr: map[string]int{}}
}

// Accept returns the next connection within the caps; it refuses the
// others itself, so the server's accept loop never sees them.
func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		host := addrHost(c.RemoteAddr())
		if why := l.admit(host); why != "" {
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // a reset: no FIN handshake, no TIME_WAIT here
			}
			_ = c.Close()
			l.noteRefusal(host, why)
			continue
		}
		return &capConn{Conn: c, l: l, host: host}, nil
	}
}

// admit counts a connection from host in, or says which cap it is over.
func (l *capListener) admit(host string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.max > 0 && l.total >= l.max:
		return "--max-connections"
	case l.perAddr > 0 && l.byAddr[host] >= l.perAddr:
		return "--max-connections-per-address"
	}
	l.total++
	l.byAddr[host]++
	return ""
}

func (l *capListener) release(host string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.byAddr[host]--; l.byAddr[host] <= 0 {
		delete(l.byAddr, host)
	}
}

// noteRefusal logs refusals at most every 10 seconds: a flood of them must
// not become a flood of log lines.
func (l *capListener) noteRefusal(host, cap string) {
	l.mu.Lock()
	l.refused++
	now := time.Now()
	if now.Sub(l.logged) < 10*time.Second {
		l.mu.Unlock()
		return
	}
	n := l.refused
	l.refused, l.logged = 0, now
	l.mu.Unlock()
	l.log.Warn().Str("client", host).Str("cap", cap).Int("refused", n).Msg("connections refused over a connection cap")
}

// addrHost is the IP of a remote address, the key of the per-address cap.
func addrHost(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return h
}

// capConn gives its place back when closed, once.
type capConn struct {
	net.Conn
	l    *capListener
	host string
	once sync.Once
}

func (c *capConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.host) })
	return err
}

// CloseWrite keeps net/http's half-close (a FIN, then a pause before the
// close, so the client reads the answer rather than a reset) working
// through the wrapper.
func (c *capConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}
