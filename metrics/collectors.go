package metrics

import (
	"context"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/qualdial/qualdial/store"
)

// PoolCollector reports the database pools' statistics, labelled by pool
// (api, workers, health): connections in use, idle and open against the
// maximum, and how often and how long a request waited for one.
type PoolCollector struct {
	pools map[string]*pgxpool.Pool

	acquired, idle, total, max, acquires, emptyAcquires, canceled, waitSeconds *prometheus.Desc
}

// NewPoolCollector reports the named pools.
func NewPoolCollector(pools map[string]*pgxpool.Pool) *PoolCollector {
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "db_pool", name), help, []string{"pool"}, nil)
	}
	return &PoolCollector{
		pools:         pools,
		acquired:      desc("acquired_conns", "Connections in use."),
		idle:          desc("idle_conns", "Idle connections."),
		total:         desc("total_conns", "Open connections (in use, idle and being opened)."),
		max:           desc("max_conns", "Most connections the pool opens."),
		acquires:      desc("acquires_total", "Connections taken from the pool."),
		emptyAcquires: desc("empty_acquires_total", "Takes that had to wait because no connection was idle."),
		canceled:      desc("canceled_acquires_total", "Takes given up (the request's deadline passed while waiting)."),
		waitSeconds:   desc("acquire_wait_seconds_total", "Time spent waiting for a connection when none was idle."),
	}
}

// Describe implements prometheus.Collector.
func (c *PoolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.acquired, c.idle, c.total, c.max, c.acquires, c.emptyAcquires, c.canceled, c.waitSeconds} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *PoolCollector) Collect(ch chan<- prometheus.Metric) {
	for name, p := range c.pools {
		if p == nil {
			continue
		}
		s := p.Stat()
		gauge := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, name)
		}
		counter := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, name)
		}
		gauge(c.acquired, float64(s.AcquiredConns()))
		gauge(c.idle, float64(s.IdleConns()))
		gauge(c.total, float64(s.TotalConns()))
		gauge(c.max, float64(s.MaxConns()))
		counter(c.acquires, float64(s.AcquireCount()))
		counter(c.emptyAcquires, float64(s.EmptyAcquireCount()))
		counter(c.canceled, float64(s.CanceledAcquireCount()))
		counter(c.waitSeconds, s.EmptyAcquireWaitTime().Seconds())
	}
}

// StateCollector asks the database for the state of the work at each
// scrape (store.OpsGauges: the same on every replica, so aggregate it with
// max(), not sum()), bounded by a timeout; when it cannot answer, the
// scrape reports qualdial_db_state_up 0 and no stale figures.
type StateCollector struct {
	read    func(ctx context.Context) (store.OpsGauges, error)
	timeout time.Duration

	up, slaPending, slaBreached, active, due, jobs, abandon *prometheus.Desc
}

// NewStateCollector reads the state with read, at most timeout per scrape
// (zero: 5 s).
func NewStateCollector(read func(ctx context.Context) (store.OpsGauges, error), timeout time.Duration) *StateCollector {
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, labels, nil)
	}
	return &StateCollector{
		read:        read,
		timeout:     timeout,
		up:          desc("db_state_up", "1 when the database answered this scrape's state queries."),
		slaPending:  desc("sla_pending_leads", "Sales-ready leads not yet contacted, within their SLA (same on every replica: use max)."),
		slaBreached: desc("sla_breached_leads", "Sales-ready leads not yet contacted, past their SLA (same on every replica: use max)."),
		active:      desc("campaigns_active", "Campaigns that are dialling (same on every replica: use max)."),
		due:         desc("leads_due", "Leads of active campaigns due to be dialled now (same on every replica: use max)."),
		jobs:        desc("queue_jobs", "River jobs by queue and state (same on every replica: use max).", "queue", "state"),
		abandon: desc("campaign_abandonment_ratio", "Each active campaign's rolling 30-day abandonment rate: answered calls without the identification within 2 s, as the abandonment watch last computed it; the rule's limit is 0.03 (same on every replica: use max).",
			"campaign_id"),
	}
}

// Describe implements prometheus.Collector.
func (c *StateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.slaPending, c.slaBreached, c.active, c.due, c.jobs, c.abandon} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *StateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	s, err := c.read(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(c.slaPending, prometheus.GaugeValue, float64(s.SLAPending))
	ch <- prometheus.MustNewConstMetric(c.slaBreached, prometheus.GaugeValue, float64(s.SLABreached))
	ch <- prometheus.MustNewConstMetric(c.active, prometheus.GaugeValue, float64(s.ActiveCampaigns))
	ch <- prometheus.MustNewConstMetric(c.due, prometheus.GaugeValue, float64(s.DueLeads))
	for id, rate := range s.Abandonment {
		ch <- prometheus.MustNewConstMetric(c.abandon, prometheus.GaugeValue, rate, strconv.FormatInt(id, 10))
	}
	for k, n := range s.Jobs {
		ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(n), k[0], k[1])
	}
}
