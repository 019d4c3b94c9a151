package server

import (
	"time"
)

// The completeness grid is what $completeness computes and /ui/ draws:
// for one Measure, each facility owed a report (grouped by its district)
// times each period of the schedule in the asked range. $completeness
// renders it as a MeasureReport of type summary; the page as HTML. One
// computation, two views (docs/reporting.md).

// cellState is what one facility did for one period.
type cellState int

const (
	// cellNotOwed: the facility owed nothing for the period (it opened
	// after, closed before, or the period is not yet due to be reported).
	cellNotOwed cellState = iota
	// cellOnTime: a current report received by the due date.
	cellOnTime
	// cellLate: a current report, received after the due date.
	cellLate
	// cellMissing: owed and no report, nor any refused attempt.
	cellMissing
	// cellRefused: owed, no report stored, but refused attempts audited.
	cellRefused
)

// gridPeriod is one reporting period, both days inclusive (civil days,
// UTC), with its due date.
type gridPeriod struct {
	Start, Last time.Time
	Due         time.Time
}

// gridCell is one facility × period.
type gridCell struct {
	State cellState
	// ReportID and Version name the current report (on time or late).
	ReportID string
	Version  int64
	// Refused counts the refused attempts the audit trail holds for the
	// facility and period; LastRefusal is the latest one's AuditEvent id.
	Refused     int
	LastRefusal string
}

// gridCounts are the populations of $completeness for a row, a column or
// a district: expected = onTime + late + missing (+ refused, which is
// also missing).
type gridCounts struct {
	Expected, Received, OnTime, Late, Missing, Refused int
}

// gridFacility is one row: a Location owed reports.
type gridFacility struct {
	Ref   string // "Location/<id>"
	Name  string
	Cells []gridCell // one per gridPeriod, in order
	Total gridCounts
}

// gridDistrict is the facilities under one parent Location (their
// partOf), with their roll-up.
type gridDistrict struct {
	Ref        string // "Location/<id>", or "" for facilities with no parent
	Name       string
	Facilities []gridFacility
	Total      gridCounts
	PerPeriod  []gridCounts // one per gridPeriod
}

// completenessGrid is the whole answer.
type completenessGrid struct {
	MeasureID  string // the Measure's id
	MeasureURL string // its canonical url (|version when pinned)
	Title      string
	Subject    string // the Location or Organization asked about; "" all the caller may read
	Periods    []gridPeriod
	Districts  []gridDistrict
	Total      gridCounts
	PerPeriod  []gridCounts // one per gridPeriod
	// AsOf is the instant the grid was computed (a period not yet due
	// counts its reports received, and owes nothing yet).
	AsOf time.Time
}

// completenessQuery is what $completeness and /ui/ ask for.
type completenessQuery struct {
	MeasureID  string
	Start, End time.Time // civil days, inclusive; periods overlapping them
	Subject    string    // Location/x or Organization/x; "" all the caller may read
}
