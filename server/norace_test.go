//go:build !race

package server_test

// raceDetector is true in -race builds (see race_test.go).
const raceDetector = false
