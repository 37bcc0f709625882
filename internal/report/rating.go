package report

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/ioc-vn/ioc/internal/httpapi"
)

// Ratings a citizen gives a resolved report's result.
const (
	RatingSatisfied   = "hai_long"      // hài lòng
	RatingUnsatisfied = "chua_hai_long" // chưa hài lòng
)

var ratingNames = map[string]string{RatingSatisfied: "hài lòng / satisfied", RatingUnsatisfied: "chưa hài lòng / not satisfied"}

// Rate records the rating of the citizen holding the tracking code for a resolved (or closed)
// report: once per resolution (a reopened and again resolved report is rated again). The note is
// internal. Not satisfied, the citizen may also reopen it with a reason (Reopen).
func (s *Service) Rate(ctx context.Context, code, rating, note string) (Report, error) {
	if _, ok := ratingNames[rating]; !ok {
		return Report{}, fmt.Errorf("%w: rating: must be %s or %s", ErrInvalid, RatingSatisfied, RatingUnsatisfied)
	}
	if len(note) > 2000 || !utf8.ValidString(note) {
		return Report{}, fmt.Errorf("%w: note: at most 2000 bytes of UTF-8", ErrInvalid)
	}
	for range 5 {
		r, err := s.byCode(ctx, code)
		if err != nil {
			return Report{}, fmt.Errorf("report %s: %w", code, err)
		}
		if r.Status != StatusResolved && r.Status != StatusClosed {
			return Report{}, &TransitionError{Reason: fmt.Sprintf("chỉ đánh giá được phản ánh đã xử lý / only a resolved report can be rated (status %s)", r.Status)}
		}
		if r.Rating != "" {
			return Report{}, &TransitionError{Reason: "phản ánh này đã được đánh giá / this result was rated already"}
		}
		r.Rating, r.Rated = rating, s.d.Now().UTC()
		text := "người dân đánh giá: " + ratingNames[rating]
		if note = strings.TrimSpace(note); note != "" {
			text += " — " + note
		}
		out, err := s.save(ctx, r, "citizen", text, false)
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err == nil {
			s.m.ratings.WithLabelValues(rating).Inc()
		}
		return out, err
	}
	return Report{}, fmt.Errorf("report %s: %w", code, ErrConflict)
}

// handleRate is POST /api/v1/reports/track/{code}/rating {"rating": "hai_long", "note": "…"}.
func (s *Service) handleRate(w http.ResponseWriter, r *http.Request) error {
	if !s.limitIP.allow(addrKey(r), s.d.Now()) {
		return s.refuse("rate_ip", tooMany(s.cfg.RateIP.Every))
	}
	if err := s.trackAllowed(w, r); err != nil {
		return err
	}
	var body struct {
		Rating string `json:"rating"`
		Note   string `json:"note"`
	}
	if err := httpapi.DecodeJSON(w, r, maxFieldBytes, &body); err != nil {
		return err
	}
	rep, err := s.Rate(r.Context(), r.PathValue("code"), body.Rating, body.Note)
	s.trackResult(r, err)
	if err != nil {
		return apiError(err)
	}
	return httpapi.WriteJSON(w, http.StatusOK, s.public(s.base(r), rep, false))
}
