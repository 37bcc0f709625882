package report

import (
	"fmt"
	"net/http"
	"testing"
)

func TestNamesFamilyNameFirst(t *testing.T) {
	for _, tc := range []struct {
		name, first, last, full string
	}{
		{"three words", "Thị B", "Trần", "Trần Thị B"},
		{"four words", "Nguyễn Thị Minh Khai", "Lê", "Lê Nguyễn Thị Minh Khai"},
		{"one word is a given name", "Hoa", "", "Hoa"},
		{"nothing", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := FullName(tc.first, tc.last); got != tc.full {
				t.Errorf("FullName(%q, %q) = %q, want %q", tc.first, tc.last, got, tc.full)
			}
			if first, last := SplitName(tc.full); first != tc.first || last != tc.last {
				t.Errorf("SplitName(%q) = (%q, %q), want (%q, %q)", tc.full, first, last, tc.first, tc.last)
			}
		})
	}
	if got := FullName("  Thị   B ", " Trần "); got != "Trần Thị B" {
		t.Errorf("spaces: %q", got)
	}
}

// TestReporterNameIsOneField: the web form's name and Open311's first_name/last_name both land as
// one full name, family name first; names stored in the old split form read back whole.
func TestReporterNameIsOneField(t *testing.T) {
	for _, drv := range drivers {
		t.Run(drv, func(t *testing.T) {
			e := newEnv(t, drv, func(c *Config) { c.RateIP.Burst = 100; c.RateDevice.Burst = 100 })
			_, web := e.submit(map[string]string{"name": "  Trần   Thị B "}, nil)
			v := potholeForm(e.apiKey())
			v.Set("first_name", "Thị B")
			v.Set("last_name", "Trần")
			r := e.postForm("/open311/v2/requests.json", v, nil)
			var o []struct {
				ID string `json:"service_request_id"`
			}
			mustJSONDecode(t, r.body, &o)
			if r.status != http.StatusCreated || len(o) != 1 {
				t.Fatalf("open311 post: %d %s", r.status, r.body)
			}
			var o311 int64
			fmt.Sscan(o[0].ID, &o311)
			for _, id := range []int64{web.ID, o311} {
				if got := e.operatorGet(id).Report.Contact.Name; got != "Trần Thị B" {
					t.Errorf("report %d: name %q, want Trần Thị B", id, got)
				}
			}

			st := e.store.(*sqlStore)
			for _, row := range []struct {
				id      int64
				contact string
			}{
				{web.ID, `{"first_name":"Trần","last_name":"Thị B","phone":"0909"}`}, // the web form cut at the first space
				{o311, `{"first_name":"Thị B","last_name":"Trần"}`},                  // Open311: given, family
			} {
				if _, err := st.db.ExecContext(t.Context(), st.bind(`UPDATE reports SET contact = ? WHERE id = ?`), row.contact, row.id); err != nil {
					t.Fatal(err)
				}
				if got := e.operatorGet(row.id).Report.Contact.Name; got != "Trần Thị B" {
					t.Errorf("legacy %s: name %q, want Trần Thị B", row.contact, got)
				}
			}
		})
	}
}
