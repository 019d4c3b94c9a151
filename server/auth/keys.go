package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
)

// Key is a public key that verifies tokens, pinned to one algorithm.
type Key struct {
	// ID is the kid a token must name to be checked with this key; tokens
	// without a kid are tried against every key of their algorithm.
	ID string
	// Alg is RS256 or ES256, fixed by the key's type: a token claiming
	// another algorithm is never checked with it.
	Alg    string
	Public crypto.PublicKey
}

// ParsePublicPEM reads an RSA or P-256 public key (PUBLIC KEY, RSA PUBLIC
// KEY or CERTIFICATE block).
func ParsePublicPEM(kid string, b []byte) (Key, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return Key{}, errors.New("auth: no PEM block")
	}
	var pub any
	var err error
	switch blk.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(blk.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(blk.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(blk.Bytes); err == nil {
			pub = cert.PublicKey
		}
	default:
		return Key{}, fmt.Errorf("auth: PEM block %q is not a public key", blk.Type)
	}
	if err != nil {
		return Key{}, fmt.Errorf("auth: parse public key: %w", err)
	}
	return keyOf(kid, pub)
}

func keyOf(kid string, pub any) (Key, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return Key{}, fmt.Errorf("auth: RSA key %q has %d bits; at least 2048 are required", kid, k.N.BitLen())
		}
		return Key{ID: kid, Alg: "RS256", Public: k}, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return Key{}, fmt.Errorf("auth: EC key %q is not on P-256 (ES256)", kid)
		}
		return Key{ID: kid, Alg: "ES256", Public: k}, nil
	}
	return Key{}, fmt.Errorf("auth: key %q is a %T; expected RSA or P-256", kid, pub)
}

// jwk is the part of RFC 7517 madx reads.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// ParseJWKS reads a JWK Set of RSA and P-256 public keys. Keys for
// encryption (use "enc") are skipped; a key whose alg disagrees with its
// type is an error rather than silently trusted.
func ParseJWKS(b []byte) ([]Key, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("auth: JWKS: %w", err)
	}
	var out []Key
	for i, k := range set.Keys {
		if k.Use == "enc" {
			continue
		}
		pub, err := k.public()
		if err != nil {
			return nil, fmt.Errorf("auth: JWKS key %d (kid %q): %w", i, k.Kid, err)
		}
		key, err := keyOf(k.Kid, pub)
		if err != nil {
			return nil, err
		}
		if k.Alg != "" && k.Alg != key.Alg {
			return nil, fmt.Errorf("auth: JWKS key %q says alg %s but is a %s key", k.Kid, k.Alg, key.Alg)
		}
		out = append(out, key)
	}
	if len(out) == 0 {
		return nil, errors.New("auth: JWKS has no signature keys")
	}
	return out, nil
}

func (k jwk) public() (any, error) {
	switch k.Kty {
	case "RSA":
		n, err1 := b64int(k.N)
		e, err2 := b64int(k.E)
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31 {
			return nil, errors.New("bad RSA exponent")
		}
		return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
	case "EC":
		if k.Crv != "P-256" {
			return nil, fmt.Errorf("curve %q is not P-256", k.Crv)
		}
		x, err1 := b64int(k.X)
		y, err2 := b64int(k.Y)
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		// Through the uncompressed point encoding, so an off-curve point
		// is refused by crypto/ecdh rather than trusted.
		raw := append([]byte{4}, append(x.FillBytes(make([]byte, 32)), y.FillBytes(make([]byte, 32))...)...)
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
		if err != nil {
			return nil, err
		}
		return pub, nil
	}
	return nil, fmt.Errorf("kty %q is not RSA or EC", k.Kty)
}

func b64int(s string) (*big.Int, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("bad base64url number %q", s)
	}
	return new(big.Int).SetBytes(b), nil
}
