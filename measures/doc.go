// Package measures is madx's validation engine for IHE mADX: it checks a
// Measure against the mADX-Measure profile (QRPH-59 2:3.59.4.2.2), compiles a
// Measure with its terminology into lookup tables (a Definition), and checks
// MeasureReports against a Definition and a Registry of known reporting
// facilities (QRPH-58 2:3.58.4.1.2), returning every issue in one pass.
//
// The package is pure: no I/O, no clock, no logger. Terminology is reached
// only through the caller's Terminology, and only while compiling; Check and
// ResolveSubject read nothing but their arguments. Definitions and Registries
// are immutable once built and safe for concurrent use.
//
// Issues follow QRPH-58 2:3.58.4.2.3: severity fatal for a rejection,
// warning for something accepted but worth reporting; each carries a
// FHIRPath expression in R4/HAPI style with indexes
// (MeasureReport.group[0].stratifier[1].stratum[3].component[0].value), or,
// for a missing element, the path of its parent. docs/validation.md lists every rule.
package measures
