package camera

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/ioc-vn/ioc/internal/httpapi"
)

// Admin serves the camera registry to administrators: list with liveness, unregistered sources, add
// and remove at run time. Cameras added through it are kept in a JSON file and registered again at the
// next start, so an accepted change is never lost; cameras from the config file are read-only here.
type Admin struct {
	cams         *Registry
	file         string
	offlineAfter time.Duration
	onAdd        func(Config) // makes the camera a map entity; may be nil
	log          *slog.Logger
	scope        func(r *http.Request) func(Config) bool // see SetScope; nil lists every camera

	mu    sync.Mutex // guards added and serialises writes of file
	added map[string]Config
}

// NewAdmin loads the cameras kept in file (which may not exist yet) into cams and returns the admin
// API. A camera is reported offline when not heard for offlineAfter. onAdd is called for every camera
// added, from the file now and from the API later.
func NewAdmin(cams *Registry, file string, offlineAfter time.Duration, onAdd func(Config), log *slog.Logger) (*Admin, error) {
	a := &Admin{cams: cams, file: file, offlineAfter: offlineAfter, onAdd: onAdd, log: log.With("component", "camera_admin"),
		added: map[string]Config{}}
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return a, nil
	}
	if err != nil {
		return nil, fmt.Errorf("camera admin: %w", err)
	}
	var list []Config
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("camera admin: %s: %w", file, err)
	}
	if err := Validate(list); err != nil {
		return nil, fmt.Errorf("camera admin: %s: %w", file, err)
	}
	for _, c := range list {
		if err := cams.Add(c); err != nil {
			return nil, fmt.Errorf("camera admin: %s: %w", file, err)
		}
		a.added[c.ID] = c
		if onAdd != nil {
			onAdd(c)
		}
	}
	return a, nil
}

// SetScope sets the per-request camera filter of the list routes, for callers who may see only some
// cameras (area-scoped operators: those located in their areas). A nil filter from scope lists every
// camera. A scoped caller gets no unregistered sources: an unknown camera has no known place. Call it
// before the routes serve requests.
func (a *Admin) SetScope(scope func(r *http.Request) func(Config) bool) { a.scope = scope }

// visible is the caller's camera filter, nil when they see every camera.
func (a *Admin) visible(r *http.Request) func(Config) bool {
	if a.scope == nil {
		return nil
	}
	return a.scope(r)
}

// Register adds the admin routes to mux.
func (a *Admin) Register(mux *http.ServeMux) {
	mux.Handle("GET /api/v1/cameras", httpapi.Wrap(a.log, a.list))
	mux.Handle("GET /api/v1/cameras/unregistered", httpapi.Wrap(a.log, a.unregistered))
	mux.Handle("POST /api/v1/cameras", httpapi.Wrap(a.log, a.add))
	mux.Handle("DELETE /api/v1/cameras/{id}", httpapi.Wrap(a.log, a.remove))
}

// Status is a camera with where its registration comes from and whether it is alive.
type Status struct {
	Config
	Origin    string  `json:"origin"`     // config | admin
	LastHeard *string `json:"last_heard"` // RFC 3339, null when never heard
	Online    bool    `json:"online"`
}

func (a *Admin) list(w http.ResponseWriter, r *http.Request) error {
	visible := a.visible(r)
	now := a.cams.now()
	a.mu.Lock()
	added := make(map[string]bool, len(a.added))
	for id := range a.added {
		added[id] = true
	}
	a.mu.Unlock()
	cams := a.cams.Cameras()
	out := make([]Status, 0, len(cams))
	for _, c := range cams {
		if visible != nil && !visible(c) {
			continue
		}
		st := Status{Config: c, Origin: "config"}
		if added[c.ID] {
			st.Origin = "admin"
		}
		if heard, ok := a.cams.LastHeard(c.ID); ok && !heard.IsZero() {
			s := heard.In(vietnam).Format(time.RFC3339)
			st.LastHeard = &s
			st.Online = now.Sub(heard) <= a.offlineAfter
		}
		out = append(out, st)
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"count": len(out), "cameras": out})
}

func (a *Admin) unregistered(w http.ResponseWriter, r *http.Request) error {
	src := a.cams.Unregistered()
	if a.visible(r) != nil { // unknown cameras have no place, so none lies in a scoped caller's areas
		src = []string{}
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"count": len(src), "sources": src})
}

// maxCameraBody bounds one camera definition posted to the API.
const maxCameraBody = 64 << 10

func (a *Admin) add(w http.ResponseWriter, r *http.Request) error {
	var c Config
	if err := httpapi.DecodeJSON(w, r, maxCameraBody, &c); err != nil {
		return err
	}
	if err := c.Validate("camera"); err != nil {
		return httpapi.BadRequest("%v", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.cams.Add(c); err != nil {
		if errors.Is(err, ErrExists) {
			return httpapi.Conflict("%v", err)
		}
		return httpapi.BadRequest("%v", err)
	}
	a.added[c.ID] = c
	if err := a.save(); err != nil {
		delete(a.added, c.ID)
		return errors.Join(fmt.Errorf("camera admin: keep camera %s: %w", c.ID, err), a.cams.Remove(c.ID))
	}
	if a.onAdd != nil {
		a.onAdd(c)
	}
	return httpapi.WriteJSON(w, http.StatusCreated, c)
}

func (a *Admin) remove(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := a.added[id]
	if !ok {
		if _, known := a.cams.LastHeard(id); known {
			return httpapi.Conflict("camera %s is defined in the configuration file; remove it there", id)
		}
		return httpapi.NotFound("no camera %s", id)
	}
	if err := a.cams.Remove(id); err != nil {
		return httpapi.NotFound("%v", err)
	}
	delete(a.added, id)
	if err := a.save(); err != nil {
		a.added[id] = c
		return errors.Join(fmt.Errorf("camera admin: forget camera %s: %w", id, err), a.cams.Add(c))
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// save writes the run-time cameras atomically (temp file, fsync, rename). Callers hold mu.
func (a *Admin) save() error {
	list := make([]Config, 0, len(a.added))
	for _, c := range a.added {
		list = append(list, c)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	data, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(a.file), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(a.file), ".cameras-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename this finds nothing
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), a.file)
}

// vietnam is Asia/Ho_Chi_Minh (UTC+7, no daylight saving time), the zone API answers use.
var vietnam = time.FixedZone("Asia/Ho_Chi_Minh", 7*3600)
