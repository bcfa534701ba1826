package api

import (
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/auditledger/auditledger/ledger"
)

// metrics holds the Prometheus collectors of one Server.
type metrics struct {
	reg      *prometheus.Registry
	http     *prometheus.HistogramVec
	commit   prometheus.Histogram
	batch    prometheus.Histogram
	appended prometheus.CounterFunc
	tileMetrics
}

func newMetrics(l *ledger.Ledger, extra ...prometheus.Collector) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.tileMetrics = newTileMetrics(m.reg)
	m.http = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "auditledger_http_request_duration_seconds", Help: "HTTP request latency by route and status.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"method", "route", "status"})
	m.commit = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "auditledger_commit_duration_seconds", Help: "Time from preparing one group of appends to its durable commit, including any wait for the group before it to commit.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
	})
	m.batch = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "auditledger_commit_entries", Help: "Entries per durable commit (group commit size).",
		Buckets: prometheus.ExponentialBuckets(1, 2, 15),
	})
	st := l.Stats()
	st.OnCommit = func(n int, d time.Duration) {
		m.commit.Observe(d.Seconds())
		m.batch.Observe(float64(n))
	}
	m.reg.MustRegister(m.http, m.commit, m.batch,
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "auditledger_appended_entries_total", Help: "Entries durably appended."},
			func() float64 { return float64(st.Entries.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "auditledger_pushbacks_total", Help: "Appends refused because the queue was full."},
			func() float64 { return float64(st.Pushbacks.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "auditledger_checkpoints_total", Help: "Checkpoints signed."},
			func() float64 { return float64(st.Checkpoints.Load()) }),
		&logCollector{l: l},
	)
	for _, c := range extra {
		m.reg.MustRegister(c)
	}
	return m
}

func (m *metrics) handler() gin.HandlerFunc {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return func(c *gin.Context) { h.ServeHTTP(c.Writer, c.Request) }
}

// observe records each request's latency by route.
func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	s.metrics.http.WithLabelValues(c.Request.Method, route, strconv.Itoa(c.Writer.Status())).Observe(time.Since(start).Seconds())
}

// logCollector reports per-log gauges at scrape time.
type logCollector struct{ l *ledger.Ledger }

var (
	treeSizeDesc = prometheus.NewDesc("auditledger_tree_size", "Committed entries per log.", []string{"log"}, nil)
	cpSizeDesc   = prometheus.NewDesc("auditledger_checkpoint_size", "Size of the latest checkpoint per log.", []string{"log"}, nil)
	cpAgeDesc    = prometheus.NewDesc("auditledger_checkpoint_age_seconds", "Age of the latest checkpoint per log.", []string{"log"}, nil)
	witLagDesc   = prometheus.NewDesc("auditledger_witness_lag_entries", "Latest checkpoint size minus the largest size the witness cosigned, per log and witness.", []string{"log", "witness"}, nil)
	witSizeDesc  = prometheus.NewDesc("auditledger_witnessed_size", "Largest checkpoint size cosigned by the log's witness quorum.", []string{"log"}, nil)
	idxLagDesc   = prometheus.NewDesc("auditledger_index_lag_entries", "Committed entries the indexer has not reached yet, per log (searches scan them).", []string{"log"}, nil)
)

func (lc *logCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- treeSizeDesc
	ch <- cpSizeDesc
	ch <- cpAgeDesc
	ch <- witLagDesc
	ch <- witSizeDesc
	ch <- idxLagDesc
}

func (lc *logCollector) Collect(ch chan<- prometheus.Metric) {
	for _, info := range lc.l.Logs() {
		ch <- prometheus.MustNewConstMetric(treeSizeDesc, prometheus.GaugeValue, float64(info.Size), info.ID)
		if n, err := lc.l.IndexedSize(info.ID); err == nil && n <= info.Size {
			ch <- prometheus.MustNewConstMetric(idxLagDesc, prometheus.GaugeValue, float64(info.Size-n), info.ID)
		}
		if sc, err := lc.l.Checkpoint(info.ID); err == nil {
			ch <- prometheus.MustNewConstMetric(cpSizeDesc, prometheus.GaugeValue, float64(sc.Size), info.ID)
			if !sc.At.IsZero() {
				ch <- prometheus.MustNewConstMetric(cpAgeDesc, prometheus.GaugeValue, time.Since(sc.At).Seconds(), info.ID)
			}
			lc.collectWitnesses(ch, info, sc.Size)
		}
	}
}

// collectWitnesses reports each witness's lag behind the latest checkpoint
// and the log's witnessed size.
func (lc *logCollector) collectWitnesses(ch chan<- prometheus.Metric, info *ledger.LogInfo, latest uint64) {
	if len(info.Witnesses.List) == 0 {
		return
	}
	sts, err := lc.l.WitnessStatuses(info.ID)
	if err != nil {
		return
	}
	for _, st := range sts {
		lag := latest
		if st.Cosigned && st.CosignedSize <= latest {
			lag = latest - st.CosignedSize
		}
		ch <- prometheus.MustNewConstMetric(witLagDesc, prometheus.GaugeValue, float64(lag), info.ID, st.Name)
	}
	if ws, err := lc.l.WitnessedSize(info.ID); err == nil {
		ch <- prometheus.MustNewConstMetric(witSizeDesc, prometheus.GaugeValue, float64(ws), info.ID)
	}
}
