//go:build race

package intake

// raceEnabled: the race detector is on, and the long differential test
// compares fewer numbers.
const raceEnabled = true
