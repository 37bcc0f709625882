package report

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func mustJSONDecode(t testing.TB, body string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
}

func potholeForm(key string) url.Values {
	v := url.Values{
		"api_key": {key}, "service_code": {"O_GA"}, "lat": {"10.2415"}, "long": {"106.3759"},
		"address_string": {"Đường Đồng Khởi, Phường 3"}, "description": {"Ổ gà lớn trước số 120"},
		"attribute[size]": {"large"}, "attribute[lanes][]": {"car", "moto"},
	}
	for k, x := range contactValues {
		v.Set(k, x)
	}
	return v
}

func TestOpen311(t *testing.T) {
	for _, drv := range drivers {
		t.Run(drv, func(t *testing.T) {
			e := newEnv(t, drv, nil)
			key := e.apiKey()

			t.Run("discovery", func(t *testing.T) {
				r := e.get("/open311/v2/discovery.json")
				var d struct {
					Endpoints []struct {
						Specification string
						URL           string
						Formats       []string
					}
				}
				mustJSONDecode(t, r.body, &d)
				if r.status != 200 || len(d.Endpoints) != 1 || d.Endpoints[0].URL != "https://ioc.example.vn/open311/v2" ||
					d.Endpoints[0].Specification != open311Spec || len(d.Endpoints[0].Formats) != 2 {
					t.Fatalf("discovery.json: %d %s", r.status, r.body)
				}
				x := e.get("/open311/v2/discovery.xml")
				if !strings.HasPrefix(x.body, `<?xml version="1.0" encoding="utf-8"?>`) || !strings.Contains(x.body, "<format>text/xml</format>") ||
					x.header.Get("Content-Type") != "text/xml; charset=utf-8" {
					t.Fatalf("discovery.xml: %s", x.body)
				}
			})

			t.Run("services", func(t *testing.T) {
				var ss []map[string]any
				r := e.get("/open311/v2/services.json")
				mustJSONDecode(t, r.body, &ss)
				if len(ss) != 6 || ss[0]["service_code"] != "RAC_THAI" || ss[0]["metadata"] != true || ss[0]["type"] != "realtime" {
					t.Fatalf("services.json: %s", r.body)
				}
				var xs struct {
					Services []o311Service `xml:"service"`
				}
				if err := xml.Unmarshal([]byte(e.get("/open311/v2/services.xml").body), &xs); err != nil || len(xs.Services) != 6 || xs.Services[3].Name != "Ổ gà, hư hỏng mặt đường / Pothole" {
					t.Fatalf("services.xml: %v %+v", err, xs)
				}
			})

			t.Run("definition", func(t *testing.T) {
				var d o311Definition
				mustJSONDecode(t, e.get("/open311/v2/services/O_GA.json").body, &d)
				if d.Code != "O_GA" || len(d.Attributes) != 2 || d.Attributes[0].Datatype != "singlevaluelist" ||
					!d.Attributes[0].Required || d.Attributes[0].Order != 1 || len(d.Attributes[0].Values) != 2 || !d.Attributes[0].Variable {
					t.Fatalf("definition: %+v", d)
				}
				x := e.get("/open311/v2/services/O_GA.xml")
				if !strings.Contains(x.body, "<service_definition><service_code>O_GA</service_code><attributes><attribute><variable>true</variable>") ||
					!strings.Contains(x.body, "<values><value><key>small</key>") {
					t.Fatalf("definition.xml: %s", x.body)
				}
				nf := e.get("/open311/v2/services/NOPE.json")
				if nf.status != 404 || !strings.Contains(nf.body, `[{"code":404,"description":`) {
					t.Fatalf("unknown service: %d %s", nf.status, nf.body)
				}
			})

			t.Run("post errors", func(t *testing.T) {
				for _, tc := range []struct {
					name   string
					edit   func(url.Values)
					format string
					status int
					want   string
				}{
					{"no api_key", func(v url.Values) { v.Del("api_key") }, "json", 403, `[{"code":403,"description":"Invalid api_key received -- can't proceed with create_request."}]`},
					{"bad api_key xml", func(v url.Values) { v.Set("api_key", "nope") }, "xml", 403, `<errors><error><code>403</code><description>Invalid api_key received -- can&#39;t proceed with create_request.</description></error></errors>`},
					{"no service_code", func(v url.Values) { v.Del("service_code") }, "json", 400, `"description":"service_code was not provided"`},
					{"unknown service_code", func(v url.Values) { v.Set("service_code", "X") }, "json", 400, `"code":400`},
					{"no location", func(v url.Values) { v.Del("lat") }, "xml", 400, `<code>400</code>`},
					{"missing required attribute", func(v url.Values) { v.Del("attribute[size]") }, "json", 400, `attribute[size]: required`},
					{"bad list value", func(v url.Values) { v.Set("attribute[size]", "huge") }, "json", 400, `not an allowed value`},
				} {
					t.Run(tc.name, func(t *testing.T) {
						v := potholeForm(key)
						tc.edit(v)
						r := e.postForm("/open311/v2/requests."+tc.format, v, nil)
						if r.status != tc.status || !strings.Contains(r.body, tc.want) {
							t.Fatalf("got %d %s, want %d containing %s", r.status, r.body, tc.status, tc.want)
						}
					})
				}
			})

			// Three requests at different times: two potholes, one flooding later.
			var ids []string
			var tokens []string
			for i, svc := range []string{"O_GA", "O_GA", "NGAP_NUOC"} {
				v := potholeForm(key)
				v.Set("service_code", svc)
				if svc == "NGAP_NUOC" {
					v.Del("attribute[size]")
					v.Del("attribute[lanes][]")
					v.Set("attribute[depth_cm]", "30")
				}
				format := []string{"json", "xml", "json"}[i]
				r := e.postForm("/open311/v2/requests."+format, v, nil)
				if r.status != http.StatusCreated {
					t.Fatalf("post %s: %d %s", svc, r.status, r.body)
				}
				var created o311Created
				if format == "json" {
					var out []o311Created
					mustJSONDecode(t, r.body, &out)
					created = out[0]
				} else {
					var out o311CreatedList
					if err := xml.Unmarshal([]byte(r.body), &out); err != nil {
						t.Fatal(err)
					}
					created = out.Requests[0]
				}
				if created.ID == "" || !strings.HasPrefix(created.Token, "BT-") || created.Notice == "" || created.AccountID == nil || *created.AccountID != "acct-secret-7" {
					t.Fatalf("post response: %s", r.body)
				}
				ids, tokens = append(ids, created.ID), append(tokens, created.Token)
				e.clock.Advance(24 * time.Hour)
			}
			// Close the first one through the workflow.
			for _, to := range []string{"triaged", "assigned", "in_progress", "resolved"} {
				if r := e.operator("POST", "/api/v1/reports/"+ids[0]+"/transition", `{"to":"`+to+`","note":"bước `+to+`","public_note":true}`); r.status != 200 {
					t.Fatalf("transition %s: %d %s", to, r.status, r.body)
				}
			}

			list := func(q string) []o311Request {
				t.Helper()
				r := e.get("/open311/v2/requests.json?" + q)
				if r.status != 200 {
					t.Fatalf("GET requests?%s: %d %s", q, r.status, r.body)
				}
				e.assertNoContact("GET requests", r.body)
				var out []o311Request
				mustJSONDecode(t, r.body, &out)
				return out
			}
			idsOf := func(rs []o311Request) string {
				var s []string
				for _, r := range rs {
					s = append(s, r.ID)
				}
				return strings.Join(s, ",")
			}
			for _, tc := range []struct {
				name, query, want string
			}{
				{"default 90 days newest first", "", ids[2] + "," + ids[1] + "," + ids[0]},
				{"status open", "status=open", ids[2] + "," + ids[1]},
				{"status closed", "status=closed", ids[0]},
				{"status both", "status=open,closed", ids[2] + "," + ids[1] + "," + ids[0]},
				{"service_code", "service_code=NGAP_NUOC", ids[2]},
				{"service_code list", "service_code=NGAP_NUOC,O_GA&status=open", ids[2] + "," + ids[1]},
				{"start_date", "start_date=2025-06-11T15:00:00%2B07:00", ids[2] + "," + ids[1]},
				{"end_date inclusive", "end_date=2025-06-11T15:00:00%2B07:00", ids[1] + "," + ids[0]},
				{"date window", "start_date=2025-06-11T00:00:00Z&end_date=2025-06-11T23:59:59Z", ids[1]},
				{"ids ignore other filters", "service_request_id=" + ids[0] + "," + ids[2] + "&status=open", ids[2] + "," + ids[0]},
				{"page 1", "page_size=2", ids[2] + "," + ids[1]},
				{"page 2", "page_size=2&page=2", ids[0]},
			} {
				t.Run("GET "+tc.name, func(t *testing.T) {
					if got := idsOf(list(tc.query)); got != tc.want {
						t.Fatalf("got ids %s, want %s", got, tc.want)
					}
				})
			}
			for _, q := range []string{"status=pending", "start_date=yesterday", "page_size=5000", "service_request_id=abc"} {
				if r := e.get("/open311/v2/requests.json?" + q); r.status != 400 || !strings.Contains(r.body, `"code":400`) {
					t.Errorf("GET requests?%s: %d %s", q, r.status, r.body)
				}
			}

			t.Run("GET request", func(t *testing.T) {
				r := e.get("/open311/v2/requests/" + ids[0] + ".json?extensions=true")
				e.assertNoContact("GET request", r.body)
				var out []o311Request
				mustJSONDecode(t, r.body, &out)
				got := out[0]
				// A pothole is a complex report: 10 working days (75 h) from Tue 10 Jun 15:00.
				if got.Status != "closed" || got.StatusNotes != "bước resolved" || got.ServiceCode != "O_GA" ||
					got.Agency != "Phòng Quản lý đô thị Thành phố Bến Tre" || got.Lat != 10.2415 || got.Long != 106.3759 ||
					got.Requested != "2025-06-10T15:00:00+07:00" || got.Expected != "2025-06-24T15:00:00+07:00" ||
					got.Description != "Ổ gà lớn trước số 120" || got.Extended == nil || got.Extended.DetailedStatus != "resolved" ||
					len(got.Extended.Notes) != 5 {
					t.Fatalf("request: %+v", got)
				}
				x := e.get("/open311/v2/requests/" + ids[1] + ".xml")
				e.assertNoContact("GET request xml", x.body)
				if !strings.Contains(x.body, "<service_requests><request><service_request_id>"+ids[1]+"</service_request_id><status>open</status>") ||
					strings.Contains(x.body, "Ổ gà lớn") { // not triaged yet: description withheld
					t.Fatalf("request.xml: %s", x.body)
				}
				if nf := e.get("/open311/v2/requests/999999.xml"); nf.status != 404 || !strings.Contains(nf.body, "<errors><error><code>404</code>") {
					t.Fatalf("missing request: %d %s", nf.status, nf.body)
				}
			})

			t.Run("tokens", func(t *testing.T) {
				var out []o311Token
				mustJSONDecode(t, e.get("/open311/v2/tokens/"+tokens[1]+".json").body, &out)
				if len(out) != 1 || out[0].ID != ids[1] || out[0].Token != tokens[1] {
					t.Fatalf("token: %+v", out)
				}
				x := e.get("/open311/v2/tokens/" + tokens[2] + ".xml")
				if !strings.Contains(x.body, "<service_requests><request><service_request_id>"+ids[2]+"</service_request_id><token>"+tokens[2]+"</token></request></service_requests>") {
					t.Fatalf("token.xml: %s", x.body)
				}
				if nf := e.get("/open311/v2/tokens/BT-ZZZZZZ.json"); nf.status != 404 {
					t.Fatalf("unknown token: %d", nf.status)
				}
			})

			t.Run("revoked key", func(t *testing.T) {
				ks := e.operator("GET", "/api/v1/admin/open311/keys", "")
				var keys []APIKey
				mustJSONDecode(t, ks.body, &keys)
				if r := e.operator("DELETE", "/api/v1/admin/open311/keys/"+keys[0].ID, ""); r.status != 204 {
					t.Fatalf("revoke: %d %s", r.status, r.body)
				}
				if r := e.postForm("/open311/v2/requests.json", potholeForm(key), nil); r.status != 403 {
					t.Fatalf("revoked key accepted: %d %s", r.status, r.body)
				}
			})
		})
	}
}
