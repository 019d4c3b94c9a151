package fhirxml

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// scannerSeeds are shapes the scanner must either read exactly as
// encoding/xml does or hand over to it.
var scannerSeeds = []string{
	`<?xml version="1.0" encoding="UTF-8"?>` + minimalReport,
	`<?xml version='1.0' encoding='utf8' standalone="yes"?>` + minimalReport,
	`<?xml version="1.1"?>` + minimalReport,
	`<?xml version="1.0" encoding="ISO-8859-1"?>` + minimalReport,
	" \n<!-- a -- b -->" + minimalReport,
	"<!-- c -->" + minimalReport + "<!--d--->",
	strings.Replace(minimalReport, `value="complete"`, `value = 'compl&#101;t&#x65;'`, 1),
	strings.Replace(minimalReport, `value="complete"`, "value=\"complete\r\n\"", 1),
	strings.Replace(minimalReport, `value="complete"`, `value="complete&#0;"`, 1),
	strings.Replace(minimalReport, `value="complete"`, `value="&amp;&lt;&gt;&quot;&apos;&#xD800;"`, 1),
	strings.Replace(minimalReport, `value="complete"`, `value="complete"value="x"`, 1),
	strings.Replace(minimalReport, `<status value="complete"/>`, `<status value="complete"></status >`, 1),
	strings.Replace(minimalReport, `<status value="complete"/>`, `<f:status xmlns:f="http://hl7.org/fhir" value="complete"/>`, 1),
	strings.Replace(minimalReport, `<status value="complete"/>`, `<status xmlns="" value="complete"/>`, 1),
	strings.Replace(minimalReport, `<status value="complete"/>`, `<status value="complete"/><text><status value="generated"/><div xmlns="http://www.w3.org/1999/xhtml"><p class='a'>x &amp; y &#233; ]]&gt; <br/></p><![CDATA[z]]></div></text>`, 1),
	strings.Replace(minimalReport, `<status value="complete"/>`, `<status value="complete"/><text><status value="generated"/><div xmlns="http://www.w3.org/1999/xhtml"><p>é ]]> </p></div></text>`, 1),
	strings.Replace(minimalReport, `<status value="complete"/>`, "<status value=\"complete\"/><text><status value=\"generated\"/><div xmlns=\"http://www.w3.org/1999/xhtml\">\xff</div></text>", 1),
	minimalReport + "<x/>",
	// fhirvalidate's rules, which the fast path checks before skipping it.
	`<Bundle xmlns="http://hl7.org/fhir"><type value="searchset"/><total value="3000000000"/></Bundle>`,
	`<Bundle xmlns="http://hl7.org/fhir"><type value="searchset"/><total value="2147483647"/></Bundle>`,
	`<Bundle xmlns="http://hl7.org/fhir"><total value="1"/></Bundle>`,
	strings.Replace(minimalReport, `Location/HealthPost1`, `Patient/p`, 1),
	strings.Replace(minimalReport, `Location/HealthPost1`, `#c`, 1),
	strings.Replace(minimalReport, `<status value="complete"/>`, ``, 1),
	strings.Replace(minimalReport, `<status value="complete"/>`, `<status value="complete"/><contained><Location><id value="a"/></Location></contained>`, 1),
	minimalReport + "junk",
	strings.TrimSuffix(minimalReport, ">"),
}

// FuzzScanner checks that the scanner and encoding/xml agree: the same
// proto, or the same error, for every input.
func FuzzScanner(f *testing.F) {
	for _, fx := range fixtures(f) {
		// Large seeds slow the engine down to a crawl; the small
		// fixtures hold the same shapes.
		if len(fx.xmlData) <= 8<<10 {
			f.Add(fx.xmlData)
		}
	}
	f.Add(readFile(f, filepath.Join("testdata", "features.xml")))
	for _, s := range scannerSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, gotErr := Decoder{}.Unmarshal(data)
		want, wantErr := Decoder{noScanner: true}.Unmarshal(data)
		if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
			t.Fatalf("scanner error %v; encoding/xml error %v", gotErr, wantErr)
		}
		if diff := diffProto(want, got); diff != "" {
			t.Fatalf("scanner and encoding/xml decode differently (-encoding/xml +scanner):\n%s", diff)
		}
	})
}

// TestScannerReadsFixtures keeps the fast path in use: every fixture that
// decodes must be read by the scanner without handing over to encoding/xml.
func TestScannerReadsFixtures(t *testing.T) {
	inputs := map[string][]byte{"features.xml": readFile(t, filepath.Join("testdata", "features.xml"))}
	for _, fx := range fixtures(t) {
		inputs[fx.name] = fx.xmlData
	}
	for name, data := range inputs {
		st := &decodeState{maxDepth: DefaultMaxDepth, maxElements: DefaultMaxElements, loc: time.UTC}
		if err := st.start(data); err != nil {
			t.Fatal(err)
		}
		st.tz = newScanner(st.data)
		_, _, err := st.decode()
		if err != nil || len(st.issues) > 0 {
			t.Errorf("%s: the scanner handed over to encoding/xml: %v %s", name, err, cmp.Diff(nil, st.issues))
		}
	}
}

// TestDecodedOwnsItsStrings checks that no string in a decoded resource
// still points into the request body, which the scanner reads in place:
// overwriting the body after decoding must not change the resource.
func TestDecodedOwnsItsStrings(t *testing.T) {
	inputs := [][]byte{readFile(t, filepath.Join("testdata", "features.xml"))}
	for _, fx := range fixtures(t) {
		inputs = append(inputs, fx.xmlData)
	}
	for _, data := range inputs {
		body := bytes.Clone(data)
		got, err := Unmarshal(body)
		if err != nil {
			t.Fatal(err)
		}
		for i := range body {
			body[i] = 'x'
		}
		want, err := Unmarshal(data)
		if err != nil {
			t.Fatal(err)
		}
		if diff := diffProto(want, got); diff != "" {
			t.Fatalf("the decoded resource changed with its body (-want +got):\n%s", diff)
		}
	}
}
