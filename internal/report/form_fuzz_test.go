package report

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ioc-vn/ioc/internal/httpapi"
	"github.com/ioc-vn/ioc/internal/report/photo"
)

// FuzzReadForm feeds the Open311 and citizen form decoder arbitrary bodies and content types: it must
// answer with a classified error or a form within its limits, never panic.
func FuzzReadForm(f *testing.F) {
	const boundary = "ioc-fuzz"
	multipart := "--" + boundary + "\r\nContent-Disposition: form-data; name=\"service_code\"\r\n\r\nNGAP_NUOC\r\n" +
		"--" + boundary + "\r\nContent-Disposition: form-data; name=\"media\"; filename=\"a.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8\xff\r\n" +
		"--" + boundary + "--\r\n"
	f.Add("application/x-www-form-urlencoded", []byte("api_key=k&service_code=NGAP_NUOC&lat=10.24&long=106.37&attribute[depth]=30&attribute[x][]=1"))
	f.Add("multipart/form-data; boundary="+boundary, []byte(multipart))
	f.Add("multipart/form-data", []byte(multipart))
	f.Add("multipart/form-data; boundary="+boundary, []byte("--"+boundary+"\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n"))
	f.Add("text/plain", []byte("x"))
	f.Add("application/x-www-form-urlencoded", []byte("%zz=1&lat=NaN&long=1e400"))
	const maxFiles, maxFile = 2, 64
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/open311/v2/requests.json", bytes.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		w := httptest.NewRecorder()
		r.Body = http.MaxBytesReader(w, r.Body, 4096)
		fm, err := readForm(r, maxFiles, maxFile)
		if err != nil {
			var he *httpapi.Error
			var mbe *http.MaxBytesError
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, photo.ErrTooLarge) && !errors.As(err, &he) && !errors.As(err, &mbe) {
				t.Fatalf("unclassified error %T: %v", err, err)
			}
			return
		}
		if len(fm.files) > maxFiles {
			t.Fatalf("%d files, limit %d", len(fm.files), maxFiles)
		}
		for _, b := range fm.files {
			if len(b) > maxFile {
				t.Fatalf("file of %d bytes, limit %d", len(b), maxFile)
			}
		}
		for code := range attributes(fm.values) {
			if strings.HasPrefix(code, "attribute[") {
				t.Fatalf("attribute code %q keeps its prefix", code)
			}
		}
		_, _ = point(fm.values.Get("long"), fm.values.Get("lat")) // must not panic on any text
	})
}
