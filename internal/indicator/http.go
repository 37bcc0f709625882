package indicator

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/ioc-vn/ioc/internal/httpapi"
)

// Routes of the indicator API (docs/API.md, docs/INDICATORS.md).
const (
	RouteDefinitions = "GET /api/v1/indicators"
	RouteValues      = "GET /api/v1/indicators/values"
	RouteHistory     = "GET /api/v1/indicators/{code}/history"
	RouteRecompute   = "POST /api/v1/indicators/recompute"
)

// Register adds the indicator routes to mux.
func (s *Service) Register(mux *http.ServeMux) {
	log := s.log
	mux.Handle(RouteDefinitions, httpapi.Wrap(log, func(w http.ResponseWriter, r *http.Request) error {
		return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"definitions": s.Definitions()})
	}))
	mux.Handle(RouteValues, httpapi.Wrap(log, s.values))
	mux.Handle(RouteHistory, httpapi.Wrap(log, s.history))
	mux.Handle(RouteRecompute, httpapi.Wrap(log, s.recompute))
}

// MaxRecomputePeriods bounds one recompute request.
const MaxRecomputePeriods = 400

// values serves GET /api/v1/indicators/values?indicator=&area=&period=&from=&to=&format=json|csv|xlsx.
func (s *Service) values(w http.ResponseWriter, r *http.Request) error {
	f, err := s.filter(r)
	if err != nil {
		return err
	}
	vs, err := s.Values(r.Context(), f)
	if err != nil {
		return fmt.Errorf("indicator values: %w", err)
	}
	w.Header().Set("Cache-Control", "no-store")
	switch format := r.URL.Query().Get("format"); format {
	case "", "json":
		return httpapi.WriteJSON(w, http.StatusOK, s.export(vs))
	case "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="ioc-indicators.csv"`)
		return WriteCSV(w, s.defs, vs)
	case "xlsx":
		w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
		w.Header().Set("Content-Disposition", `attachment; filename="ioc-indicators.xlsx"`)
		return WriteXLSX(w, s.defs, vs)
	default:
		return httpapi.BadRequest("format: %q không hỗ trợ / must be json, csv or xlsx", format)
	}
}

// export wraps values in the documented JSON export with the definitions they refer to.
func (s *Service) export(vs []Value) Export {
	out := Export{Schema: ExportSchema, Generated: s.src.now().In(s.src.Location).Truncate(time.Second),
		Definitions: []Definition{}, Values: vs}
	if out.Values == nil {
		out.Values = []Value{}
	}
	seen := map[string]bool{}
	for _, v := range vs {
		seen[v.Indicator] = true
	}
	for _, d := range s.cfg.Definitions {
		if seen[d.Code] {
			out.Definitions = append(out.Definitions, d)
		}
	}
	return out
}

func (s *Service) filter(r *http.Request) (Filter, error) {
	q := r.URL.Query()
	var f Filter
	for _, c := range q["indicator"] {
		if _, ok := s.defs[c]; !ok {
			return f, httpapi.BadRequest("indicator: không có chỉ tiêu %q / unknown indicator", c)
		}
		f.Indicators = append(f.Indicators, c)
	}
	var err error
	if f.Areas, err = httpapi.AreaParams(q); err != nil {
		return f, err
	}
	f.Key = q.Get("period")
	if len(f.Key) > 16 {
		return f, httpapi.BadRequest("period: mã kỳ quá dài / period key too long")
	}
	if f.From, err = httpapi.ParseTime(q.Get("from"), time.Time{}); err != nil {
		return f, httpapi.BadRequest("from: %v", err)
	}
	if f.To, err = httpapi.ParseTime(q.Get("to"), time.Time{}); err != nil {
		return f, httpapi.BadRequest("to: %v", err)
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From) {
		return f, httpapi.BadRequest("from phải trước to / from must be before to")
	}
	return f, nil
}

// History is the answer of GET /api/v1/indicators/{code}/history: one series per area, oldest first.
type History struct {
	Definition Definition `json:"definition"`
	Series     []Series   `json:"series"`
}

// Series is one area's values of an indicator over the periods.
type Series struct {
	Area     string  `json:"area"`
	AreaName string  `json:"area_name"`
	Level    string  `json:"level"`
	Values   []Value `json:"values"`
}

// history serves GET /api/v1/indicators/{code}/history?area=&from=&to= (default: the last 30
// periods).
func (s *Service) history(w http.ResponseWriter, r *http.Request) error {
	code := r.PathValue("code")
	d, ok := s.defs[code]
	if !ok {
		return httpapi.NotFound("không có chỉ tiêu %q / unknown indicator", code)
	}
	f, err := s.filter(r)
	if err != nil {
		return err
	}
	f.Indicators = []string{code}
	if f.From.IsZero() {
		f.From = Last(d.Period, s.src.now(), 30, s.src.Location)[0].Start
	}
	h, err := s.History(r, d, f)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, h)
}

// History groups an indicator's values by area.
func (s *Service) History(r *http.Request, d Definition, f Filter) (History, error) {
	vs, err := s.Values(r.Context(), f)
	if err != nil {
		return History{}, fmt.Errorf("indicator history: %w", err)
	}
	h := History{Definition: d, Series: []Series{}}
	at := map[string]int{}
	for _, v := range vs {
		i, ok := at[v.Area]
		if !ok {
			i = len(h.Series)
			at[v.Area] = i
			h.Series = append(h.Series, Series{Area: v.Area, AreaName: v.AreaName, Level: v.Level})
		}
		h.Series[i].Values = append(h.Series[i].Values, v)
	}
	return h, nil
}

// recompute serves POST /api/v1/indicators/recompute?indicator=&periods=N: the last N periods
// (default the configured recompute_periods) computed again now.
func (s *Service) recompute(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	n := s.cfg.RecomputePeriods
	if p := q.Get("periods"); p != "" {
		var err error
		if n, err = strconv.Atoi(p); err != nil || n < 1 || n > MaxRecomputePeriods {
			return httpapi.BadRequest("periods: phải từ 1 đến %d / must be 1 to %d", MaxRecomputePeriods, MaxRecomputePeriods)
		}
	}
	stored, err := s.Recompute(r.Context(), q["indicator"], n)
	if errors.Is(err, ErrUnknown) {
		return httpapi.BadRequest("indicator: %v", err)
	}
	if err != nil {
		return fmt.Errorf("indicator recompute: %w", err)
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]int{"stored": stored, "periods": n})
}
