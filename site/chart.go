package site

import (
	"fmt"
	"html/template"
	"slices"
	"strings"
	"time"
)

// allocationChart draws allocations over time as an SVG bar chart: a bar
// a day for a log younger than about three months, else a bar a month.
// It is drawn when the site is generated, so it reads without script.
func allocationChart(days map[string]int) template.HTML {
	if len(days) == 0 {
		return template.HTML(`<p>No allocations yet.</p>`)
	}
	keys := make([]string, 0, len(days))
	for d := range days {
		keys = append(keys, d)
	}
	slices.Sort(keys)
	first, _ := time.Parse(time.DateOnly, keys[0])
	last, _ := time.Parse(time.DateOnly, keys[len(keys)-1])
	type bar struct {
		label string
		n     int
	}
	var bars []bar
	if last.Sub(first) <= 92*24*time.Hour {
		for d := first; !d.After(last); d = d.AddDate(0, 0, 1) {
			k := d.Format(time.DateOnly)
			bars = append(bars, bar{k, days[k]})
		}
	} else {
		months := map[string]int{}
		for d, n := range days {
			months[d[:7]] += n
		}
		for m := time.Date(first.Year(), first.Month(), 1, 0, 0, 0, 0, time.UTC); !m.After(last); m = m.AddDate(0, 1, 0) {
			k := m.Format("2006-01")
			bars = append(bars, bar{k, months[k]})
		}
	}
	peak := 1
	for _, b := range bars {
		peak = max(peak, b.n)
	}
	const w, h, left, bottom = 720, 180, 56, 24
	bw := float64(w-left) / float64(len(bars))
	var s strings.Builder
	fmt.Fprintf(&s, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="chart-title chart-desc">`, w, h)
	fmt.Fprintf(&s, `<title id="chart-title">Allocations per %s</title><desc id="chart-desc">From %s to %s; at most %s in one %s.</desc>`,
		unit(len(bars[0].label)), bars[0].label, bars[len(bars)-1].label, groupDigits(uint64(peak)), unit(len(bars[0].label)))
	fmt.Fprintf(&s, `<line class="axis" x1="%d" y1="%d" x2="%d" y2="%d"/>`, left, h-bottom, w, h-bottom)
	fmt.Fprintf(&s, `<text class="tick" x="%d" y="12" text-anchor="end">%s</text><text class="tick" x="%d" y="%d" text-anchor="end">0</text>`,
		left-6, groupDigits(uint64(peak)), left-6, h-bottom)
	for i, b := range bars {
		bh := float64(h-bottom-8) * float64(b.n) / float64(peak)
		fmt.Fprintf(&s, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %s</title></rect>`,
			float64(left)+float64(i)*bw+bw*0.1, float64(h-bottom)-bh, bw*0.8, bh, b.label, citiesText(uint64(b.n)))
	}
	fmt.Fprintf(&s, `<text class="tick" x="%d" y="%d">%s</text><text class="tick" x="%d" y="%d" text-anchor="end">%s</text>`,
		left, h-6, bars[0].label, w, h-6, bars[len(bars)-1].label)
	s.WriteString(`</svg>`)
	return template.HTML(s.String())
}

func unit(labelLen int) string {
	if labelLen == len("2006-01") {
		return "month"
	}
	return "day"
}
