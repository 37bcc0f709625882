package alarm

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ioc-vn/ioc/internal/httpapi"
)

// maxBody bounds JSON request bodies of the alarm API.
const maxBody = 64 << 10

// Handler serves the operator API:
//
//	GET    /api/v1/alarms?state=(open|attention|<state>)&severity=&area=&rule=&source=&from=&to=&limit=   (area= repeatable: any of them)
//	GET    /api/v1/alarms/{id}                 alarm with its history
//	POST   /api/v1/alarms/{id}/ack             {"note": "…"}
//	POST   /api/v1/alarms/{id}/clear           {"note": "…"}
//	POST   /api/v1/alarms/{id}/assign          {"assignee": "…", "note": "…"}
//	POST   /api/v1/alarms/{id}/comment         {"text": "…"}
//	GET    /api/v1/alarms/kpi?from=&to=&by=severity|<area level>&area=   (area= repeatable: their union)
//	GET    /api/v1/alarm-rules                 every rule with its origin
//	GET    /api/v1/alarm-rules/{id}
//	POST   /api/v1/alarm-rules                 create (409 if the id exists)
//	PUT    /api/v1/alarm-rules/{id}            create or replace
//	DELETE /api/v1/alarm-rules/{id}
//	POST   /api/v1/alarm-rules/validate        check a rule without saving it
//
// Actions are taken as the actor returned by Actor; a request without one is refused with 401.
type Handler struct {
	e     *Engine
	actor func(*http.Request) string
	log   *slog.Logger
	mux   *http.ServeMux
}

// NewHandler builds the API over e. actor returns the authenticated user of a request ("" for none).
func NewHandler(e *Engine, actor func(*http.Request) string, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{e: e, actor: actor, log: log, mux: http.NewServeMux()}
	routes := map[string]httpapi.HandlerFunc{
		"GET /api/v1/alarms":                h.list,
		"GET /api/v1/alarms/kpi":            h.kpi,
		"GET /api/v1/alarms/{id}":           h.get,
		"POST /api/v1/alarms/{id}/{action}": h.action,
		"GET /api/v1/alarm-rules":           h.rules,
		"GET /api/v1/alarm-rules/{id}":      h.rule,
		"POST /api/v1/alarm-rules":          h.createRule,
		"POST /api/v1/alarm-rules/validate": h.validateRule,
		"PUT /api/v1/alarm-rules/{id}":      h.putRule,
		"DELETE /api/v1/alarm-rules/{id}":   h.deleteRule,
	}
	for pattern, fn := range routes {
		h.mux.Handle(pattern, httpapi.Wrap(log, fn))
	}
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// storeError maps store errors to API errors.
func storeError(err error, id string) error {
	var se *StateError
	var re *RuleError
	switch {
	case errors.As(err, &se):
		return httpapi.Conflict("%s", se.Error())
	case errors.As(err, &re):
		return httpapi.Errorf(http.StatusBadRequest, "invalid_rule", "%s", re.Error())
	case errors.Is(err, ErrNotFound):
		return httpapi.NotFound("không tìm thấy %s / %s not found", id, id)
	case errors.Is(err, ErrConflict):
		return httpapi.Conflict("%s", err.Error())
	}
	return err
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	codes, err := httpapi.AreaParams(q)
	if err != nil {
		return err
	}
	f := Filter{State: q.Get("state"), Severity: q.Get("severity"), Areas: codes, Rule: q.Get("rule"), Source: q.Get("source")}
	if f.State != "" && !slices.Contains([]string{FilterOpen, FilterAttention, StateActiveUnack, StateActiveAck, StateClearedUnack, StateClearedAck}, f.State) {
		return httpapi.BadRequest("state phải là open, attention, active_unack, active_ack, cleared_unack hoặc cleared_ack / state must be open, attention, active_unack, active_ack, cleared_unack or cleared_ack")
	}
	if f.Severity != "" && severityRank(f.Severity) < 0 {
		return httpapi.BadRequest("severity không hợp lệ / severity must be one of %s", strings.Join(severities, ", "))
	}
	if f.From, f.To, err = timeRange(q.Get("from"), q.Get("to")); err != nil {
		return err
	}
	if s := q.Get("limit"); s != "" {
		if f.Limit, err = strconv.Atoi(s); err != nil || f.Limit < 1 || f.Limit > 5000 {
			return httpapi.BadRequest("limit phải từ 1 đến 5000 / limit must be between 1 and 5000")
		}
	}
	list, err := h.e.List(r.Context(), f)
	if err != nil {
		return err
	}
	if list == nil {
		list = []Alarm{}
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"alarms": list})
}

func timeRange(from, to string) (time.Time, time.Time, error) {
	var f, t time.Time
	var err error
	if from != "" {
		if f, err = time.Parse(time.RFC3339, from); err != nil {
			return f, t, httpapi.BadRequest("from phải theo RFC 3339 / from must be RFC 3339, got %q", from)
		}
	}
	if to != "" {
		if t, err = time.Parse(time.RFC3339, to); err != nil {
			return f, t, httpapi.BadRequest("to phải theo RFC 3339 / to must be RFC 3339, got %q", to)
		}
	}
	return f, t, nil
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	a, hist, err := h.e.Get(r.Context(), id)
	if err != nil {
		return storeError(err, "cảnh báo "+id+" / alarm "+id)
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"alarm": a, "history": hist})
}

// actionBody is the body of every alarm action; each action reads the fields it needs.
type actionBody struct {
	Note     string `json:"note"`
	Assignee string `json:"assignee"`
	Text     string `json:"text"`
}

