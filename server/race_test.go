//go:build race

package server_test

// raceDetector is true in -race builds, which run several times slower:
// volume tests shrink there, since the detector needs the interleavings,
// not the volume.
const raceDetector = true
