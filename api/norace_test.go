//go:build !race

package api_test

// raceEnabled is true in a -race build (see race_test.go).
const raceEnabled = false
