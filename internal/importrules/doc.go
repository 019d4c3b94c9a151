// Package importrules holds no code: its test keeps each third-party
// library in its room (gin in server, the mongo driver in store/mongo, jwt
// in server/auth, ...) and FerretDB out of the madx binary, by reading
// `go list`.
package importrules
