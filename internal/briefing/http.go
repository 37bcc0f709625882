package briefing

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/ioc-vn/ioc/internal/httpapi"
)

// Routes of the briefing API.
const (
	RouteList      = "GET /api/v1/briefings"
	RouteFile      = "GET /api/v1/briefings/{id}/{file}"
	RouteSchedules = "GET /api/v1/briefings/schedules"
	RouteRun       = "POST /api/v1/briefings/run"
)

// ScheduleInfo is a schedule with its next run.
type ScheduleInfo struct {
	Schedule
	Next time.Time `json:"next"`
}

// Register adds the briefing routes to mux.
func (s *Service) Register(mux *http.ServeMux) {
	log := s.d.Log
	mux.Handle(RouteList, httpapi.Wrap(log, func(w http.ResponseWriter, r *http.Request) error {
		list, err := s.Archive(500)
		if err != nil {
			return err
		}
		return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"reports": list})
	}))
	mux.Handle(RouteSchedules, httpapi.Wrap(log, func(w http.ResponseWriter, r *http.Request) error {
		now := s.d.Now()
		out := []ScheduleInfo{}
		for _, sc := range s.Schedules() {
			out = append(out, ScheduleInfo{Schedule: sc, Next: sc.Next(now, s.d.Location)})
		}
		return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"schedules": out})
	}))
	mux.Handle(RouteFile, httpapi.Wrap(log, s.file))
	mux.Handle(RouteRun, httpapi.Wrap(log, func(w http.ResponseWriter, r *http.Request) error {
		rs, err := s.Produce(r.Context(), r.URL.Query().Get("schedule"))
		if errors.Is(err, ErrUnknownSchedule) {
			return httpapi.BadRequest("schedule: %v", err)
		}
		if err != nil {
			return fmt.Errorf("briefing run: %w", err)
		}
		return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"reports": rs})
	}))
}

// file serves one archived file; only the files the report lists are served.
func (s *Service) file(w http.ResponseWriter, r *http.Request) error {
	id, name := r.PathValue("id"), r.PathValue("file")
	if !idRE.MatchString(id) {
		return httpapi.NotFound("không có báo cáo / no such report")
	}
	s.mu.Lock()
	rep, err := s.readMeta(id)
	s.mu.Unlock()
	if err != nil || !slices.Contains(rep.Files, name) {
		return httpapi.NotFound("không có tệp / no such file")
	}
	f, err := os.Open(filepath.Join(s.cfg.Archive, id, name))
	if err != nil {
		return fmt.Errorf("briefing file: %w", err)
	}
	defer f.Close()
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	http.ServeContent(w, r, name, rep.Generated, f)
	return nil
}
