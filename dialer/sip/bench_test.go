package sip_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/qualdial/qualdial/dialer"
	"github.com/qualdial/qualdial/dialer/sip"
	"github.com/qualdial/qualdial/dialer/softphone"
	"github.com/qualdial/qualdial/internal/fixture"
	"github.com/qualdial/qualdial/ivr"
)

// benchQuestions is how many one-key questions a benchmark call answers.
const benchQuestions = 30

// TestMain doubles as the softphone process of the concurrency benchmark, so
// that the benchmark's CPU and memory figures are the driver's alone.
func TestMain(m *testing.M) {
	if addr := os.Getenv("QUALDIAL_BENCH_PHONE"); addr != "" {
		benchPhone(addr)
		return
	}
	os.Exit(m.Run())
}

// benchPhone answers every call and presses 1 half a second into each
// prompt, until its stdin closes; then it prints how many keys it pressed.
func benchPhone(addr string) {
	keys := strings.TrimSuffix(strings.Repeat("~1,", benchQuestions), ",")
	p, err := softphone.Start(softphone.Config{ListenAddr: addr, Default: softphone.Persona{Keys: keys, Ring: 10 * time.Millisecond}})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("ready", p.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	pressed := 0
	for _, c := range p.Calls() {
		pressed += len(c.Pressed)
	}
	p.Close()
	fmt.Println("pressed", pressed)
}

func benchScript(tb testing.TB) *ivr.Engine {
	var b strings.Builder
	b.WriteString("id: bench\nversion: 1\nlanguage: en-US\nidentify: \"This is a load test call from Acme.\"\n")
	b.WriteString("opt_out: {key: \"9\", say: \"Goodbye.\"}\ndimensions: [need]\ndefaults: {timeout: 6s, retries: 1}\nquestions:\n")
	for i := 1; i <= benchQuestions; i++ {
		next := fmt.Sprintf("q%d", i+1)
		if i == benchQuestions {
			next = "end"
		}
		fmt.Fprintf(&b, "  - id: q%d\n    say: \"Question %d. Press 1 to go on, or 9 to stop these calls.\"\n    keys: {\"1\": {score: {need: 1}, next: %s}}\n", i, i, next)
	}
	b.WriteString("endings: {end: {say: \"Goodbye.\"}}\nclasses:\n  - {name: done, route: none}\n")
	s, ds := ivr.Parse("bench.yaml", []byte(b.String()))
	if s == nil {
		tb.Fatal(ds)
	}
	return ivr.NewEngine(s)
}

func rssKB(tb testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Skip("no /proc/self/status")
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			n, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return n
		}
	}
	return 0
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkConcurrentCalls holds N answered calls at once, each playing
// prompts continuously while the softphone (another process) presses a
// key during every prompt, and reports the driver's CPU and memory per call,
// its CPU per RTP packet sent (about as many are received), its RTP send
// jitter and the keys heard against the keys pressed.
//
//	go test ./dialer/sip -run '^$' -bench ConcurrentCalls -benchtime 1x
//
// One size only: -bench 'ConcurrentCalls/calls=1000$'.
func BenchmarkConcurrentCalls(b *testing.B) {
	for _, n := range []int{100, 250, 500, 1000} {
		b.Run(fmt.Sprintf("calls=%d", n), func(b *testing.B) {
			for range b.N {
				benchCalls(b, n)
			}
		})
	}
}

func benchCalls(b *testing.B, n int) {
	phone := exec.Command(os.Args[0], "-test.run=^$")
	phone.Env = append(os.Environ(), "QUALDIAL_BENCH_PHONE=127.0.0.1:0")
	stdin, _ := phone.StdinPipe()
	stdout, _ := phone.StdoutPipe()
	if err := phone.Start(); err != nil {
		b.Fatal(err)
	}
	defer phone.Process.Kill()
	lines := bufio.NewScanner(stdout)
	lines.Scan()
	ready := strings.Fields(lines.Text())
	if len(ready) != 2 || ready[0] != "ready" {
		b.Fatalf("softphone: %q", lines.Text())
	}
	d, err := sip.New(sip.Config{ListenAddr: "127.0.0.1:0", Prompts: fixture.Hum(3 * time.Second), MediaTimeout: 30 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	eng := benchScript(b)

	baseRSS, baseCPU := rssKB(b), cpuTime()
	var heard, answered atomic.Int64
	var peakRSS atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			call, err := d.Dial(ctx, dialer.DialRequest{To: fmt.Sprintf("sip:lead%d@%s", i, ready[1]), CallerID: "+15550100", RingTimeout: 30 * time.Second})
			if err != nil {
				b.Error(err)
				return
			}
			answered.Add(1)
			out := dialer.Run(ctx, call, eng, dialer.RunOptions{})
			heard.Add(int64(len(out.KeysHeard())))
		})
		time.Sleep(2 * time.Millisecond) // 500 calls/s ramp, not one burst
	}
	stopSampling := make(chan struct{})
	go func() {
		for {
			select {
			case <-stopSampling:
				return
			case <-time.After(500 * time.Millisecond):
				if r := rssKB(b); r > peakRSS.Load() {
					peakRSS.Store(r)
				}
			}
		}
	}()
	wg.Wait()
	close(stopSampling)
	elapsed := time.Since(start)
	cpu := cpuTime() - baseCPU
	stdin.Close()
	pressed := 0
	for lines.Scan() {
		if f := strings.Fields(lines.Text()); len(f) == 2 && f[0] == "pressed" {
			pressed, _ = strconv.Atoi(f[1])
		}
	}
	_ = phone.Wait()

	callSeconds := float64(n) * elapsed.Seconds()
	coreShare := cpu.Seconds() / callSeconds // of one core, per call
	j := d.SendJitter()
	b.ReportMetric(float64(answered.Load()), "answered")
	b.ReportMetric(elapsed.Seconds(), "call-s")
	b.ReportMetric(1/coreShare, "calls/core")
	// CPU per packet sent does not grow when a loaded machine stretches the
	// calls (calls/core does: the same work over more call-seconds).
	b.ReportMetric(float64(cpu.Microseconds())/float64(max(j.Count(), 1)), "cpu-us/packet")
	b.ReportMetric(float64(peakRSS.Load()-baseRSS)/float64(n), "KB-RSS/call")
	b.ReportMetric(float64(j.Percentile(0.50).Microseconds())/1000, "jitter-p50-ms")
	b.ReportMetric(float64(j.Percentile(0.99).Microseconds())/1000, "jitter-p99-ms")
	b.ReportMetric(float64(heard.Load()), "keys-heard")
	b.ReportMetric(float64(pressed), "keys-pressed")
}
