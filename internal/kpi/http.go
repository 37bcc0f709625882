package kpi

import (
	"encoding/csv"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/ioc-vn/ioc/internal/httpapi"
	"github.com/ioc-vn/ioc/internal/report"
)

var areaRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`) // an admin area code at any level (as auth.User.Areas)

// Handler serves GET /api/v1/kpi?from=&to=&area=&format=json|csv. from defaults to 30 days before to,
// to to now; both are RFC 3339 with an offset. The range is at most a year.
func Handler(d Deps, log *slog.Logger) http.Handler {
	return httpapi.Wrap(log.With("component", "kpi"), func(w http.ResponseWriter, r *http.Request) error {
		q, format, err := parseQuery(r, d)
		if err != nil {
			return err
		}
		sc, err := Compute(r.Context(), d, q)
		if errors.Is(err, report.ErrInvalid) {
			return httpapi.BadRequest("%v", err)
		}
		if err != nil {
			return fmt.Errorf("kpi: %w", err)
		}
		w.Header().Set("Cache-Control", "no-store")
		if format == "csv" {
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			w.Header().Set("Content-Disposition", `attachment; filename="ioc-kpi.csv"`)
			return WriteCSV(w, sc)
		}
		return httpapi.WriteJSON(w, http.StatusOK, sc)
	})
}

func parseQuery(r *http.Request, d Deps) (Query, string, error) {
	v := r.URL.Query()
	now := time.Now()
	if d.Now != nil {
		now = d.Now()
	}
	var q Query
	var err error
	if q.To, err = httpapi.ParseTime(v.Get("to"), now); err != nil {
		return q, "", httpapi.BadRequest("to: %v", err)
	}
	if q.From, err = httpapi.ParseTime(v.Get("from"), q.To.Add(-30*24*time.Hour)); err != nil {
		return q, "", httpapi.BadRequest("from: %v", err)
	}
	if !q.To.After(q.From) {
		return q, "", httpapi.BadRequest("from phải trước to / from must be before to")
	}
	if q.To.Sub(q.From) > 366*24*time.Hour {
		return q, "", httpapi.BadRequest("khoảng thời gian tối đa một năm / the range is at most one year")
	}
	if q.Area = v.Get("area"); q.Area != "" && !areaRE.MatchString(q.Area) {
		return q, "", httpapi.BadRequest("area: mã vùng không hợp lệ / invalid area code %q", q.Area)
	}
	format := v.Get("format")
	if format == "" {
		format = "json"
	}
	if format != "json" && format != "csv" {
		return q, "", httpapi.BadRequest("format: %q không hỗ trợ / must be json or csv", format)
	}
	return q, format, nil
}

// WriteCSV writes the scorecard as rows of section, key, metric, value: the same numbers as the JSON
// answer, one per row, so a spreadsheet can pivot them.
func WriteCSV(w http.ResponseWriter, sc Scorecard) error {
	cw := csv.NewWriter(w)
	row := func(section, key, metric string, v any) {
		var s string
		switch x := v.(type) {
		case float64:
			s = strconv.FormatFloat(x, 'f', -1, 64)
		case time.Time:
			s = x.Format(time.RFC3339)
		default:
			s = fmt.Sprint(x)
		}
		_ = cw.Write([]string{section, key, metric, s}) // errors surface through cw.Error below
	}
	row("section", "key", "metric", "value")
	row("range", "", "from", sc.From)
	row("range", "", "to", sc.To)
	row("range", "", "area", sc.Area)
	reportRow := func(key string, k report.KPIRow) {
		row("reports", key, "received", k.Received)
		row("reports", key, "resolved", k.Resolved)
		row("reports", key, "backlog", k.Backlog)
		row("reports", key, "overdue", k.Overdue)
		row("reports", key, "within_sla_pct", k.WithinSLAPct)
		row("reports", key, "median_resolution_h", k.MedianHours)
	}
	reportRow("total", sc.Reports.KPIRow)
	for _, name := range []string{"today", "7d", "30d"} {
		win := sc.Reports.Windows[name]
		row("reports", "window:"+name, "received", win.Received)
		row("reports", "window:"+name, "resolved", win.Resolved)
	}
	for _, k := range sc.Reports.ByCategory {
		reportRow("category:"+k.Key, k)
	}
	for _, k := range sc.Reports.ByArea {
		reportRow("area:"+k.Key, k)
	}
	row("alarms", "total", "active", sc.Alarms.Active)
	for _, sev := range sortedKeys(sc.Alarms.ActiveBySeverity) {
		row("alarms", "severity:"+sev, "active", sc.Alarms.ActiveBySeverity[sev])
	}
	row("alarms", "total", "raised", sc.Alarms.Raised)
	row("alarms", "total", "acked", sc.Alarms.Acked)
	row("alarms", "total", "mean_time_to_ack_s", sc.Alarms.MeanTimeToAckS)
	row("sensors", "total", "count", sc.Sensors.Total)
	row("sensors", "total", "online", sc.Sensors.Online)
	row("sensors", "total", "online_pct", sc.Sensors.OnlinePct)
	for _, m := range sc.Maxima {
		for _, f := range sortedKeys(m.Fields) {
			row("maxima", "area:"+m.Area, f, m.Fields[f].Value)
		}
	}
	for _, d := range sc.Trend {
		row("trend", d.Day, "received", d.Received)
		row("trend", d.Day, "resolved", d.Resolved)
		row("trend", d.Day, "alarms_raised", d.AlarmsRaised)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("kpi csv: %w", err)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
