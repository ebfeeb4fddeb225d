package api

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
)

// metrics is a small Prometheus text-format registry: a few counters, a
// gauge and histograms are all the server exports, which does not justify
// a client library and its dependencies.
type metrics struct {
	mu       sync.Mutex
	counters map[string]float64 // full series name, labels included
	gauges   map[string]float64
	hists    map[string]*histogram
	help     map[string]string // metric name -> "TYPE help"
}

type histogram struct {
	bounds []float64
	counts []uint64 // per bound, not cumulative
	sum    float64
	count  uint64
}

func newMetrics() *metrics {
	return &metrics{counters: map[string]float64{}, gauges: map[string]float64{}, hists: map[string]*histogram{}, help: map[string]string{}}
}

func (m *metrics) describe(name, typ, help string) { m.help[name] = typ + " " + help }

func (m *metrics) add(series string, v float64) {
	m.mu.Lock()
	m.counters[series] += v
	m.mu.Unlock()
}

func (m *metrics) set(series string, v float64) {
	m.mu.Lock()
	m.gauges[series] = v
	m.mu.Unlock()
}

func (m *metrics) observe(name string, bounds []float64, v float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.hists[name]
	if h == nil {
		h = &histogram{bounds: bounds, counts: make([]uint64, len(bounds))}
		m.hists[name] = h
	}
	for i, b := range h.bounds {
		if v <= b {
			h.counts[i]++
			break
		}
	}
	h.sum += v
	h.count++
}

// write prints every metric in the Prometheus text exposition format.
func (m *metrics) write(w io.Writer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	byName := map[string][]string{}
	for series := range m.counters {
		byName[metricName(series)] = append(byName[metricName(series)], series)
	}
	for series := range m.gauges {
		byName[metricName(series)] = append(byName[metricName(series)], series)
	}
	for name := range m.hists {
		byName[name] = nil
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		if h, ok := m.help[name]; ok {
			typ, text, _ := strings.Cut(h, " ")
			fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, typ)
		}
		if h := m.hists[name]; h != nil {
			var cum uint64
			for i, b := range h.bounds {
				cum += h.counts[i]
				fmt.Fprintf(w, "%s_bucket{le=\"%g\"} %d\n", name, b, cum)
			}
			fmt.Fprintf(w, "%s_bucket{le=\"+Inf\"} %d\n%s_sum %g\n%s_count %d\n", name, h.count, name, h.sum, name, h.count)
			continue
		}
		series := byName[name]
		sort.Strings(series)
		for _, s := range series {
			v, ok := m.counters[s]
			if !ok {
				v = m.gauges[s]
			}
			fmt.Fprintf(w, "%s %g\n", s, v)
		}
	}
}

func metricName(series string) string {
	name, _, _ := strings.Cut(series, "{")
	return name
}
