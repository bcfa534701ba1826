//go:build race

package api_test

// raceEnabled is true in a -race build, where Pebble allocates its block
// cache and memtables in the Go heap and frees them asynchronously, so heap
// figures say nothing about one test's memory.
const raceEnabled = true
