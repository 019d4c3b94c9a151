package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/madx-project/madx/server"
	"github.com/madx-project/madx/server/auth"
	"github.com/rs/zerolog"
)

// securityConfig is who may call `madx serve` and over what (docs/security.md).
type securityConfig struct {
	issuer, audience string
	hsSecretFile     string
	hsSecret         string // from MADX_AUTH_HS256_SECRET only: a flag value shows in ps
	hsKid            string
	publicKeys       stringList
	jwks             string
	leeway           time.Duration

	tlsCert, tlsKey string
	clientCA        string
	clientAuth      string
	clientMap       string

	allowAnonymous bool
	headerTimeout  time.Duration
	maxConcurrent  int
	trustedProxies string
	maxInFlight    int64
	auditRetention time.Duration
}

func (c *securityConfig) register(fs *flag.FlagSet, getenv func(string) string) {
	c.registerKeys(fs, getenv)
	fs.Var(&c.publicKeys, "auth-public-key", "PEM file of an RS256/ES256 public key (kid: the file name without extension); repeatable (MADX_AUTH_PUBLIC_KEYS, comma-separated)")
	fs.StringVar(&c.jwks, "auth-jwks", getenv("MADX_AUTH_JWKS"), "JWKS file of RS256/ES256 public keys, kid honoured (MADX_AUTH_JWKS)")
	fs.DurationVar(&c.leeway, "auth-leeway", 30*time.Second, "clock skew allowed on exp and nbf")
	fs.StringVar(&c.tlsCert, "tls-cert", getenv("MADX_TLS_CERT"), "PEM certificate chain; with --tls-key serves HTTPS (TLS 1.2+, HTTP/2) (MADX_TLS_CERT)")
	fs.StringVar(&c.tlsKey, "tls-key", getenv("MADX_TLS_KEY"), "PEM private key of --tls-cert (MADX_TLS_KEY)")
	fs.StringVar(&c.clientCA, "client-ca", getenv("MADX_CLIENT_CA"), "PEM CA certificates that issue client certificates: mutual TLS (MADX_CLIENT_CA)")
	fs.StringVar(&c.clientAuth, "client-auth", envOr(getenv, "MADX_CLIENT_AUTH", "require"), "with --client-ca: require, or verify-if-given (MADX_CLIENT_AUTH)")
	fs.StringVar(&c.clientMap, "client-map", getenv("MADX_CLIENT_MAP"), "JSON file mapping client-certificate subjects to scopes and madx_subjects (MADX_CLIENT_MAP)")
	fs.BoolVar(&c.allowAnonymous, "allow-anonymous", getenv("MADX_ALLOW_ANONYMOUS") == "true", "serve without authentication on a non-loopback address (MADX_ALLOW_ANONYMOUS=true)")
	fs.DurationVar(&c.headerTimeout, "header-timeout", 10*time.Second, "time a client has to send its request headers (slowloris)")
	fs.IntVar(&c.maxConcurrent, "max-concurrent-per-client", int(envInt(getenv, "MADX_MAX_CONCURRENT_PER_CLIENT", server.DefaultMaxConcurrentPerClient)), "requests one client may have in flight; 429 beyond (MADX_MAX_CONCURRENT_PER_CLIENT)")
	fs.StringVar(&c.trustedProxies, "trusted-proxies", getenv("MADX_TRUSTED_PROXIES"), "comma-separated addresses and CIDR prefixes of reverse proxies whose X-Forwarded-For / Forwarded names the client; from other peers those headers are ignored (MADX_TRUSTED_PROXIES)")
	fs.Int64Var(&c.maxInFlight, "max-bytes-in-flight", envInt(getenv, "MADX_MAX_BYTES_IN_FLIGHT", 0), "request and answer bytes the server holds at once, server-wide; 503 with Retry-After beyond; 0: 128 MiB, or --max-body when larger; at least --max-body; -1 for no budget (MADX_MAX_BYTES_IN_FLIGHT)")
	retention, err := time.ParseDuration(envOr(getenv, "MADX_AUDIT_RETENTION", "0s"))
	if err != nil {
		retention = 0
	}
	fs.DurationVar(&c.auditRetention, "audit-retention", retention, "how long AuditEvents are kept; 0 keeps them (MADX_AUDIT_RETENTION)")
}

// registerKeys registers what `madx token` shares with `madx serve`.
func (c *securityConfig) registerKeys(fs *flag.FlagSet, getenv func(string) string) {
	fs.StringVar(&c.issuer, "auth-issuer", getenv("MADX_AUTH_ISSUER"), "required iss of bearer tokens; setting it turns token auth on (MADX_AUTH_ISSUER)")
	fs.StringVar(&c.audience, "auth-audience", getenv("MADX_AUTH_AUDIENCE"), "required aud of bearer tokens (MADX_AUTH_AUDIENCE)")
	fs.StringVar(&c.hsSecretFile, "auth-hs256-secret-file", getenv("MADX_AUTH_HS256_SECRET_FILE"), "file holding the HS256 shared secret, >= 32 bytes (MADX_AUTH_HS256_SECRET_FILE; or the secret itself in MADX_AUTH_HS256_SECRET)")
	fs.StringVar(&c.hsKid, "auth-hs256-kid", getenv("MADX_AUTH_HS256_KID"), "kid HS256 tokens carry, if any (MADX_AUTH_HS256_KID)")
	c.hsSecret = getenv("MADX_AUTH_HS256_SECRET")
	if v := getenv("MADX_AUTH_PUBLIC_KEYS"); v != "" {
		c.publicKeys = strings.Split(v, ",")
	}
}

