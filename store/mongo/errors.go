package mongo

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/madx-project/madx/store"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver"
)

// This file is the one place where driver errors become store sentinels.

// errLostRace is returned inside the engine when a concurrent writer changed
// a document between our read and our compare-and-swap; Write retries.
// txn names a pending no-transaction write that holds what we wanted, orphan
// a history version left by another writer: Write settles or clears them
// before retrying.
type errLostRace struct{ txn, orphan string }

func (e errLostRace) Error() string { return "lost a race with a concurrent writer" }

var lostRace = errLostRace{}

// unavailableError is a driver error turned into ErrUnavailable. Its text
// keeps the driver's message for the logs, but its chain holds only the
// sentinel and a context error: callers test sentinels, never driver types.
// The engine itself still reaches the cause, to let the driver retry a
// transient transaction error.
type unavailableError struct {
	op    string
	cause error
}

func (e *unavailableError) Error() string {
	return fmt.Sprintf("mongo: %s: %v: %v", e.op, store.ErrUnavailable, e.cause)
}

func (e *unavailableError) Unwrap() []error {
	if ctxErr := contextErr(e.cause); ctxErr != nil {
		return []error{store.ErrUnavailable, ctxErr}
	}
	return []error{store.ErrUnavailable}
}

// unavailable wraps a driver error as ErrUnavailable, naming the operation,
// unless the server refused what the request asked for (tooMuch): that is
// ErrBadQuery, the caller's fault, and no retry helps.
func unavailable(op string, err error) error {
	if reason := tooMuch(err); reason != "" {
		return &store.QueryError{Op: "mongo: " + op, Reason: reason, Cause: err}
	}
	return &unavailableError{op: op, cause: err}
}

// refusals are MongoDB's answers to a command that exceeds one of its
// limits (www.mongodb.com/docs/manual/reference/limits/), by error code,
// with what a client is told. The command is ours; the sizes in it are
// the client's (a search of megabytes of values, a very long prefix).
var refusals = map[int]string{
	2:     "a search value is one the database refuses (BadValue)",
	10334: "the search or the resource is larger than the database takes in one document (MongoDB's 16 MiB)",
	51091: "a search value is longer than the database matches (MongoDB's regular expression limit)",
}

// tooMuch is the public reason when err is the database refusing the
// request's size or values, else "".
func tooMuch(err error) string {
	if errors.Is(err, driver.ErrDocumentTooLarge) {
		return refusals[10334]
	}
	var se mongo.ServerError
	if !errors.As(err, &se) || mongo.IsNetworkError(err) || mongo.IsTimeout(err) {
		return ""
	}
	for code, reason := range refusals {
		if se.HasErrorCode(code) {
			return reason
		}
	}
	return ""
}

// transient returns the driver error under err when the server labelled it
// TransientTransactionError, so that WithTransaction retries the callback.
func transient(err error) error {
	var ue *unavailableError
	var le mongo.LabeledError
	if errors.As(err, &ue) && errors.As(ue.cause, &le) && le.HasErrorLabel("TransientTransactionError") {
		return ue.cause
	}
	return err
}

func contextErr(err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return context.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return context.DeadlineExceeded
	}
	return nil
}

// mapErr turns a driver error into a sentinel: duplicate keys into
// ErrDuplicateKey, everything else into ErrUnavailable.
func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if isDup(err) {
		return fmt.Errorf("mongo: %s: %w", op, store.ErrDuplicateKey)
	}
	return unavailable(op, err)
}

// isDup reports a unique-index violation. FerretDB 1.24 reports one on
// update as an InternalError carrying SQLite's "UNIQUE constraint failed",
// not as E11000, hence the second test.
func isDup(err error) bool {
	if mongo.IsDuplicateKeyError(err) {
		return true
	}
	var se mongo.ServerError
	return errors.As(err, &se) && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// isDupWrite is isDup for one write of a bulk write.
func isDupWrite(we mongo.WriteError) bool {
	return we.HasErrorCode(11000) || we.HasErrorCode(11001) || strings.Contains(we.Message, "UNIQUE constraint failed")
}

var indexInMessage = regexp.MustCompile(`index: (\S+)`)

// dupOnID reports whether a duplicate-key error is on _id, when the server
// says so: MongoDB names the index (and gives keyPattern); FerretDB names
// nothing, and known is then false.
func dupOnID(err error) (onID, known bool) {
	var we mongo.WriteException
	if errors.As(err, &we) {
		for _, e := range we.WriteErrors {
			if kp, ok := e.Raw.Lookup("errInfo", "keyPattern").DocumentOK(); ok {
				_, lerr := kp.LookupErr("_id")
				return lerr == nil, true
			}
			if kp, ok := e.Raw.Lookup("keyPattern").DocumentOK(); ok {
				_, lerr := kp.LookupErr("_id")
				return lerr == nil, true
			}
			if m := indexInMessage.FindStringSubmatch(e.Message); m != nil {
				return m[1] == "_id_", true
			}
		}
	}
	if m := indexInMessage.FindStringSubmatch(err.Error()); m != nil {
		return m[1] == "_id_", true
	}
	if strings.Contains(err.Error(), "UNIQUE constraint failed") {
		// FerretDB on update: _id never changes in an update, so a
		// secondary unique index fired.
		return strings.Contains(err.Error(), "__id_"), true
	}
	return false, false
}

// notFound reports the driver's "no document" answer.
func notFound(err error) bool { return errors.Is(err, mongo.ErrNoDocuments) }

// isDriverError reports a raw driver error, as WithTransaction returns from
// a commit (the engine's own errors never expose driver types).
func isDriverError(err error) bool {
	var ue *unavailableError
	if errors.As(err, &ue) {
		return false
	}
	var se mongo.ServerError
	var le mongo.LabeledError
	return errors.As(err, &se) || errors.As(err, &le) || mongo.IsNetworkError(err) || mongo.IsTimeout(err)
}
