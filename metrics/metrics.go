// Package metrics is qualdial's Prometheus instrumentation: the counters,
// gauges and histograms of calls, leads, webhooks, imports, the job queue
// and the database pools, and the handler that serves them.
//
// A *Metrics is safe for concurrent use, and every recording method is safe
// on a nil *Metrics (it records nothing), so components take one as an
// optional field. Labels never carry a phone number, a lead id or any other
// value a lead controls: campaigns are named by their numeric id, and every
// other label comes from a closed set of the product's own words.
package metrics

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/qualdial/qualdial/dialer"
)

// Namespace prefixes every qualdial metric.
const Namespace = "qualdial"

// Metrics holds qualdial's collectors on a registry of their own (with the
// Go runtime's and the process's).
type Metrics struct {
	reg *prometheus.Registry

	callsStarted    *prometheus.CounterVec
	callsEnded      *prometheus.CounterVec
	callsInProgress prometheus.Gauge
	callSlots       prometheus.Gauge
	toIdentify      *prometheus.HistogramVec
	toOptOutOffer   *prometheus.HistogramVec
	postDialDelay   *prometheus.HistogramVec
	callDuration    *prometheus.HistogramVec
	dtmfKeys        *prometheus.CounterVec
	amdVerdicts     *prometheus.CounterVec
	transfers       *prometheus.CounterVec
	classified      *prometheus.CounterVec
	speedToDial     *prometheus.HistogramVec
	preDialBlocks   *prometheus.CounterVec
	slaBreaches     prometheus.Counter
	webhooks        *prometheus.CounterVec
	importRows      *prometheus.CounterVec
	jobs            *prometheus.CounterVec
	jobDuration     *prometheus.HistogramVec
	httpRequests    *prometheus.CounterVec
	httpDuration    *prometheus.HistogramVec
}

// The buckets of the call timing histograms (seconds): fine around the
// 2-second rule of 47 CFR 64.1200(b)(3).
var complianceBuckets = []float64{0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 3, 5, 10}

