package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/qualdial/qualdial/dialer"
)

func jobRow(kind, queue string) *rivertype.JobRow { return &rivertype.JobRow{Kind: kind, Queue: queue} }

// TestNilMetricsRecordNothing: components hold an optional *Metrics.
func TestNilMetricsRecordNothing(t *testing.T) {
	var m *Metrics
	m.SetCallSlots(1)
	m.CallStarted("sip", 1)
	m.CallEnded("sip", 1, "busy")
	m.CallTimed("sip", dialer.Timings{})
	m.KeysHeard("info", 3)
	m.LeadClassified(1, "completed", "sql")
	m.FirstDial("api", time.Second)
	m.PreDialBlocked("dnc")
	m.SLABreached(2)
	m.WebhookDelivery(WebhookFailed)
	m.ImportRows(1, 2, 3, 4)
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	if got := m.HTTP("api", h); fmt.Sprint(got) != fmt.Sprint(h) {
		t.Error("a nil Metrics wraps handlers")
	}
	called := false
	if err := m.Jobs().Work(context.Background(), jobRow("k", "q"), func(context.Context) error { called = true; return nil }); err != nil || !called {
		t.Errorf("job middleware of nil metrics: %v, called %v", err, called)
	}
}

func TestCallsAndTimings(t *testing.T) {
	m := New()
	m.CallStarted("sip", 7)
	m.CallStarted("sip", 7)
	m.CallEnded("sip", 7, "busy")
	if got := testutil.ToFloat64(m.callsInProgress); got != 1 {
		t.Errorf("in progress %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.callsEnded.WithLabelValues("sip", "7", "busy")); got != 1 {
		t.Errorf("ended busy %v", got)
	}
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	// No ringing: the post-dial delay runs to the answer. No identification
	// seen: nothing observed. An end before the answer: nothing either.
	m.CallTimed("sip", dialer.Timings{Sent: at, Answered: at.Add(3 * time.Second), Ended: at.Add(2 * time.Second)})
	if n := testutil.CollectAndCount(m.postDialDelay); n != 1 {
		t.Errorf("post-dial delay series %d", n)
	}
	if got := sampleSum(t, m, "qualdial_call_post_dial_delay_seconds"); got != 3 {
		t.Errorf("post-dial delay %v s, want 3", got)
	}
	if n := testutil.CollectAndCount(m.toIdentify); n != 0 {
		t.Errorf("identification observed without a time: %d", n)
	}
	if n := testutil.CollectAndCount(m.callDuration); n != 0 {
		t.Errorf("a negative call length was observed")
	}
	m.KeysHeard("none", 2)
	m.KeysHeard("info", 0)
	if n := testutil.CollectAndCount(m.dtmfKeys); n != 0 {
		t.Errorf("keys counted for method none or zero presses: %d", n)
	}
}

func sampleSum(t *testing.T, m *Metrics, name string) float64 {
	t.Helper()
	fams, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name {
			return f.GetMetric()[0].GetHistogram().GetSampleSum()
		}
	}
	t.Fatalf("no %s", name)
	return 0
}

func TestHTTPStatusClasses(t *testing.T) {
	m := New()
	for _, code := range []int{0, 201, 404, 503} {
		h := m.HTTP("api", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if code != 0 {
				w.WriteHeader(code)
			}
			_, _ = w.Write([]byte("x"))
		}))
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}
	for class, want := range map[string]float64{"2xx": 2, "4xx": 1, "5xx": 1} {
		if got := testutil.ToFloat64(m.httpRequests.WithLabelValues("api", class)); got != want {
			t.Errorf("%s: %v, want %v", class, got, want)
		}
	}
	// Server-sent events still stream through the wrapper.
	rec := httptest.NewRecorder()
	m.HTTP("web", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush through the wrapper: %v", err)
		}
	})).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if !rec.Flushed {
		t.Error("not flushed")
	}
}

func TestJobResults(t *testing.T) {
	m := New()
	mw := m.Jobs()
	for _, err := range []error{nil, errors.New("boom"), river.JobSnooze(time.Minute), river.JobCancel(errors.New("no")), fmt.Errorf("x: %w", context.DeadlineExceeded)} {
		_ = mw.Work(context.Background(), jobRow("dial_lead", "dial_sip"), func(context.Context) error { return err })
	}
	for result, want := range map[string]float64{"ok": 1, "error": 1, "snoozed": 1, "cancelled": 1, "timeout": 1} {
		if got := testutil.ToFloat64(m.jobs.WithLabelValues("dial_lead", "dial_sip", result)); got != want {
			t.Errorf("%s: %v", result, got)
		}
	}
}
