package server

import (
	"net/http"
	"strings"
)

// preference returns the value of one Prefer preference (RFC 7240): the
// header may be repeated, and preferences are separated by "," (and, as
// clients also send them, ";"). A preference without a value, such as
// respond-async, is found with value "". It is the one Prefer parser:
// return=, handling= and respond-async are all read through it.
func preference(r *http.Request, name string) (string, bool) {
	for _, v := range r.Header.Values("Prefer") {
		for _, part := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' }) {
			k, val, _ := strings.Cut(strings.TrimSpace(part), "=")
			if strings.EqualFold(strings.TrimSpace(k), name) {
				return strings.Trim(strings.TrimSpace(val), `"`), true
			}
		}
	}
	return "", false
}

// preferReturn is Prefer: return= (minimal, representation,
// OperationOutcome), or "".
func preferReturn(r *http.Request) string {
	v, _ := preference(r, "return")
	return v
}

// strictHandling reports Prefer: handling=strict (FHIR R4 search.html#errors).
func strictHandling(r *http.Request) bool {
	v, _ := preference(r, "handling")
	return strings.EqualFold(v, "strict")
}

// wantsAsync reports Prefer: respond-async (FHIR R4 async.html).
func wantsAsync(r *http.Request) bool {
	_, ok := preference(r, "respond-async")
	return ok
}
