package mongo

import (
	"errors"
	"testing"

	"github.com/madx-project/madx/store"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver"
)

// TestRefusalsAreBadQueries: MongoDB refusing the size or values a request
// brought is ErrBadQuery (a 400), while a server that cannot answer stays
// ErrUnavailable (a 503). FerretDB refuses none of these, so the codes
// real MongoDB answers with are built here.
func TestRefusalsAreBadQueries(t *testing.T) {
	tests := []struct {
		name string
		err  error
		bad  bool
	}{
		{"regular expression too long", mongo.CommandError{Code: 51091, Message: "Regular expression is too long"}, true},
		{"command too large", mongo.CommandError{Code: 10334, Name: "BSONObjectTooLarge"}, true},
		{"bad value", mongo.CommandError{Code: 2, Name: "BadValue"}, true},
		{"document too large (driver)", driver.ErrDocumentTooLarge, true},
		{"not primary", mongo.CommandError{Code: 10107, Name: "NotWritablePrimary"}, false},
		{"shutting down", mongo.CommandError{Code: 91, Name: "ShutdownInProgress"}, false},
		{"client disconnected", mongo.ErrClientDisconnected, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := mapErr("search MeasureReport", tc.err)
			var qe *store.QueryError
			if got := errors.Is(err, store.ErrBadQuery); got != tc.bad {
				t.Fatalf("%v: ErrBadQuery %v, want %v", err, got, tc.bad)
			}
			if tc.bad && (!errors.As(err, &qe) || qe.Reason == "" || errors.Is(err, store.ErrUnavailable)) {
				t.Errorf("%v: want a *QueryError with a reason, not ErrUnavailable", err)
			}
			if !tc.bad && !errors.Is(err, store.ErrUnavailable) {
				t.Errorf("%v: want ErrUnavailable", err)
			}
		})
	}
}
