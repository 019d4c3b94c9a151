package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"testing"
	"time"
)

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// TestJWKSAndPEMKeys verifies ES256 and RS256 tokens with keys from a JWKS
// and a PEM, by kid, and refuses a kid the set does not hold.
func TestJWKSAndPEMKeys(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rs, _ := rsa.GenerateKey(rand.Reader, 2048)
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{
		{"kty": "EC", "kid": "ec-1", "crv": "P-256", "alg": "ES256", "x": b64u(ec.X.FillBytes(make([]byte, 32))), "y": b64u(ec.Y.FillBytes(make([]byte, 32)))},
		{"kty": "RSA", "kid": "enc", "use": "enc", "n": b64u(rs.N.Bytes()), "e": "AQAB"},
	}})
	keys, err := ParseJWKS(jwks)
	if err != nil || len(keys) != 1 {
		t.Fatalf("JWKS: %v %v", keys, err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&rs.PublicKey)
	pk, err := ParsePublicPEM("rs-1", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(Config{Issuer: "iss", Audience: "aud", Keys: append(keys, pk)})
	if err != nil {
		t.Fatal(err)
	}
	req := TokenRequest{Issuer: "iss", Audience: "aud", Subject: "c", Scopes: []string{"system/MeasureReport.cu"}, Subjects: []string{"Location/A"}, IssuedAt: time.Now(), TTL: time.Minute}
	for _, k := range []SigningKey{{ID: "ec-1", Alg: "ES256", key: ec}, {ID: "rs-1", Alg: "RS256", key: rs}, {Alg: "RS256", key: rs}} {
		tok, err := Mint(k, req)
		if err != nil {
			t.Fatal(err)
		}
		p, err := v.Verify(context.Background(), tok)
		if err != nil || p.Subject != "c" || !p.Allows("MeasureReport", Update) || p.Allows("MeasureReport", Read) || p.Rights[0] != "Location/A" {
			t.Errorf("%s kid %q: %+v %v", k.Alg, k.ID, p, err)
		}
	}
	tok, _ := Mint(SigningKey{ID: "ec-9", Alg: "ES256", key: ec}, req)
	if _, err := v.Verify(context.Background(), tok); err == nil {
		t.Error("a token with an unknown kid was accepted")
	}
	if _, err := ParseJWKS([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"` + b64u(big.NewInt(1).FillBytes(make([]byte, 32))) + `","y":"` + b64u(big.NewInt(2).FillBytes(make([]byte, 32))) + `"}]}`)); err == nil {
		t.Error("an off-curve EC point was accepted")
	}
}

func TestScopes(t *testing.T) {
	for _, tc := range []struct {
		scopes []string
		typ    string
		perm   Perm
		want   bool
	}{
		{[]string{"system/MeasureReport.write"}, "MeasureReport", Update, true},
		{[]string{"system/MeasureReport.write"}, "MeasureReport", Read, false},
		{[]string{"system/MeasureReport.read"}, "MeasureReport", Search, true},
		{[]string{"system/*.read"}, "Measure", Read, true},
		{[]string{"system/*.read"}, "AuditEvent", Read, false},
		{[]string{"system/AuditEvent.rs"}, "AuditEvent", Search, true},
		{[]string{"system/MeasureReport.cu?subject=Location/x"}, "MeasureReport", Create, false},
		{[]string{"patient/MeasureReport.write"}, "MeasureReport", Create, false},
		{[]string{"system/Measure.*"}, "Measure", Delete, true},
		{[]string{"system/Measure.xyz"}, "Measure", Read, false},
	} {
		if got := (Principal{Kind: "jwt", Scopes: tc.scopes}).Allows(tc.typ, tc.perm); got != tc.want {
			t.Errorf("%v allows %c on %s = %v, want %v", tc.scopes, tc.perm, tc.typ, got, tc.want)
		}
	}
}

func TestConfigRefusals(t *testing.T) {
	for name, c := range map[string]Config{
		"no issuer":    {Audience: "a", HS256Secret: make([]byte, 32)},
		"no key":       {Issuer: "i", Audience: "a"},
		"short secret": {Issuer: "i", Audience: "a", HS256Secret: []byte("short")},
	} {
		if _, err := NewVerifier(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
