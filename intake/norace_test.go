//go:build !race

package intake

// raceEnabled: the race detector is off, and the differential test
// compares its full count of numbers.
const raceEnabled = false
