package media

import (
	"sync/atomic"
	"time"
)

// jitterBuckets hold |interval − 20 ms| in 0.1 ms steps up to 25 ms; the
// last one also takes everything above.
const jitterBuckets = 250

// JitterStats is a histogram of how far each send interval strayed from
// 20 ms. It is safe for concurrent use and costs no allocation per packet.
type JitterStats struct {
	buckets [jitterBuckets + 1]atomic.Int64
	count   atomic.Int64
}

// Add records one send interval.
func (j *JitterStats) Add(interval time.Duration) {
	dev := interval - FrameInterval
	if dev < 0 {
		dev = -dev
	}
	b := min(int(dev/(100*time.Microsecond)), jitterBuckets)
	j.buckets[b].Add(1)
	j.count.Add(1)
}

// Merge adds another histogram's counts to j.
func (j *JitterStats) Merge(o *JitterStats) {
	for i := range o.buckets {
		if n := o.buckets[i].Load(); n > 0 {
			j.buckets[i].Add(n)
		}
	}
	j.count.Add(o.count.Load())
}

// Count is the number of intervals recorded.
func (j *JitterStats) Count() int64 { return j.count.Load() }

// Percentile returns the deviation below which the fraction p (0-1) of the
// intervals fall, to 0.1 ms.
func (j *JitterStats) Percentile(p float64) time.Duration {
	total := j.count.Load()
	if total == 0 {
		return 0
	}
	want := int64(p * float64(total))
	var seen int64
	for i := range j.buckets {
		seen += j.buckets[i].Load()
		if seen > want || i == jitterBuckets {
			return time.Duration(i+1) * 100 * time.Microsecond
		}
	}
	return 0
}
