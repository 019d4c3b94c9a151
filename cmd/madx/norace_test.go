//go:build !race

package main

// raceDetector is true in -race builds (see race_test.go).
const raceDetector = false
