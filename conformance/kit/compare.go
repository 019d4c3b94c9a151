package kit

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
)

// diffModuloMeta compares two FHIR JSON trees, ignoring meta (servers own
// versionId and lastUpdated and may add tags or profiles), and returns a
// short description of the first differences, or "" when equal. Numbers
// compare as written (decoded with UseNumber), so 1.50 != 1.5: FHIR
// decimals keep their precision.
func diffModuloMeta(want, got any) string {
	w, _ := want.(map[string]any)
	g, _ := got.(map[string]any)
	if w == nil || g == nil {
		return "not a JSON object"
	}
	w, g = withoutMeta(w), withoutMeta(g)
	var diffs []string
	diffTree("", w, g, &diffs)
	if len(diffs) == 0 {
		return ""
	}
	if len(diffs) > 5 {
		diffs = append(diffs[:5], fmt.Sprintf("... %d more", len(diffs)-5))
	}
	return fmt.Sprint(diffs)
}

func withoutMeta(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if k != "meta" {
			out[k] = v
		}
	}
	return out
}

func diffTree(at string, w, g any, out *[]string) {
	switch wv := w.(type) {
	case map[string]any:
		gv, ok := g.(map[string]any)
		if !ok {
			*out = append(*out, fmt.Sprintf("%s: object became %s", at, short(g)))
			return
		}
		keys := map[string]bool{}
		for k := range wv {
			keys[k] = true
		}
		for k := range gv {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			p := k
			if at != "" {
				p = at + "." + k
			}
			diffTree(p, wv[k], gv[k], out)
		}
	case []any:
		gv, ok := g.([]any)
		if !ok || len(gv) != len(wv) {
			*out = append(*out, fmt.Sprintf("%s: %d items became %s", at, len(wv), short(g)))
			return
		}
		for i := range wv {
			diffTree(fmt.Sprintf("%s[%d]", at, i), wv[i], gv[i], out)
		}
	default:
		if !reflect.DeepEqual(w, g) {
			*out = append(*out, fmt.Sprintf("%s: %s became %s", at, short(w), short(g)))
		}
	}
}

func short(v any) string {
	if v == nil {
		return "absent"
	}
	b, _ := json.Marshal(v)
	if len(b) > 60 {
		return string(b[:60]) + "..."
	}
	return string(b)
}
