package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startServeWith runs `madx serve` in-process with an environment; it
// returns the FHIR base URL and the log.
func startServeWith(t *testing.T, env map[string]string, args ...string) (string, *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir()}, args...),
			func(k string) string { return env[k] }, io.Discard, logs)
	}()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := servingRE.FindStringSubmatch(logs.String()); m != nil {
			return m[1], logs
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("serve exited early: %v\n%s", err, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("serve did not start:\n%s", logs.String())
	return "", nil
}

func TestServeRefusesAnExposedAddressWithoutAuth(t *testing.T) {
	var logs bytes.Buffer
	err := run(context.Background(), []string{"serve", "--addr", "0.0.0.0:0", "--data-dir", t.TempDir()}, func(string) string { return "" }, io.Discard, &logs)
	if err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Fatalf("serve on 0.0.0.0 without auth: %v", err)
	}
	_, log := startServeWith(t, nil, "--addr", "0.0.0.0:0", "--allow-anonymous")
	if !strings.Contains(log.String(), `"level":"warn"`) || !strings.Contains(log.String(), "WITHOUT authentication") {
		t.Errorf("--allow-anonymous started without a warning:\n%s", log.String())
	}
}

// TestTokenCommandAndHS256 mints tokens with `madx token` and uses them
// against `madx serve` configured with the same secret, as the README does.
func TestTokenCommandAndHS256(t *testing.T) {
	env := map[string]string{"MADX_AUTH_ISSUER": "https://auth.example.org", "MADX_AUTH_AUDIENCE": "madx",
		"MADX_AUTH_HS256_SECRET": "a-development-secret-of-at-least-32-bytes"}
	base, _ := startServeWith(t, env, "--load", filepath.Join("..", "..", "testdata", "madx", "definitions"))
	mint := func(args ...string) string {
		var out bytes.Buffer
		if err := run(context.Background(), append([]string{"token"}, args...), func(k string) string { return env[k] }, &out, io.Discard); err != nil {
			t.Fatalf("madx token: %v", err)
		}
		return strings.TrimSpace(out.String())
	}
	hp1 := mint("--sub", "healthpost-1", "--scope", "system/MeasureReport.write system/MeasureReport.read", "--subject", "Location/HealthPost1")
	body := projectFile(t, "testdata/madx/reports/MeasureReport-mADX-MeasureReport-example-literal-subject.json")
	url := base + "/MeasureReport/mADX-MeasureReport-example-literal-subject"
	for _, tc := range []struct {
		name, token string
		status      int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"other facility", mint("--sub", "healthpost-2", "--scope", "system/MeasureReport.write", "--subject", "Location/HealthPost2"), http.StatusForbidden},
		{"own facility", hp1, http.StatusCreated},
	} {
		req, _ := http.NewRequest("PUT", url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/fhir+json")
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(b), "resourceType") {
			t.Errorf("%s: %d, want %d: %s", tc.name, resp.StatusCode, tc.status, b)
		}
	}
	if status, _, _ := request(t, "GET", base+"/metadata", nil); status != http.StatusOK {
		t.Errorf("metadata must stay public: %d", status)
	}
}

// pki is a test CA and what it signs.
type pki struct {
	t    *testing.T
	dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newPKI(t *testing.T, name string) *pki {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	p := &pki{t: t, dir: t.TempDir(), cert: cert, key: key}
	p.write("ca.pem", "CERTIFICATE", der)
	return p
}

func (p *pki) write(name, typ string, der []byte) string {
	f := filepath.Join(p.dir, name)
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		p.t.Fatal(err)
	}
	return f
}

// issue signs a leaf certificate; it returns the cert and key files and
// the tls.Certificate.
func (p *pki) issue(cn string, server bool) (certFile, keyFile string, pair tls.Certificate) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage, tmpl.IPAddresses = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, &key.PublicKey, p.key)
	if err != nil {
		p.t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	certFile, keyFile = p.write(cn+".pem", "CERTIFICATE", der), p.write(cn+"-key.pem", "PRIVATE KEY", kder)
	pair, err = tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		p.t.Fatal(err)
	}
	return certFile, keyFile, pair
}

