// Package httpapi holds ioc's one way of writing HTTP handlers: handlers return an error, and one
// renderer turns it into the JSON error envelope
//
//	{"error": {"status": 404, "code": "not_found", "message": "không tìm thấy thiết bị / device not found"}}
//
// so every route answers failures the same way.
package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Error is an HTTP error with a status, a stable machine code and a human message.
type Error struct {
	Status  int    `json:"status"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// Errorf builds an *Error.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// BadRequest is a 400 with code "bad_request".
func BadRequest(format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, "bad_request", format, args...)
}

// NotFound is a 404 with code "not_found".
func NotFound(format string, args ...any) *Error {
	return Errorf(http.StatusNotFound, "not_found", format, args...)
}

// Conflict is a 409 with code "conflict".
func Conflict(format string, args ...any) *Error {
	return Errorf(http.StatusConflict, "conflict", format, args...)
}

// HandlerFunc is a handler that returns its failure instead of writing it.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Handler adapts HandlerFunc to http.Handler, rendering errors with WriteError.
type Handler struct {
	Log *slog.Logger
	Fn  HandlerFunc
}

// ServeHTTP runs the handler and renders its error, if any.
func (h Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := h.Fn(w, r); err != nil {
		WriteError(w, r, h.Log, err)
	}
}

// Wrap is shorthand for Handler{Log: log, Fn: fn}.
func Wrap(log *slog.Logger, fn HandlerFunc) http.Handler { return Handler{Log: log, Fn: fn} }

// WriteError renders err as the JSON error envelope. An *Error keeps its status; a body over the
// MaxBytesReader limit becomes 413; anything else is a 500 whose detail goes to the log, not the client.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var he *Error
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &he):
	case errors.As(err, &mbe):
		he = Errorf(http.StatusRequestEntityTooLarge, "too_large", "nội dung quá lớn / body larger than %d bytes", mbe.Limit)
	default:
		if log != nil {
			log.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		}
		he = Errorf(http.StatusInternalServerError, "internal", "lỗi máy chủ / internal server error")
	}
	WriteJSON(w, he.Status, map[string]*Error{"error": he})
}

// WriteJSON writes v as JSON with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}

// DecodeJSON reads a JSON body of at most limit bytes into v, rejecting unknown fields and trailing
// data with a 400 that says what was wrong.
func DecodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return Errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "cần application/json / expected application/json, got %q", ct)
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return BadRequest("JSON không hợp lệ / invalid JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return BadRequest("JSON không hợp lệ / invalid JSON: trailing data after the object")
	}
	return nil
}

// ParseTime reads an RFC 3339 query time with an offset; an empty s gives def.
func ParseTime(s string, def time.Time) (time.Time, error) {
	if s == "" {
		return def, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time with an offset (e.g. 2026-03-01T07:00:00+07:00)", s)
	}
	return t, nil
}

var areaCodeRE = regexp.MustCompile(`^[A-Za-z0-9-]{1,32}$`)

// AreaParams are the admin area codes of a query (area=, repeatable; empty values ignored): the union
// is asked for. A code other than letters, digits and '-' (at most 32) is a 400. An area-scoped
// operator gets theirs filled in by the access layer.
func AreaParams(v url.Values) ([]string, error) {
	var out []string
	for _, a := range v["area"] {
		if a == "" {
			continue
		}
		if !areaCodeRE.MatchString(a) {
			return nil, BadRequest("area: mã vùng không hợp lệ / invalid area code")
		}
		out = append(out, a)
	}
	return out, nil
}
