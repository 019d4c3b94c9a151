package pipeline

import (
	"strings"
	"testing"
)

func TestCheckXHTML(t *testing.T) {
	for _, tc := range []struct {
		div, wantErr string // wantErr "" means accepted
	}{
		{`<div xmlns="http://www.w3.org/1999/xhtml"><p>January report for <b>Good Health Post</b></p></div>`, ""},
		{`<div xmlns="http://www.w3.org/1999/xhtml"><table><tr><td>10</td></tr></table><a href="https://example.org">x</a></div>`, ""},
		{`<div xmlns="http://www.w3.org/1999/xhtml"><img src="#logo"/></div>`, ""},
		{`<div xmlns="http://www.w3.org/1999/xhtml">caf&eacute;</div>`, ""},
		{`<div xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script>x</div>`, "<script> is not allowed"},
		{`<div xmlns="http://www.w3.org/1999/xhtml"><p onclick="alert(1)">x</p></div>`, "event handler attribute onclick"},
		{`<div xmlns="http://www.w3.org/1999/xhtml"><a href=" JavaScript:alert(1)">x</a></div>`, "script URL"},
		{`<div xmlns="http://www.w3.org/1999/xhtml"><p style="width: expression(alert(1))">x</p></div>`, "style> holds a script"},
		{`<div xmlns="http://www.w3.org/1999/xhtml"><iframe src="https://x"></iframe>x</div>`, "<iframe> is not allowed"},
		{`<div xmlns="http://www.w3.org/1999/xhtml"><form><input/></form></div>`, "<form> is not allowed"},
		{`<p>x</p>`, "root element is <p>"},
		{`<div xmlns="http://www.w3.org/1999/xhtml"> </div>`, "no text or image"},
		{`<div xmlns="http://www.w3.org/1999/xhtml"><p>x</div>`, "not well-formed"},
	} {
		err := checkXHTML(tc.div)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.div, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: %v, want an error saying %q", tc.div, err, tc.wantErr)
		}
	}
}
