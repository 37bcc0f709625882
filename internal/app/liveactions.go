package app

import (
	"context"
	"errors"
	"net/http"

	"github.com/ioc-vn/ioc/dashboard"
	"github.com/ioc-vn/ioc/internal/auth"
	"github.com/ioc-vn/ioc/internal/httpapi"
)

// liveActions lets the operators and administrators of a websocket act on alarms from the map, with
// the checks of POST /api/v1/alarms/{id}/{action}: the role, the operator's area scope, the alarm's
// state; every action is written to the audit log like its HTTP twin.
func (a *App) liveActions(r *http.Request) dashboard.ActionFunc {
	p := auth.From(r.Context())
	if p == nil || (p.Role != auth.RoleAdmin && p.Role != auth.RoleOperator) {
		return nil
	}
	ip := httpapi.ClientIP(r)
	return func(ctx context.Context, act dashboard.Action) (any, error) {
		if act.Target != "alarm" {
			return nil, httpapi.BadRequest("target phải là alarm / target must be alarm, got %q", act.Target)
		}
		if err := a.alarmInScope(ctx, p, act.ID); err != nil {
			return nil, err
		}
		al, err := a.alarmHTTP.Perform(ctx, p.User, act.ID, act.Action, act.Note, act.Assignee, act.Text)
		status := http.StatusOK
		var he *httpapi.Error
		if errors.As(err, &he) {
			status = he.Status
		}
		a.Auth.Audit(ctx, auth.AuditEntry{Actor: p.User, Role: p.Role, Action: "websocket alarm " + act.Action,
			Path: "/api/v1/live", Status: status, IP: ip, Detail: act.ID, TokenID: p.TokenID})
		if err != nil {
			return nil, err
		}
		return map[string]any{"alarm": al}, nil
	}
}
