package auth

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"strings"
)

// CertRule maps one client-certificate subject to a submitter.
type CertRule struct {
	// Subject is the certificate's subject DN as Go prints it
	// ("CN=hp1.example.org,O=Ministry of Health") or just "CN=<name>".
	Subject  string   `json:"subject"`
	Scope    string   `json:"scope"`
	Subjects []string `json:"madx_subjects"`
	// SiteSystem is the identifier system of the sender's facility codes,
	// as the madx_site_system claim of a token.
	SiteSystem string `json:"madx_site_system,omitempty"`
}

// CertMap turns verified client certificates into principals, so a
// facility with a certificate but no token gets the rights its rule
// names (mutual TLS as the IHE ATNA-style node authentication).
type CertMap struct {
	rules map[string]CertRule
}

// ParseCertMap reads {"certificates": [CertRule, ...]}.
func ParseCertMap(b []byte) (*CertMap, error) {
	var f struct {
		Certificates []CertRule `json:"certificates"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("auth: certificate map: %w", err)
	}
	m := &CertMap{rules: map[string]CertRule{}}
	for i, r := range f.Certificates {
		if r.Subject == "" {
			return nil, fmt.Errorf("auth: certificate map entry %d has no subject", i)
		}
		if _, dup := m.rules[r.Subject]; dup {
			return nil, fmt.Errorf("auth: certificate map names %q twice", r.Subject)
		}
		m.rules[r.Subject] = r
	}
	return m, nil
}

// Len is the number of rules.
func (m *CertMap) Len() int {
	if m == nil {
		return 0
	}
	return len(m.rules)
}

// Principal returns the principal of a verified client certificate (the
// TLS layer checked the chain), matched by full subject DN first, then by
// CN; false when no rule names it.
func (m *CertMap) Principal(cert *x509.Certificate) (Principal, bool) {
	if m == nil || cert == nil {
		return Principal{}, false
	}
	dn := cert.Subject.String()
	r, ok := m.rules[dn]
	if !ok {
		r, ok = m.rules["CN="+cert.Subject.CommonName]
	}
	if !ok {
		return Principal{}, false
	}
	return Principal{Kind: "certificate", Subject: dn, Scopes: strings.Fields(r.Scope), Rights: r.Subjects, SiteSystem: r.SiteSystem}, true
}
