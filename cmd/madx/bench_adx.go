package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
)

// adxURL is where the ADX phase posts: /api/dataValueSets beside the FHIR
// base, on the same host (docs/adx.md).
func adxURL(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base + "/../api/dataValueSets"
	}
	return u.Scheme + "://" + u.Host + "/api/dataValueSets"
}

// adxMessage is --bundle-size generated reports from report number first
// on, as one ADX message: the same reports the bundle phase sends, each an
// ADX group naming the Measure by its identifier and the facility by its
// facility code (locationJSON), so the server maps them back.
func (b *bencher) adxMessage(first int, rng *rand.Rand) ([]byte, error) {
	var out bytes.Buffer
	out.WriteString(`<?xml version="1.0" encoding="UTF-8"?><adx xmlns="urn:ihe:qrph:adx:2015" exported="2026-01-01T00:00:00Z">`)
	for i := range b.cfg.bundleSize {
		k := first + i
		r := b.gen.make(k, rng)
		var rep struct {
			Measure string
			Period  struct{ Start string }
			Group   []struct {
				Code       concept
				Population []struct{ Count int }
				Stratifier []struct {
					Stratum []struct {
						Component []struct {
							Code, Value concept
						}
						MeasureScore struct{ Value json.Number }
					}
				}
			}
		}
		if err := json.Unmarshal(r.body, &rep); err != nil {
			return nil, fmt.Errorf("bench adx: generated report %d: %w", k, err)
		}
		fmt.Fprintf(&out, `<group dataSet=%q orgUnit="BF-%05d" period="%s/P1M">`, b.adxDataSet, k%b.cfg.facilities, rep.Period.Start)
		for _, g := range rep.Group {
			de := g.Code.code()
			if len(g.Population) > 0 {
				fmt.Fprintf(&out, `<dataValue dataElement=%q value="%d"/>`, de, g.Population[0].Count)
			}
			for _, s := range g.Stratifier {
				for _, st := range s.Stratum {
					fmt.Fprintf(&out, `<dataValue dataElement=%q`, de)
					for _, c := range st.Component {
						fmt.Fprintf(&out, ` %s=%q`, c.Code.code(), c.Value.code())
					}
					fmt.Fprintf(&out, ` value="%s"/>`, st.MeasureScore.Value)
				}
			}
		}
		out.WriteString(`</group>`)
	}
	out.WriteString(`</adx>`)
	return out.Bytes(), nil
}

type concept struct {
	Coding []struct{ Code string }
}

func (c concept) code() string {
	for _, co := range c.Coding {
		if co.Code != "" {
			return co.Code
		}
	}
	return ""
}

// adxOK tells a DHIS2 ImportSummary without conflicts.
func adxOK(body []byte) bool { return bytes.Contains(body, []byte(`"status":"SUCCESS"`)) }