// New builds the collectors and registers them, with the Go runtime and
// process collectors.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	counterVec := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	}
	histVec := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: buckets}, labels)
	}
	m.callsStarted = counterVec("calls_started_total", "Calls placed (INVITE sent or Twilio call created), by driver and campaign.", "driver", "campaign_id")
	m.callsEnded = counterVec("calls_ended_total", "Calls ended, by driver, campaign and disposition (answered, busy, no_answer, rejected, invalid_number, congestion, machine, canceled, failed).",
		"driver", "campaign_id", "disposition")
	m.callsInProgress = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: "calls_in_progress", Help: "Calls this process has in progress (dialling or answered)."})
	m.callSlots = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: "call_slots", Help: "Calls this process may have in progress at once (--max-calls)."})
	m.toIdentify = histVec("call_answer_to_identify_seconds", "From the answer to the start of the identification prompt's audio (the 2-second rule).", complianceBuckets, "driver")
	m.toOptOutOffer = histVec("call_answer_to_opt_out_offer_seconds", "From the answer to the start of the first question's audio, which offers the opt-out key.", complianceBuckets, "driver")
	m.postDialDelay = histVec("call_post_dial_delay_seconds", "From sending the call to the first ringing or answer (post-dial delay).",
		[]float64{0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 20}, "driver")
	m.callDuration = histVec("call_answered_duration_seconds", "Length of answered calls, from the answer to the end.",
		[]float64{5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600}, "driver")
	m.dtmfKeys = counterVec("dtmf_keys_total", "Key presses heard, by how they arrived (rfc4733, info, inband).", "method")
	m.amdVerdicts = counterVec("amd_verdicts_total", "Answering-machine detection's verdicts on answered calls, by driver, verdict (human, machine, unsure, overruled: a machine verdict a key pressed proved wrong) and cause.",
		"driver", "verdict", "cause")
	m.transfers = counterVec("transfers_total", "Live transfers of sales-ready leads, by driver and status (connected, no_answer, busy, failed, lead_hung_up, unsupported).",
		"driver", "status")
	m.classified = counterVec("leads_classified_total", "Calls that ended with a script outcome, by campaign, outcome (completed, opted_out, incomplete) and class.",
		"campaign_id", "outcome", "class")
	m.speedToDial = histVec("speed_to_first_dial_seconds", "From a lead's arrival to its first dial, by source (web_form, list, api).",
		[]float64{0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400}, "source")
	m.preDialBlocks = counterVec("predial_blocks_total", "Dials stopped by a pre-dial check, by reason.", "reason")
	m.slaBreaches = prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "sla_breaches_total", Help: "Sales-ready leads marked as past their follow-up SLA by this process's watcher."})
	m.webhooks = counterVec("webhook_deliveries_total", "Webhook delivery attempts, by result (delivered, failed: will retry, gave_up: no more retries).", "result")
	m.importRows = counterVec("import_rows_total", "Call-list rows imported, by outcome (accepted, duplicate, dnc, rejected).", "outcome")
	m.jobs = counterVec("jobs_worked_total", "River jobs worked by this process, by kind, queue and result (ok, error, panic... as returned).", "kind", "queue", "result")
	m.jobDuration = histVec("job_duration_seconds", "Time River jobs took to work, by kind and queue.",
		[]float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 30, 60, 120, 300}, "kind", "queue")
	m.httpRequests = counterVec("http_requests_total", "HTTP requests answered, by handler (api, web, twilio, probes, metrics, queue_ui) and status class.", "handler", "code")
	m.httpDuration = histVec("http_request_duration_seconds", "HTTP request time to the handler's return, by handler.",
		[]float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}, "handler")
	m.reg.MustRegister(m.callsStarted, m.callsEnded, m.callsInProgress, m.callSlots, m.toIdentify, m.toOptOutOffer,
		m.postDialDelay, m.callDuration, m.dtmfKeys, m.amdVerdicts, m.transfers, m.classified, m.speedToDial, m.preDialBlocks, m.slaBreaches,
		m.webhooks, m.importRows, m.jobs, m.jobDuration, m.httpRequests, m.httpDuration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Register adds collectors of other components (the database pools, the
// store's gauges) to the registry.
func (m *Metrics) Register(cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := m.reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// Gatherer is the registry, for tests that read the figures.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// Handler serves the metrics in Prometheus's text format (or OpenMetrics
// when asked), at most 4 scrapes at once; a scrape that cannot finish in
// 10 s gets a 503.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
		EnableOpenMetrics:   true,
	})
}

func campaignLabel(id int64) string { return strconv.FormatInt(id, 10) }

// SetCallSlots says how many calls this process may have at once.
func (m *Metrics) SetCallSlots(n int) {
	if m != nil {
		m.callSlots.Set(float64(n))
	}
}

// CallStarted counts a call placed, and one more in progress until
// CallEnded.
func (m *Metrics) CallStarted(driver string, campaignID int64) {
	if m == nil {
		return
	}
	m.callsStarted.WithLabelValues(driver, campaignLabel(campaignID)).Inc()
	m.callsInProgress.Inc()
}

// CallEnded counts a call's end with its disposition.
func (m *Metrics) CallEnded(driver string, campaignID int64, disposition string) {
	if m == nil {
		return
	}
	m.callsEnded.WithLabelValues(driver, campaignLabel(campaignID), disposition).Inc()
	m.callsInProgress.Dec()
}

// CallTimed records the timings of an answered call.
func (m *Metrics) CallTimed(driver string, t dialer.Timings) {
	if m == nil {
		return
	}
	observe := func(h *prometheus.HistogramVec, from, to time.Time) {
		if !from.IsZero() && !to.IsZero() && !to.Before(from) {
			h.WithLabelValues(driver).Observe(to.Sub(from).Seconds())
		}
	}
	ringing := t.Ringing
	if ringing.IsZero() {
		ringing = t.Answered
	}
	observe(m.postDialDelay, t.Sent, ringing)
	observe(m.toIdentify, t.Answered, t.Identify)
	observe(m.toOptOutOffer, t.Answered, t.OptOutOffer)
	observe(m.callDuration, t.Answered, t.Ended)
}

