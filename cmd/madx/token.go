package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/madx-project/madx/server/auth"
)

// token mints a signed development token with the key `madx serve` is
// configured with (the HS256 secret, or the private half of an RS256/ES256
// key), so a walk-through can show an authenticated curl. Production
// tokens come from the jurisdiction's authorization server.
func token(_ context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var c securityConfig
	var signingKey, kid, sub, siteSystem string
	var scopes, subjects stringList
	var ttl time.Duration
	fs := flag.NewFlagSet("madx token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.registerKeys(fs, getenv)
	fs.StringVar(&signingKey, "signing-key", getenv("MADX_TOKEN_SIGNING_KEY"), "PEM private key (RS256/ES256) instead of the HS256 secret (MADX_TOKEN_SIGNING_KEY)")
	fs.StringVar(&kid, "kid", "", "kid header: the public key's file name without extension, or a JWKS kid")
	fs.StringVar(&sub, "sub", "dev-client", "the client the token names (sub)")
	fs.Var(&scopes, "scope", "a SMART scope such as system/MeasureReport.write; repeatable, or space-separated")
	fs.Var(&subjects, "subject", "a facility the client may report for: Location/<id>, Organization/<id>, system|value or *; repeatable")
	fs.StringVar(&siteSystem, "site-system", "", "the identifier system of the client's own facility codes (madx_site_system): its ADX orgUnits are codes of that system, mapped by the site maps")
	fs.DurationVar(&ttl, "ttl", time.Hour, "lifetime")
	if err := fs.Parse(args); err != nil {
		return usageError(err)
	}
	var key auth.SigningKey
	var err error
	if signingKey != "" {
		b, rerr := os.ReadFile(signingKey)
		if rerr != nil {
			return fmt.Errorf("--signing-key: %w", rerr)
		}
		key, err = auth.ParsePrivatePEM(kid, b)
	} else {
		secret, serr := c.secret()
		if serr != nil {
			return serr
		}
		if secret == nil {
			return fmt.Errorf("%w: no key: give --signing-key, --auth-hs256-secret-file or MADX_AUTH_HS256_SECRET", errUsage)
		}
		if kid == "" {
			kid = c.hsKid
		}
		key, err = auth.HS256Key(kid, secret)
	}
	if err != nil {
		return err
	}
	tok, err := auth.Mint(key, auth.TokenRequest{Issuer: c.issuer, Audience: c.audience, Subject: sub,
		Scopes: strings.Fields(strings.Join(scopes, " ")), Subjects: subjects, SiteSystem: siteSystem, IssuedAt: time.Now(), TTL: ttl})
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	fmt.Fprintln(stdout, tok)
	return nil
}
