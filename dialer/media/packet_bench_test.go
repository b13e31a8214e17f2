package media

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// BenchmarkSessionPackets measures what one RTP packet costs a session —
// pacing, building and sending it, and receiving, parsing and listening to
// it at the other end — with pairs of sessions talking on loopback, the
// way the SIP driver and a phone do. One op is one packet sent; -benchmem's
// allocs/op is then allocations per packet (both ends, the runtime's timers
// and goroutine switches included), and cpu-ns/packet is the process's CPU
// time per packet.
//
//	go test ./dialer/media -run '^$' -bench SessionPackets -benchmem -benchtime 20000x
func BenchmarkSessionPackets(b *testing.B) {
	for _, pairs := range []int{50} {
		b.Run(fmt.Sprintf("pairs=%d", pairs), func(b *testing.B) {
			var all []*Session
			for range pairs {
				caller, phone := pair(b,
					SessionConfig{Codec: PCMU, Latch: true, SendEventPT: 101, RecvEventPT: 101, DetectInband: true},
					SessionConfig{Codec: PCMU, SendEventPT: 101, RecvEventPT: -1})
				all = append(all, caller, phone)
			}
			sent := func() int64 {
				var n int64
				for _, s := range all {
					f, _, _ := s.Stats()
					n += f
				}
				return n
			}
			time.Sleep(100 * time.Millisecond) // every session under way
			b.ReportAllocs()
			base, cpu0 := sent(), processCPU()
			b.ResetTimer()
			for sent()-base < int64(b.N) {
				time.Sleep(5 * time.Millisecond)
			}
			b.StopTimer()
			b.ReportMetric(float64(processCPU()-cpu0)/float64(sent()-base), "cpu-ns/packet")
		})
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