func (h *Handler) action(w http.ResponseWriter, r *http.Request) error {
	actor := h.actor(r)
	if actor == "" {
		return httpapi.Errorf(http.StatusUnauthorized, "unauthorized", "cần đăng nhập / an authenticated user is required")
	}
	var b actionBody
	if r.ContentLength != 0 {
		if err := httpapi.DecodeJSON(w, r, maxBody, &b); err != nil {
			return err
		}
	}
	a, err := h.Perform(r.Context(), actor, r.PathValue("id"), r.PathValue("action"), b.Note, b.Assignee, b.Text)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"alarm": a})
}

// Perform is one operator action (ack, clear, assign, comment) on alarm id by actor, as the HTTP route
// and the websocket run it; refusals are *httpapi.Error values (400, 404, 409) with the reason.
func (h *Handler) Perform(ctx context.Context, actor, id, action, note, assignee, text string) (Alarm, error) {
	var a Alarm
	var err error
	switch action {
	case ActionAck:
		a, err = h.e.Ack(ctx, id, actor, note)
	case ActionClear:
		a, err = h.e.Clear(ctx, id, actor, note)
	case ActionAssign:
		if strings.TrimSpace(assignee) == "" {
			return a, httpapi.BadRequest("cần assignee / assignee is required")
		}
		a, err = h.e.Assign(ctx, id, actor, assignee, note)
	case ActionComment:
		if strings.TrimSpace(text) == "" {
			return a, httpapi.BadRequest("cần text / text is required")
		}
		a, err = h.e.Comment(ctx, id, actor, text)
	default:
		return a, httpapi.NotFound("không có thao tác %q / unknown action %q (ack, clear, assign, comment)", action, action)
	}
	if err != nil {
		return a, storeError(err, "cảnh báo "+id+" / alarm "+id)
	}
	return a, nil
}

func (h *Handler) kpi(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	from, to, err := timeRange(q.Get("from"), q.Get("to"))
	if err != nil {
		return err
	}
	if to.IsZero() {
		to = h.e.now()
	}
	if from.IsZero() {
		from = to.Add(-30 * 24 * time.Hour)
	}
	by := q.Get("by")
	if by == "" {
		by = "severity"
	}
	codes, err := httpapi.AreaParams(q)
	if err != nil {
		return err
	}
	groups, err := KPIs(r.Context(), h.e.store, from, to, by, codes)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"from": from, "to": to, "by": by, "groups": groups})
}

func (h *Handler) rules(w http.ResponseWriter, _ *http.Request) error {
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"rules": h.e.RuleList()})
}

func (h *Handler) rule(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	for _, ri := range h.e.RuleList() {
		if ri.ID == id {
			return httpapi.WriteJSON(w, http.StatusOK, ri)
		}
	}
	return httpapi.NotFound("không tìm thấy quy tắc %s / rule %s not found", id, id)
}

func (h *Handler) decodeRule(w http.ResponseWriter, r *http.Request) (Rule, error) {
	if h.actor(r) == "" {
		return Rule{}, httpapi.Errorf(http.StatusUnauthorized, "unauthorized", "cần đăng nhập / an authenticated user is required")
	}
	var rule Rule
	err := httpapi.DecodeJSON(w, r, maxBody, &rule)
	return rule, err
}

func (h *Handler) createRule(w http.ResponseWriter, r *http.Request) error {
	rule, err := h.decodeRule(w, r)
	if err != nil {
		return err
	}
	for _, ri := range h.e.RuleList() {
		if ri.ID == rule.ID {
			return httpapi.Conflict("quy tắc %s đã có / rule %s already exists", rule.ID, rule.ID)
		}
	}
	if _, err := h.e.PutRule(r.Context(), rule); err != nil {
		return storeError(err, "quy tắc "+rule.ID+" / rule "+rule.ID)
	}
	return httpapi.WriteJSON(w, http.StatusCreated, RuleInfo{rule, OriginAPI})
}

func (h *Handler) validateRule(w http.ResponseWriter, r *http.Request) error {
	rule, err := h.decodeRule(w, r)
	if err != nil {
		return err
	}
	if err := h.e.ValidateRule(rule); err != nil {
		return storeError(err, "quy tắc "+rule.ID+" / rule "+rule.ID)
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"valid": true})
}

func (h *Handler) putRule(w http.ResponseWriter, r *http.Request) error {
	rule, err := h.decodeRule(w, r)
	if err != nil {
		return err
	}
	if id := r.PathValue("id"); rule.ID == "" {
		rule.ID = id
	} else if rule.ID != id {
		return httpapi.BadRequest("id trong nội dung (%s) khác đường dẫn (%s) / body id %s differs from path id %s", rule.ID, id, rule.ID, id)
	}
	created, err := h.e.PutRule(r.Context(), rule)
	if err != nil {
		return storeError(err, "quy tắc "+rule.ID+" / rule "+rule.ID)
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return httpapi.WriteJSON(w, status, RuleInfo{rule, OriginAPI})
}

func (h *Handler) deleteRule(w http.ResponseWriter, r *http.Request) error {
	if h.actor(r) == "" {
		return httpapi.Errorf(http.StatusUnauthorized, "unauthorized", "cần đăng nhập / an authenticated user is required")
	}
	id := r.PathValue("id")
	if err := h.e.DeleteRule(r.Context(), id); err != nil {
		return storeError(err, "quy tắc "+id+" / rule "+id)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
