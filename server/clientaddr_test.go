package server

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestClientAddress(t *testing.T) {
	proxies, err := ParseTrustedProxies("10.0.0.0/8, 2001:db8:ff::/48, 192.0.2.7")
	if err != nil {
		t.Fatal(err)
	}
	sec := Security{TrustedProxies: proxies}
	tests := []struct {
		name, peer string
		headers    []string
		want       string
	}{
		{"untrusted peer", "198.51.100.9:1", []string{"X-Forwarded-For", "203.0.113.1"}, "198.51.100.9"},
		{"trusted peer, no header", "192.0.2.7:1", nil, "192.0.2.7"},
		{"right-most untrusted hop", "10.0.0.1:1", []string{"X-Forwarded-For", "203.0.113.1, 198.51.100.2, 10.0.0.2"}, "198.51.100.2"},
		{"every hop trusted", "10.0.0.1:1", []string{"X-Forwarded-For", "10.0.0.3, 10.0.0.2"}, "10.0.0.3"},
		{"a hop with a port", "10.0.0.1:1", []string{"X-Forwarded-For", "198.51.100.2:5123"}, "198.51.100.2"},
		{"unknown ends the walk at the last trusted hop", "10.0.0.1:1", []string{"X-Forwarded-For", "198.51.100.2, unknown, 10.0.0.2"}, "10.0.0.2"},
		{"IPv6 proxy and client", "[2001:db8:ff::1]:1", []string{"Forwarded", `for="[2001:db8::5]:4711"`}, "2001:db8::5"},
		{"IPv4-mapped peer", "[::ffff:10.0.0.1]:1", []string{"X-Forwarded-For", "198.51.100.2"}, "198.51.100.2"},
		{"X-Forwarded-For wins over Forwarded", "10.0.0.1:1", []string{"Forwarded", "for=203.0.113.66", "X-Forwarded-For", "198.51.100.2"}, "198.51.100.2"},
		{"Forwarded with several elements and parameters", "10.0.0.1:1", []string{"Forwarded", "for=203.0.113.1;proto=http, for=198.51.100.3;by=10.0.0.1"}, "198.51.100.3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tc.peer
			for i := 0; i+1 < len(tc.headers); i += 2 {
				r.Header.Add(tc.headers[i], tc.headers[i+1])
			}
			if got := sec.clientAddress(r); got != tc.want {
				t.Errorf("clientAddress = %q, want %q", got, tc.want)
			}
		})
	}
	if _, err := ParseTrustedProxies("10.0.0.0/33"); err == nil {
		t.Error("ParseTrustedProxies accepted 10.0.0.0/33")
	}
}
