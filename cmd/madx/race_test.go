//go:build race

package main

// raceDetector is true in -race builds, which run several times slower:
// latency bars are reported there, not enforced.
const raceDetector = true
