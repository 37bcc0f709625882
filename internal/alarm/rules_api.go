package alarm

import (
	"context"
	"fmt"
	"slices"
)

// Rule origins.
const (
	OriginConfig = "config" // from the configuration file: read-only through the API
	OriginAPI    = "api"    // created through the API and kept in the store
)

// RuleInfo is a rule with where it comes from.
type RuleInfo struct {
	Rule
	Origin string `json:"origin"`
}

// RuleError says why a rule set was refused; it lists every problem.
type RuleError struct{ Err error }

func (e *RuleError) Error() string {
	return "quy tắc không hợp lệ / invalid rule: " + e.Err.Error()
}
func (e *RuleError) Unwrap() error { return e.Err }

// ValidateRule checks r as if it were saved through the API, without saving it.
func (e *Engine) ValidateRule(r Rule) error {
	e.rulesMu.Lock()
	defer e.rulesMu.Unlock()
	_, _, err := e.with(r)
	return err
}

// RuleList lists every rule, configured ones first.
func (e *Engine) RuleList() []RuleInfo {
	e.rulesMu.Lock()
	defer e.rulesMu.Unlock()
	out := make([]RuleInfo, 0, len(e.fileRules)+len(e.apiRules))
	for _, r := range e.fileRules {
		out = append(out, RuleInfo{r, OriginConfig})
	}
	for _, r := range e.apiRules {
		out = append(out, RuleInfo{r, OriginAPI})
	}
	return out
}

// PutRule creates or replaces an API rule and starts using it at once. A rule from the configuration
// file cannot be replaced (ErrConflict); an invalid rule set is a *RuleError.
func (e *Engine) PutRule(ctx context.Context, r Rule) (created bool, err error) {
	e.rulesMu.Lock()
	defer e.rulesMu.Unlock()
	api, rs, err := e.with(r)
	if err != nil {
		return false, err
	}
	if err := e.store.PutRule(ctx, r); err != nil {
		return false, err
	}
	created = len(api) > len(e.apiRules)
	e.apiRules = api
	e.install(rs)
	return created, nil
}

// with returns the API rules with r put in, compiled together with the configured rules. Callers
// hold rulesMu.
func (e *Engine) with(r Rule) ([]Rule, *ruleSet, error) {
	if slices.ContainsFunc(e.fileRules, func(f Rule) bool { return f.ID == r.ID }) {
		return nil, nil, fmt.Errorf("quy tắc %s được định nghĩa trong tệp cấu hình / rule %s is defined in the configuration file: %w", r.ID, r.ID, ErrConflict)
	}
	api := slices.Clone(e.apiRules)
	if i := slices.IndexFunc(api, func(a Rule) bool { return a.ID == r.ID }); i >= 0 {
		api[i] = r
	} else {
		api = append(api, r)
	}
	rs, err := compileRules(slices.Concat(e.fileRules, api), e.fields, e.cfg.Cooldown, e.cfg.EscalateAfter)
	if err != nil {
		return nil, nil, &RuleError{err}
	}
	return api, rs, nil
}

// DeleteRule removes an API rule. Alarms it raised stay until operators clear them.
func (e *Engine) DeleteRule(ctx context.Context, id string) error {
	e.rulesMu.Lock()
	defer e.rulesMu.Unlock()
	if slices.ContainsFunc(e.fileRules, func(f Rule) bool { return f.ID == id }) {
		return fmt.Errorf("quy tắc %s được định nghĩa trong tệp cấu hình / rule %s is defined in the configuration file: %w", id, id, ErrConflict)
	}
	i := slices.IndexFunc(e.apiRules, func(a Rule) bool { return a.ID == id })
	if i < 0 {
		return fmt.Errorf("rule %s: %w", id, ErrNotFound)
	}
	api := slices.Delete(slices.Clone(e.apiRules), i, i+1)
	rs, err := compileRules(slices.Concat(e.fileRules, api), e.fields, e.cfg.Cooldown, e.cfg.EscalateAfter)
	if err != nil {
		return &RuleError{err}
	}
	if err := e.store.DeleteRule(ctx, id); err != nil {
		return err
	}
	e.apiRules = api
	e.install(rs)
	return nil
}
