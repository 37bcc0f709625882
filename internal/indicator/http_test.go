package indicator_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/ioc-vn/ioc/internal/indicator"
	"github.com/ioc-vn/ioc/internal/indicator/indicatortest"
)

func serve(t *testing.T, mux *http.ServeMux, method, target string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec
}

func TestHTTP(t *testing.T) {
	w := indicatortest.NewWorld(t)
	svc := newService(t, w)
	mux := http.NewServeMux()
	svc.Register(mux)

	rec := serve(t, mux, http.MethodPost, "/api/v1/indicators/recompute?periods=1")
	if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte(`"stored":65`)) {
		t.Fatalf("recompute: %d %s", rec.Code, rec.Body)
	}

	var defs struct{ Definitions []indicator.Definition }
	rec = serve(t, mux, http.MethodGet, "/api/v1/indicators")
	if err := json.Unmarshal(rec.Body.Bytes(), &defs); err != nil || len(defs.Definitions) != 13 ||
		defs.Definitions[2].NameVI != "Tỉ lệ phản ánh xử lý đúng hạn" || *defs.Definitions[2].Target != 90 {
		t.Fatalf("definitions: %v %s", err, rec.Body)
	}

	rec = serve(t, mux, http.MethodGet, "/api/v1/indicators/values?indicator=reports_on_time&area=83&area=829&period=2026-03-10")
	var ex indicator.Export
	if err := json.Unmarshal(rec.Body.Bytes(), &ex); err != nil {
		t.Fatal(err)
	}
	if ex.Schema != indicator.ExportSchema || len(ex.Definitions) != 1 || len(ex.Values) != 2 ||
		*ex.Values[0].Value != 50 || ex.Values[0].Status != indicator.Red || ex.Values[0].Start.Format(time.RFC3339) != "2026-03-10T00:00:00+07:00" {
		t.Fatalf("values export: %s", rec.Body)
	}

	rec = serve(t, mux, http.MethodGet, "/api/v1/indicators/values?indicator=salinity_max&area=829&format=csv")
	rows, err := csv.NewReader(rec.Body).ReadAll()
	if err != nil || len(rows) != 2 || rows[1][0] != "salinity_max" || rows[1][11] != "6.1" || rows[1][13] != "red" ||
		rows[1][9] != "2026-03-10T00:00:00+07:00" {
		t.Fatalf("csv: %v %q", err, rows)
	}

	rec = serve(t, mux, http.MethodGet, "/api/v1/indicators/values?indicator=pm25_hours&area=831&format=xlsx")
	f, err := excelize.OpenReader(rec.Body)
	if err != nil {
		t.Fatalf("xlsx: %v", err)
	}
	defer f.Close()
	if got := f.GetSheetList(); len(got) != 1 || got[0] != indicator.ValuesSheet {
		t.Fatalf("sheets %v", got)
	}
	for _, cell := range []string{"J2", "K2", "L2", "O2"} { // start, end, value, computed_at: numbers, not text
		raw, err := f.GetCellValue(indicator.ValuesSheet, cell, excelize.Options{RawCellValue: true})
		if _, perr := strconv.ParseFloat(raw, 64); err != nil || perr != nil {
			t.Errorf("cell %s holds %q, want a number (%v)", cell, raw, err)
		}
	}
	if v, _ := f.GetCellValue(indicator.ValuesSheet, "J2"); v != "2026-03-10" {
		t.Errorf("J2 (start) shows %q, want the date 2026-03-10", v)
	}
	if v, _ := f.GetCellValue(indicator.ValuesSheet, "L2", excelize.Options{RawCellValue: true}); v != "2" {
		t.Errorf("L2 (value) = %q, want 2", v)
	}

	var h indicator.History
	rec = serve(t, mux, http.MethodGet, "/api/v1/indicators/salinity_max/history?area=831&from=2026-03-01T00:00:00%2B07:00")
	if err := json.Unmarshal(rec.Body.Bytes(), &h); err != nil || len(h.Series) != 1 || len(h.Series[0].Values) != 1 {
		t.Fatalf("history: %v %s", err, rec.Body)
	}

	for _, target := range []string{"/api/v1/indicators/values?indicator=nope", "/api/v1/indicators/values?format=pdf",
		"/api/v1/indicators/values?from=yesterday", "/api/v1/indicators/values?area=83%20x"} {
		if rec := serve(t, mux, http.MethodGet, target); rec.Code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", target, rec.Code)
		}
	}
	if rec := serve(t, mux, http.MethodGet, "/api/v1/indicators/nope/history"); rec.Code != http.StatusNotFound {
		t.Errorf("unknown history: %d", rec.Code)
	}
	if rec := serve(t, mux, http.MethodPost, "/api/v1/indicators/recompute?periods=9999"); rec.Code != http.StatusBadRequest {
		t.Errorf("periods=9999: %d", rec.Code)
	}
}
