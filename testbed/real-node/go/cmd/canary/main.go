// canary is the process of the testbed image kir-testbed/canary:1, a suspect for node-side
// forensics. It has no shell and no other program beside it. At start it writes the value of
// $DROP to /tmp/kir-dropped (a changed file for the overlay's upper directory), keeps the reverse
// of $CANARY in heap memory only (never on disk, never in its arguments, never printed), then
// sleeps until SIGTERM or SIGINT, on which it exits at once.
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
		fmt.Printf("canary: holding a %d-byte value in memory\n", len(reversed))
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
