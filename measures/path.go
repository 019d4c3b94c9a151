package measures

import "strconv"

// FHIRPath expressions are built only when an issue is raised, so the valid
// path allocates nothing for them.

func itoa(i int) string { return strconv.Itoa(i) }

func idx(base, elem string, i int) string { return base + "." + elem + "[" + itoa(i) + "]" }

func groupPath(g int) string { return idx("MeasureReport", "group", g) }

func populationPath(g, p int) string { return idx(groupPath(g), "population", p) }

func stratifierPath(g, s int) string { return idx(groupPath(g), "stratifier", s) }

func stratumPath(g, s, k int) string { return idx(stratifierPath(g, s), "stratum", k) }

func componentPath(g, s, k, c int) string { return idx(stratumPath(g, s, k), "component", c) }

func measureGroupPath(g int) string { return idx("Measure", "group", g) }