func (c *securityConfig) secret() ([]byte, error) {
	if c.hsSecretFile != "" {
		b, err := os.ReadFile(c.hsSecretFile)
		if err != nil {
			return nil, fmt.Errorf("--auth-hs256-secret-file: %w", err)
		}
		return []byte(strings.TrimRight(string(b), "\r\n")), nil
	}
	if c.hsSecret != "" {
		return []byte(c.hsSecret), nil
	}
	return nil, nil
}

// verifier builds the token verifier, or nil when token auth is off.
func (c *securityConfig) verifier() (*auth.Verifier, error) {
	secret, err := c.secret()
	if err != nil {
		return nil, err
	}
	var keys []auth.Key
	for _, f := range c.publicKeys {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("--auth-public-key: %w", err)
		}
		k, err := auth.ParsePublicPEM(strings.TrimSuffix(filepath.Base(f), filepath.Ext(f)), b)
		if err != nil {
			return nil, fmt.Errorf("--auth-public-key %s: %w", f, err)
		}
		keys = append(keys, k)
	}
	if c.jwks != "" {
		b, err := os.ReadFile(c.jwks)
		if err != nil {
			return nil, fmt.Errorf("--auth-jwks: %w", err)
		}
		ks, err := auth.ParseJWKS(b)
		if err != nil {
			return nil, fmt.Errorf("--auth-jwks %s: %w", c.jwks, err)
		}
		keys = append(keys, ks...)
	}
	if c.issuer == "" && c.audience == "" && secret == nil && len(keys) == 0 {
		return nil, nil
	}
	v, err := auth.NewVerifier(auth.Config{Issuer: c.issuer, Audience: c.audience, HS256Secret: secret, HS256Kid: c.hsKid, Keys: keys, Leeway: c.leeway})
	if err != nil {
		return nil, fmt.Errorf("%w: token auth: %v", errUsage, err)
	}
	return v, nil
}

// options builds the server's Security, refusing an exposed server without
// authentication (QRPH-58 2:3.58.6: the Content Consumer authenticates its
// Content Creators) unless --allow-anonymous says so, which is then logged
// at every start.
func (c *securityConfig) options(addr string, log zerolog.Logger) (server.Security, error) {
	sec := server.Security{MaxConcurrentPerClient: c.maxConcurrent, MaxBytesInFlight: c.maxInFlight, AuditRetention: c.auditRetention}
	proxies, err := server.ParseTrustedProxies(c.trustedProxies)
	if err != nil {
		return sec, fmt.Errorf("%w: --trusted-proxies: %v", errUsage, err)
	}
	sec.TrustedProxies = proxies
	v, err := c.verifier()
	if err != nil {
		return sec, err
	}
	if v != nil {
		sec.Tokens = v
	}
	if c.clientMap != "" {
		b, err := os.ReadFile(c.clientMap)
		if err != nil {
			return sec, fmt.Errorf("--client-map: %w", err)
		}
		if sec.Certificates, err = auth.ParseCertMap(b); err != nil {
			return sec, fmt.Errorf("--client-map %s: %w", c.clientMap, err)
		}
		if c.clientCA == "" {
			return sec, fmt.Errorf("%w: --client-map needs --client-ca (only verified certificates are mapped)", errUsage)
		}
	}
	if v != nil || sec.Certificates.Len() > 0 {
		log.Info().Bool("tokens", v != nil).Int("mapped_certificates", sec.Certificates.Len()).Msg("authentication on")
		return sec, nil
	}
	if !loopbackAddr(addr) {
		if !c.allowAnonymous {
			return sec, fmt.Errorf("%w: %s is not a loopback address and no authentication is configured (--auth-issuer with keys, or --client-map); give --allow-anonymous to serve it anyway", errUsage, addr)
		}
		log.Warn().Str("addr", addr).Msg("--allow-anonymous: serving WITHOUT authentication on a non-loopback address; anyone who can reach it may read and write every report")
	}
	return sec, nil
}

// loopbackAddr reports whether addr only listens on loopback. An empty host
// or a name other than localhost counts as exposed.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// tlsConfig is nil for plain HTTP. TLS 1.2 is the floor, with AEAD ECDHE
// suites only (TLS 1.3's are always modern); HTTP/2 is negotiated by
// http.Server.ServeTLS.
func (c *securityConfig) tlsConfig() (*tls.Config, error) {
	if c.tlsCert == "" && c.tlsKey == "" {
		if c.clientCA != "" {
			return nil, fmt.Errorf("%w: --client-ca needs --tls-cert and --tls-key", errUsage)
		}
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		NextProtos: []string{"h2", "http/1.1"},
	}
	if c.clientCA != "" {
		pemBytes, err := os.ReadFile(c.clientCA)
		if err != nil {
			return nil, fmt.Errorf("--client-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, errors.New("--client-ca: no PEM certificate found")
		}
		cfg.ClientCAs = pool
		switch c.clientAuth {
		case "require":
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		case "verify-if-given":
			cfg.ClientAuth = tls.VerifyClientCertIfGiven
		default:
			return nil, fmt.Errorf("%w: --client-auth is %q; expected require or verify-if-given", errUsage, c.clientAuth)
		}
	}
	return cfg, nil
}
