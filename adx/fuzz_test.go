package adx

import (
	"errors"
	"os"
	"testing"
)

// FuzzParse: no input makes Parse panic or fail without a *SyntaxError,
// and what it accepts has the attributes the ADX schema requires.
func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile("../testdata/adx/dhis2-adx-example.xml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(head + `<group orgUnit="O" period="2015-01-01/P1M" dataSet="D"><dataValue dataElement="A" value="1"/></group></adx>`))
	f.Add([]byte(`<!DOCTYPE adx [<!ENTITY a "b">]><adx xmlns="urn:ihe:qrph:adx:2015">&a;</adx>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data, Limits{MaxBytes: 1 << 16})
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *SyntaxError", err)
			}
			return
		}
		if len(m.Groups) == 0 {
			t.Fatal("accepted a message without groups")
		}
		for _, g := range m.Groups {
			if g.OrgUnit == "" || g.Period == "" || g.DataSet == "" || len(g.Values) == 0 {
				t.Fatalf("accepted an incomplete group %+v", g)
			}
			for _, v := range g.Values {
				if v.DataElement == "" {
					t.Fatalf("accepted a dataValue without dataElement %+v", v)
				}
			}
			_, _ = ParsePeriod(g.Period)
		}
	})
}
