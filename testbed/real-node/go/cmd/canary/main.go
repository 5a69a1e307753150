// canary is the process of the testbed image kir-testbed/canary:1, a suspect for node-side
// forensics. It has no shell and no other program beside it. At start it writes the value of
// $DROP to /tmp/kir-dropped (a changed file for the overlay's upper directory), keeps the reverse
// of $CANARY in heap memory only (never on disk, never in its arguments, never printed), then
// sleeps until SIGTERM or SIGINT, on which it exits at once. Every copy of the forward value in
// its memory (the environment block the kernel put on its stack, the Go runtime's copies) is
// then wiped, so that only the reverse can be found in a dump of it.
//
// $CANARY_HEAP_MB (optional) makes it hold that many more megabytes of touched heap, for
// benchmarks of memory collection.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Package-level, so that the values stay reachable (and in memory) for the process's life.
var (
	reversed []byte
	ballast  [][]byte
)

func reverse(s string) []byte {
	r := []rune(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	out := make([]byte, 0, len(s))
	for _, c := range r {
		out = fmt.Appendf(out, "%c", c)
	}
	return out
}

func main() {
	// Register first: as PID 1 a signal without a handler is ignored by the kernel.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)

	if drop, ok := os.LookupEnv("DROP"); ok {
		if err := os.WriteFile("/tmp/kir-dropped", []byte(drop), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "canary: cannot write /tmp/kir-dropped: %v\n", err)
		} else {
			fmt.Println("canary: wrote /tmp/kir-dropped")
		}
	}
	if c := os.Getenv("CANARY"); c != "" {
		reversed = reverse(c)
		c = ""
		fmt.Printf("canary: holding a %d-byte value in memory\n", len(reversed))
		if err := wipeForward(reversed); err != nil {
			fmt.Fprintf(os.Stderr, "canary: cannot wipe the forward value: %v\n", err)
			os.Exit(1)
		}
	}
	if mb, err := strconv.Atoi(os.Getenv("CANARY_HEAP_MB")); err == nil && mb > 0 {
		for i := 0; i < mb; i++ {
			chunk := make([]byte, 1<<20)
			for j := range chunk {
				chunk[j] = byte(i + j*7 + 1)
			}
			ballast = append(ballast, chunk)
		}
		fmt.Printf("canary: holding %d MB of heap\n", mb)
	}
	fmt.Println("canary: running")

	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		select {
		case s := <-signals:
			fmt.Printf("canary: %v, exiting\n", s)
			runtime.KeepAlive(reversed)
			runtime.KeepAlive(ballast)
			os.Exit(0)
		case <-tick.C:
		}
	}
}

// wipeForward overwrites with zeros every copy of the forward value in the process's writable
// memory (the kernel's environment block on the stack, the Go runtime's copies of it, the
// string read from it), by reading and writing /proc/self/mem. The value is recognised through
// its reverse, so that the search itself holds no copy of it; every buffer read is cleared.
func wipeForward(reversed []byte) error {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return err
	}
	mem, err := os.OpenFile("/proc/self/mem", os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer mem.Close()
	n := len(reversed)
	chunk := make([]byte, 1<<20)
	defer clear(chunk)
	for _, line := range strings.Split(string(maps), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 || !strings.HasPrefix(fields[1], "rw") || strings.Contains(line, "[v") {
			continue
		}
		bounds := strings.SplitN(fields[0], "-", 2)
		start, err1 := strconv.ParseUint(bounds[0], 16, 64)
		end, err2 := strconv.ParseUint(bounds[1], 16, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		// Overlapping reads, so that a copy across two reads is seen whole in one.
		for at := start; at < end; at += uint64(len(chunk) - n) {
			size := min(uint64(len(chunk)), end-at)
			got, _ := mem.ReadAt(chunk[:size], int64(at))
			for i := 0; i+n <= got; i++ {
				if matchesReversed(chunk[i:i+n], reversed) {
					if _, err := mem.WriteAt(make([]byte, n), int64(at)+int64(i)); err != nil {
						return err
					}
				}
			}
			clear(chunk)
			if size < uint64(len(chunk)) {
				break
			}
		}
	}
	return nil
}

func matchesReversed(window, reversed []byte) bool {
	for k := range window {
		if window[k] != reversed[len(reversed)-1-k] {
			return false
		}
	}
	return true
}
