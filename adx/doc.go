// Package adx reads IHE ADX (urn:ihe:qrph:adx:2015), the aggregate data
// format DHIS2 serves at /api/dataValueSets, and maps each ADX group to a
// MeasureReport from the stored definitions (docs/adx.md holds the table).
//
// It does no I/O of its own and knows nothing of HTTP: Parse reads bytes
// the caller has capped, and Map asks a Definitions (the consumer's small
// interface, which server/pipeline.Catalog satisfies) for Measures,
// Locations and compiled Measures. What it refuses it says as Conflicts in
// DHIS2's terms (an object and a value), each naming the group, the
// dataValue and the attribute it is about, what was found and what was
// expected.
package adx

// Namespace is the ADX namespace; a message in any other is refused.
const Namespace = "urn:ihe:qrph:adx:2015"
