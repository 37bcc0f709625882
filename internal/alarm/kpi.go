package alarm

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// KPI aggregates how fast alarms were handled in one group.
type KPI struct {
	Group   string `json:"group"` // severity, or area code at the chosen level ("unknown" when missing)
	Raised  int    `json:"raised"`
	Acked   int    `json:"acked"`
	Cleared int    `json:"cleared"`
	// Times in seconds, over the alarms that were acknowledged (TTA) or cleared (TTC).
	MeanTTA   float64 `json:"mean_time_to_ack_s"`
	MedianTTA float64 `json:"median_time_to_ack_s"`
	MaxTTA    float64 `json:"max_time_to_ack_s"`
	MeanTTC   float64 `json:"mean_time_to_clear_s"`
	MedianTTC float64 `json:"median_time_to_clear_s"`
	MaxTTC    float64 `json:"max_time_to_clear_s"`
}

// KPIs groups the alarms raised in [from, to) by "severity" or by the area code at an admin level
// (province, district, commune …) and reports time to acknowledge and time to clear. Non-empty
// areas keep the alarms in any of those areas (codes at any level), each alarm counted once.
func KPIs(ctx context.Context, s Store, from, to time.Time, by string, areas []string) ([]KPI, error) {
	if !to.After(from) {
		return nil, fmt.Errorf("kpi: to must be after from")
	}
	list, err := s.List(ctx, Filter{From: from, To: to, Areas: areas, Limit: 1 << 30})
	if err != nil {
		return nil, fmt.Errorf("kpi: %w", err)
	}
	type acc struct {
		k        KPI
		tta, ttc []float64
	}
	groups := map[string]*acc{}
	for _, a := range list {
		key := a.Severity
		if by != "severity" {
			key = a.Areas[by]
			if key == "" {
				key = "unknown"
			}
		}
		g := groups[key]
		if g == nil {
			g = &acc{k: KPI{Group: key}}
			groups[key] = g
		}
		g.k.Raised++
		if a.AckedAt != nil {
			g.k.Acked++
			g.tta = append(g.tta, a.AckedAt.Sub(a.RaisedAt).Seconds())
		}
		if a.ClearedAt != nil {
			g.k.Cleared++
			g.ttc = append(g.ttc, a.ClearedAt.Sub(a.RaisedAt).Seconds())
		}
	}
	out := make([]KPI, 0, len(groups))
	for _, g := range groups {
		g.k.MeanTTA, g.k.MedianTTA, g.k.MaxTTA = stats(g.tta)
		g.k.MeanTTC, g.k.MedianTTC, g.k.MaxTTC = stats(g.ttc)
		out = append(out, g.k)
	}
	slices.SortFunc(out, func(a, b KPI) int {
		if by == "severity" {
			return severityRank(b.Group) - severityRank(a.Group)
		}
		return strings.Compare(a.Group, b.Group)
	})
	return out, nil
}

// stats returns mean, median and max of xs (zeros when empty).
func stats(xs []float64) (mean, median, maxv float64) {
	if len(xs) == 0 {
		return 0, 0, 0
	}
	slices.Sort(xs)
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	n := len(xs)
	median = xs[n/2]
	if n%2 == 0 {
		median = (xs[n/2-1] + xs[n/2]) / 2
	}
	return sum / float64(n), median, xs[n-1]
}
