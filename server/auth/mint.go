package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// SigningKey signs development tokens (madx token).
type SigningKey struct {
	ID  string // kid header; empty for none
	Alg string // HS256, RS256 or ES256
	key any    // []byte, *rsa.PrivateKey or *ecdsa.PrivateKey
}

// HS256Key is a shared-secret signing key.
func HS256Key(kid string, secret []byte) (SigningKey, error) {
	if len(secret) < MinSecretBytes {
		return SigningKey{}, fmt.Errorf("auth: the HS256 secret has %d bytes; at least %d are required", len(secret), MinSecretBytes)
	}
	return SigningKey{ID: kid, Alg: "HS256", key: secret}, nil
}

// ParsePrivatePEM reads an RSA or P-256 private key (PKCS#1, PKCS#8 or SEC 1).
func ParsePrivatePEM(kid string, b []byte) (SigningKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return SigningKey{}, errors.New("auth: no PEM block")
	}
	var k any
	var err error
	switch blk.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(blk.Bytes)
	default:
		return SigningKey{}, fmt.Errorf("auth: PEM block %q is not a private key", blk.Type)
	}
	if err != nil {
		return SigningKey{}, fmt.Errorf("auth: parse private key: %w", err)
	}
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return SigningKey{ID: kid, Alg: "RS256", key: k}, nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return SigningKey{}, errors.New("auth: EC key is not on P-256 (ES256)")
		}
		return SigningKey{ID: kid, Alg: "ES256", key: k}, nil
	}
	return SigningKey{}, fmt.Errorf("auth: private key is a %T; expected RSA or P-256", k)
}

// TokenRequest is what a minted token says.
type TokenRequest struct {
	Issuer, Audience, Subject string
	Scopes                    []string
	// Subjects become the madx_subjects claim.
	Subjects []string
	// SiteSystem becomes the madx_site_system claim.
	SiteSystem string
	IssuedAt   time.Time
	TTL        time.Duration
}

// Mint signs a token for development and tests; production tokens come
// from the jurisdiction's authorization server.
func Mint(k SigningKey, r TokenRequest) (string, error) {
	if r.Issuer == "" || r.Audience == "" || r.Subject == "" || r.TTL <= 0 {
		return "", errors.New("auth: a token needs an issuer, an audience, a subject and a lifetime")
	}
	c := claims{RegisteredClaims: jwt.RegisteredClaims{Issuer: r.Issuer, Subject: r.Subject, Audience: jwt.ClaimStrings{r.Audience},
		IssuedAt: jwt.NewNumericDate(r.IssuedAt), NotBefore: jwt.NewNumericDate(r.IssuedAt), ExpiresAt: jwt.NewNumericDate(r.IssuedAt.Add(r.TTL))},
		Scope: strings.Join(r.Scopes, " "), ClientID: r.Subject, Subjects: r.Subjects, SiteSystem: r.SiteSystem}
	t := jwt.NewWithClaims(jwt.GetSigningMethod(k.Alg), c)
	if k.ID != "" {
		t.Header["kid"] = k.ID
	}
	return t.SignedString(k.key)
}