// TestMutualTLS: without a certificate, or with one from another CA, the
// handshake fails; with the right one the mapped facility writes over
// HTTP/2.
func TestMutualTLS(t *testing.T) {
	ca, other := newPKI(t, "madx test CA"), newPKI(t, "another CA")
	certFile, keyFile, _ := ca.issue("madx-server", true)
	_, _, good := ca.issue("healthpost-1.example.org", false)
	_, _, stranger := other.issue("healthpost-1.example.org", false)
	clientMap := filepath.Join(ca.dir, "clients.json")
	os.WriteFile(clientMap, []byte(`{"certificates":[{"subject":"CN=healthpost-1.example.org","scope":"system/MeasureReport.write system/MeasureReport.read","madx_subjects":["Location/HealthPost1"]}]}`), 0o600)
	base, _ := startServeWith(t, nil, "--tls-cert", certFile, "--tls-key", keyFile, "--client-ca", filepath.Join(ca.dir, "ca.pem"),
		"--client-map", clientMap, "--load", filepath.Join("..", "..", "testdata", "madx", "definitions"))
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("base URL %s is not https", base)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	clientWith := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{ForceAttemptHTTP2: true,
			TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs}}}
	}
	body := projectFile(t, "testdata/madx/reports/MeasureReport-mADX-MeasureReport-example-literal-subject.json")
	put := func(c *http.Client) (*http.Response, error) {
		req, _ := http.NewRequest("PUT", base+"/MeasureReport/mADX-MeasureReport-example-literal-subject", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/fhir+json")
		return c.Do(req)
	}
	for name, c := range map[string]*http.Client{"no certificate": clientWith(), "another CA's certificate": clientWith(stranger)} {
		if resp, err := put(c); err == nil {
			resp.Body.Close()
			t.Errorf("%s: got %d, want a failed handshake", name, resp.StatusCode)
		}
	}
	resp, err := put(clientWith(good))
	if err != nil {
		t.Fatalf("right certificate: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || resp.ProtoMajor != 2 {
		t.Errorf("right certificate: %d over %s, want 201 over HTTP/2: %s", resp.StatusCode, resp.Proto, b)
	}
}

// TestSlowHeadersAreCutOff: a client dribbling its headers one byte at a
// time is disconnected at the header timeout while others are served.
func TestSlowHeadersAreCutOff(t *testing.T) {
	base, _ := startServeWith(t, nil, "--header-timeout", "1s")
	host := strings.TrimPrefix(strings.SplitN(base, "/fhir", 2)[0], "http://")
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	closed := make(chan time.Duration, 1)
	go func() {
		buf := make([]byte, 512)
		for {
			if _, err := conn.Read(buf); err != nil {
				closed <- time.Since(start)
				return
			}
		}
	}()
	go func() {
		for _, b := range []byte("GET /fhir/metadata HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 200)) {
			if _, err := conn.Write([]byte{b}); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	// Meanwhile another client is served.
	time.Sleep(300 * time.Millisecond)
	if status, _, _ := request(t, "GET", base+"/metadata", nil); status != http.StatusOK {
		t.Errorf("a normal client was not served while the slow one dribbled: %d", status)
	}
	select {
	case d := <-closed:
		if d > 3*time.Second {
			t.Errorf("slow client cut off after %v; want about the 1s header timeout", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the slow client was never cut off")
	}
}

// TestTrustedProxiesAndBudgetFlags: MADX_TRUSTED_PROXIES makes the server
// name the client a local proxy forwards for; bad values stop the start.
func TestTrustedProxiesAndBudgetFlags(t *testing.T) {
	base, logs := startServeWith(t, map[string]string{"MADX_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8"})
	req, _ := http.NewRequest(http.MethodGet, base+"/MeasureReport/none", nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.1, 198.51.100.5")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !strings.Contains(logs.String(), `"client":"198.51.100.5"`) {
		t.Errorf("the request log does not name the forwarded client 198.51.100.5:\n%s", logs.String())
	}
	for _, args := range [][]string{
		{"--trusted-proxies", "10.0.0.0/8,proxy.example.org"},
		{"--max-body", "1000", "--max-bytes-in-flight", "999"},
	} {
		err := run(context.Background(), append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir()}, args...),
			func(string) string { return "" }, io.Discard, io.Discard)
		if err == nil {
			t.Errorf("serve %v started", args)
		}
	}
}