// MachineDetected counts machine detection's verdict on an answered call
// (nil: detection did not listen).
func (m *Metrics) MachineDetected(driver string, a *dialer.AMD) {
	if m == nil || a == nil || a.Verdict == "" {
		return
	}
	verdict := a.Verdict
	if a.Overruled {
		verdict = "overruled"
	}
	m.amdVerdicts.WithLabelValues(driver, verdict, amdCause(a.Cause)).Inc()
}

// Transferred counts a live transfer by its status.
func (m *Metrics) Transferred(driver, status string) {
	if m == nil {
		return
	}
	switch status {
	case "connected", "no_answer", "busy", "failed", "lead_hung_up", "unsupported":
	default:
		status = "other"
	}
	m.transfers.WithLabelValues(driver, status).Inc()
}

// amdCause keeps the cause label to a closed set.
func amdCause(c string) string {
	switch c {
	case "long_greeting", "max_words", "long_word", "after_greeting_silence", "initial_silence", "max_time", "keys":
		return c
	}
	if strings.HasPrefix(c, "machine") || c == "human" || c == "fax" || c == "unknown" {
		return c // Twilio's answered_by
	}
	return "other"
}

// KeysHeard counts key presses that arrived by method.
func (m *Metrics) KeysHeard(method string, presses int) {
	if m != nil && presses > 0 && method != "" && method != "none" {
		m.dtmfKeys.WithLabelValues(method).Add(float64(presses))
	}
}

// LeadClassified counts a call's script outcome and class (empty: none).
func (m *Metrics) LeadClassified(campaignID int64, outcome, class string) {
	if m != nil {
		m.classified.WithLabelValues(campaignLabel(campaignID), outcome, class).Inc()
	}
}

// FirstDial records how long a lead waited from its arrival to its first
// dial.
func (m *Metrics) FirstDial(source string, wait time.Duration) {
	if m != nil && wait >= 0 {
		m.speedToDial.WithLabelValues(source).Observe(wait.Seconds())
	}
}

// PreDialBlocked counts a dial stopped by a pre-dial check.
func (m *Metrics) PreDialBlocked(reason string) {
	if m != nil {
		m.preDialBlocks.WithLabelValues(reason).Inc()
	}
}

// SLABreached counts leads the watcher marked as breached.
func (m *Metrics) SLABreached(n int) {
	if m != nil && n > 0 {
		m.slaBreaches.Add(float64(n))
	}
}

// Webhook delivery results.
const (
	WebhookDelivered = "delivered"
	WebhookFailed    = "failed"
	WebhookGaveUp    = "gave_up"
)

// WebhookDelivery counts one delivery attempt's result.
func (m *Metrics) WebhookDelivery(result string) {
	if m != nil {
		m.webhooks.WithLabelValues(result).Inc()
	}
}

// ImportRows counts call-list rows by outcome.
func (m *Metrics) ImportRows(accepted, duplicates, dnc, rejected int) {
	if m == nil {
		return
	}
	for outcome, n := range map[string]int{"accepted": accepted, "duplicate": duplicates, "dnc": dnc, "rejected": rejected} {
		if n > 0 {
			m.importRows.WithLabelValues(outcome).Add(float64(n))
		}
	}
}

// HTTP wraps a handler to count its requests and time them under a
// handler label.
func (m *Metrics) HTTP(handler string, next http.Handler) http.Handler {
	if m == nil {
		return next
	}
	dur := m.httpDuration.WithLabelValues(handler)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			dur.Observe(time.Since(start).Seconds())
			m.httpRequests.WithLabelValues(handler, statusClass(sw.status)).Inc()
		}()
		next.ServeHTTP(sw, r)
	})
}

func statusClass(code int) string {
	if code == 0 {
		code = http.StatusOK
	}
	return strconv.Itoa(code/100) + "xx"
}

// statusWriter remembers the status a handler wrote. It passes Flush and
// the rest through Unwrap (http.ResponseController).
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush lets live pages (server-sent events) stream through the wrapper.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
