package dashboard

import (
	"embed"
	"io/fs"
	"net/http"

	"github.com/ioc-vn/ioc/internal/httpapi"
)

// webFS holds the web pages. web/dist is what `make build` (npm run build) produces from web/src and
// web/pages; it is not committed. Until it is built, web/fallback (a plain live table) is served, so
// the Go code builds and tests without Node.
//
//go:embed web
var webFS embed.FS

// Web returns the built web pages, or the fallback page when the assets have not been built.
func Web() fs.FS {
	dir := "web/fallback"
	if _, err := fs.Stat(webFS, "web/dist/index.html"); err == nil {
		dir = "web/dist"
	}
	sub, err := fs.Sub(webFS, dir)
	if err != nil { // dir is embedded above, so this cannot happen
		panic(err)
	}
	return sub
}

// Built reports whether the full web pages (not the fallback) are embedded.
func Built() bool {
	_, err := fs.Stat(webFS, "web/dist/index.html")
	return err == nil
}

// UIConfig is what the pages need to know about the server's configuration.
type UIConfig struct {
	TileURL         string `json:"tile_url"` // empty: draw the admin boundaries as the base map
	TileAttribution string `json:"tile_attribution,omitempty"`
	// AdminFile names the boundary file (in the page assets' admin/ folder) to draw while the
	// boundaries API is not available; empty draws every file there.
	AdminFile string `json:"admin_file,omitempty"`
	// SSO says that single sign-on is configured: the sign-in form offers /auth/oidc/login.
	SSO bool `json:"sso,omitempty"`
}

// pages mounts the single-page routes (/report, /track/{code}, /kpi) and the UI configuration.
func (s *Server) pages(mux *http.ServeMux, web fs.FS) {
	h := func(fn httpapi.HandlerFunc) http.Handler { return httpapi.Wrap(s.log, fn) }
	page := func(name string) http.Handler {
		return h(func(w http.ResponseWriter, r *http.Request) error {
			if _, err := fs.Stat(web, name); err != nil {
				return httpapi.NotFound("trang chưa được build (make build) / page not built: %s", name)
			}
			http.ServeFileFS(w, r, web, name)
			return nil
		})
	}
	mux.Handle("GET /report", page("report.html"))
	mux.Handle("GET /track/{code}", page("track.html"))
	mux.Handle("GET /kpi", page("kpi.html"))
	mux.Handle("GET /api/v1/ui/config", h(func(w http.ResponseWriter, _ *http.Request) error {
		return httpapi.WriteJSON(w, http.StatusOK, s.d.UI)
	}))
}
