//go:build race

package aaguid

// raceEnabled is true when the race detector slows every allocation down too much for timings to mean much.
const raceEnabled = true
