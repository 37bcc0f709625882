package report

import (
	"fmt"
	"regexp"
	"testing"
)

// TestOperatorTimesCarryTheVietnamOffset: what the stores read back is answered in +07:00 (it was Z),
// on SQLite and PostgreSQL, in the list and the detail.
func TestOperatorTimesCarryTheVietnamOffset(t *testing.T) {
	stamp := regexp.MustCompile(`"(created|updated|due|at)":"[0-9T:.-]+(Z|[+-]\d\d:\d\d)"`)
	for _, drv := range drivers {
		t.Run(drv, func(t *testing.T) {
			e := newEnv(t, drv, nil)
			r, s := e.submit(nil, nil)
			if r.status != 201 {
				t.Fatalf("submit: %d %s", r.status, r.body)
			}
			for _, path := range []string{"/api/v1/reports", fmt.Sprintf("/api/v1/reports/%d", s.ID)} {
				got := e.operator("GET", path, "")
				if got.status != 200 {
					t.Fatalf("%s: %d %s", path, got.status, got.body)
				}
				times := stamp.FindAllStringSubmatch(got.body, -1)
				if len(times) == 0 {
					t.Fatalf("%s: no times in %s", path, short(got.body))
				}
				for _, m := range times {
					if m[2] != "+07:00" {
						t.Errorf("%s: %s, want the +07:00 offset", path, m[0])
					}
				}
			}
		})
	}
}

func short(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}
