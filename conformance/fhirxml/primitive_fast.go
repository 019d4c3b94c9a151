package fhirxml

// Fast acceptance of the common primitive values. Each function answers
// true only for values its full check (regular expression, url.Parse)
// accepts too; false means "run the full check", never "invalid".
// Regular expressions and url.Parse were a fifth of decoding time.

// fastCode reports a code that matches [^\s]+(\s[^\s]+)*: no leading,
// trailing or doubled whitespace.
func fastCode(s string) bool {
	if s == "" || isCodeSpace(s[0]) || isCodeSpace(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if isCodeSpace(s[i]) && isCodeSpace(s[i-1]) {
			return false
		}
	}
	return true
}

// isCodeSpace is RE2's \s: [\t\n\f\r ].
func isCodeSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'
}

// fastID reports an id that matches [A-Za-z0-9\-\.]{1,64}.
func fastID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// fastURI reports a URI url.Parse accepts: http(s)://host with an
// optional path, query and fragment, a urn, or a relative path, all
// without percent escapes, ports, user info or characters url.Parse
// looks at twice.
func fastURI(s string) bool {
	var rest string
	switch {
	case hasPrefix(s, "http://"):
		rest = s[len("http://"):]
	case hasPrefix(s, "https://"):
		rest = s[len("https://"):]
	case hasPrefix(s, "urn:"):
		// Opaque: anything but "/" after the scheme.
		return len(s) > 4 && s[4] != '/' && uriChars(s[4:], true)
	default:
		// No scheme: a colon would be read as one, or refused.
		return s != "" && uriChars(s, false)
	}
	host := 0
	for host < len(rest) && (isAlnum(rest[host]) || rest[host] == '-' || rest[host] == '.') {
		host++
	}
	if host == 0 {
		return false
	}
	return host == len(rest) || rest[host] == '/' && uriChars(rest[host:], true)
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

// uriChars reports that s holds only unreserved characters, "/", "?",
// "#", "=", "&", "+", ",", ";" and, if colon, ":".
func uriChars(s string, colon bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isAlnum(c):
		case c == '-' || c == '.' || c == '_' || c == '~' || c == '/' || c == '?' || c == '#' ||
			c == '=' || c == '&' || c == '+' || c == ',' || c == ';':
		case c == ':' && colon:
		default:
			return false
		}
	}
	return true
}
