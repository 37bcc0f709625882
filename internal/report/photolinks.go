package report

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ioc-vn/ioc/internal/httpapi"
)

// photoLinkTTL is how long a photo link given to a tracking-code holder works: links are dated by
// the hour so that a page reloaded within the hour gets the same (cached) URLs.
const photoLinkTTL = time.Hour

// photoLinkKey is the HMAC key of photo links: derived from form_secret, so links survive a restart
// and agree across nodes; without a secret, random per process.
func photoLinkKey(formSecret string) []byte {
	if formSecret == "" {
		k := make([]byte, 32)
		_, _ = rand.Read(k) // crypto/rand.Read never fails
		return k
	}
	mac := hmac.New(sha256.New, []byte(formSecret))
	mac.Write([]byte("ioc photo links v1"))
	return mac.Sum(nil)
}

func (s *Service) photoMAC(id string, expires int64) string {
	mac := hmac.New(sha256.New, s.photoKey)
	fmt.Fprintf(mac, "%s\x00%d", id, expires)
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:18])
}

// holderPhotoURL is the URL of a photo of a report that is not public yet, for the holder of its
// tracking code: ?t=<expiry>.<HMAC> lets this one photo (and its thumbnail) be read until expiry,
// between one and two hours from now.
func (s *Service) holderPhotoURL(base, id string) string {
	exp := s.d.Now().Truncate(photoLinkTTL).Add(2 * photoLinkTTL).Unix()
	return s.photoURL(base, id) + "?t=" + strconv.FormatInt(exp, 10) + "." + s.photoMAC(id, exp)
}

// photoLinkOK checks the ?t= of a photo request.
func (s *Service) photoLinkOK(id, t string) bool {
	expS, mac, ok := strings.Cut(t, ".")
	exp, err := strconv.ParseInt(expS, 10, 64)
	if !ok || err != nil || s.d.Now().Unix() >= exp {
		return false
	}
	return hmac.Equal([]byte(mac), []byte(s.photoMAC(id, exp)))
}

// handlePhoto serves a photo after checking, on every read, who may see its report: anyone once
// the report is public (cached by anyone for 5 minutes, so that a report rejected later stops being
// served soon); otherwise staff who may open the report (Deps.Sees) or the holder of a photo link
// from the tracking page, with private caching only. Anyone else, and a photo of no report, gets 404.
func (s *Service) handlePhoto(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	rep, err := s.d.Store.ByPhoto(r.Context(), id)
	if errors.Is(err, ErrNotFound) {
		return httpapi.NotFound("không tìm thấy ảnh / photo not found")
	}
	if err != nil {
		return fmt.Errorf("photo %s: %w", id, err)
	}
	cache := "public, max-age=300"
	if !rep.Status.Public() {
		if !s.d.Sees(r, rep) && !s.photoLinkOK(id, r.URL.Query().Get("t")) {
			return httpapi.NotFound("không tìm thấy ảnh / photo not found")
		}
		cache = "private, max-age=300"
		w.Header().Set("Vary", "Cookie, Authorization")
	}
	b, err := s.d.Photos.Load(r.Context(), id, strings.HasSuffix(r.Pattern, "/thumb"))
	if err != nil {
		return apiError(err)
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Cache-Control", cache)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, err = w.Write(b)
	return err
}
