package report

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestReporterIsConfidential: the intake role sees every reporter; a unit sees "ẩn danh" unless
// the reporter allowed sharing, in the report, the list and the answer of a move; nothing of the
// reporter is in Open311 (TestOpen311 searches every public body for contact data).
func TestReporterIsConfidential(t *testing.T) {
	for _, drv := range drivers {
		t.Run(drv, func(t *testing.T) {
			e := newEnv(t, drv, func(c *Config) { c.RateIP.Burst = 100; c.RateDevice.Burst = 100 })
			_, hidden := e.submit(map[string]string{"name": "Trần Thị B", "phone": "0909111222"}, nil)
			_, shared := e.submit(map[string]string{"name": "Lê Văn C", "phone": "0909333444", "share_contact": "on"}, nil)
			as := func(role, method, path, body string) resp {
				hdr := map[string]string{"X-Test-Actor": "someone", "X-Test-Role": role}
				if body == "" {
					return e.do(method, path, "", nil, hdr)
				}
				return e.do(method, path, "application/json", strings.NewReader(body), hdr)
			}
			for _, tc := range []struct {
				name, role, method, path, body string
				want, not                      []string
			}{
				{"intake sees the reporter", "intake", "GET", fmt.Sprintf("/api/v1/reports/%d", hidden.ID), "", []string{"Trần Thị B", "0909111222"}, nil},
				{"a unit does not", "unit", "GET", fmt.Sprintf("/api/v1/reports/%d", hidden.ID), "", []string{"ẩn danh"}, []string{"Trần Thị B", "0909111222"}},
				{"unless shared", "unit", "GET", fmt.Sprintf("/api/v1/reports/%d", shared.ID), "", []string{"Lê Văn C", "0909333444"}, nil},
				{"nor in the list", "unit", "GET", "/api/v1/reports", "", []string{"ẩn danh", "Lê Văn C"}, []string{"Trần Thị B", "0909111222"}},
				{"nor in a move's answer", "unit", "POST", fmt.Sprintf("/api/v1/reports/%d/transition", hidden.ID), `{"to":"triaged"}`, []string{"ẩn danh"}, []string{"Trần Thị B", "0909111222"}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					r := as(tc.role, tc.method, tc.path, tc.body)
					if r.status != http.StatusOK {
						t.Fatalf("%d %s", r.status, r.body)
					}
					for _, w := range tc.want {
						if !strings.Contains(r.body, w) {
							t.Errorf("lacks %q: %s", w, r.body)
						}
					}
					for _, n := range tc.not {
						if strings.Contains(r.body, n) {
							t.Errorf("shows %q: %s", n, r.body)
						}
					}
				})
			}
			// Masking is a view: the stored contact is intact.
			if r := as("intake", "GET", fmt.Sprintf("/api/v1/reports/%d", hidden.ID), ""); !strings.Contains(r.body, "0909111222") {
				t.Errorf("the move lost the contact: %s", r.body)
			}
		})
	}
}
