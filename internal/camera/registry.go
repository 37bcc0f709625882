// Package camera holds what the camera collectors share: the registry of known cameras (where they
// are, how each vendor names them, when they were last heard), inbound HTTP authentication, repeat
// collapsing and guards for untrusted XML and JSON.
package camera

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ioc-vn/ioc/stream"
	"github.com/paulmach/orb"
)

// Source kinds: which collector reports a camera.
const (
	KindFrigate   = "frigate"
	KindHikvision = "hikvision"
	KindONVIF     = "onvif"
	KindWebhook   = "webhook"
)

// Event states carried in Attrs["state"].
const (
	StateActive = "active"
	StateEnded  = "ended"
)

// Config describes one camera. Location is [lon, lat] (WGS84); Heading is degrees clockwise from
// north; FOV is the horizontal field of view in degrees. Zones maps a Frigate zone name to its
// footprint on the ground, a ring of [lon, lat] points.
type Config struct {
	ID       string                  `yaml:"id" json:"id"`
	Name     string                  `yaml:"name" json:"name"`
	Location [2]float64              `yaml:"location" json:"location"`
	Heading  float64                 `yaml:"heading" json:"heading"`
	FOV      float64                 `yaml:"fov" json:"fov"`
	Source   SourceConfig            `yaml:"source" json:"source"`
	Zones    map[string][][2]float64 `yaml:"zones" json:"zones,omitempty"`
}

// SourceConfig says how a vendor names a camera:
//   - frigate:   name = the Frigate camera name
//   - hikvision: mac and/or ip, plus channel (default 1)
//   - onvif:     url = the device service URL
//   - webhook:   name = the camera field of the posted events; webhook = the {source} path value
type SourceConfig struct {
	Kind    string `yaml:"kind" json:"kind"`
	Name    string `yaml:"name" json:"name,omitempty"`
	MAC     string `yaml:"mac" json:"mac,omitempty"`
	IP      string `yaml:"ip" json:"ip,omitempty"`
	Channel int    `yaml:"channel" json:"channel,omitempty"`
	URL     string `yaml:"url" json:"url,omitempty"`
	Webhook string `yaml:"webhook" json:"webhook,omitempty"`
}

// Validate reports every problem of one camera, with key paths under prefix (for example
// "cameras[3] (cam-07)").
func (c Config) Validate(prefix string) error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s: %s", prefix, key, fmt.Sprintf(format, args...)))
	}
	if c.ID == "" {
		bad("id", "is required")
	} else if strings.ContainsAny(c.ID, " \t\r\n") {
		bad("id", "must not contain spaces")
	}
	if err := stream.CheckLonLat(c.Location[0], c.Location[1]); err != nil {
		bad("location", "[%g, %g] must be [lon, lat] within ±180, ±90", c.Location[0], c.Location[1])
	}
	if c.Heading < 0 || c.Heading >= 360 {
		bad("heading", "must be in [0, 360) degrees, got %g", c.Heading)
	}
	if c.FOV < 0 || c.FOV > 360 {
		bad("fov", "must be in [0, 360] degrees, got %g", c.FOV)
	}
	s := c.Source
	switch s.Kind {
	case KindFrigate:
		if s.Name == "" {
			bad("source.name", "is required for frigate (the Frigate camera name)")
		}
	case KindHikvision:
		if s.MAC == "" && s.IP == "" {
			bad("source", "hikvision needs mac or ip")
		}
		if s.MAC != "" {
			if _, err := net.ParseMAC(s.MAC); err != nil {
				bad("source.mac", "%q is not a MAC address", s.MAC)
			}
		}
		if s.IP != "" && net.ParseIP(s.IP) == nil {
			bad("source.ip", "%q is not an IP address", s.IP)
		}
		if s.Channel < 0 {
			bad("source.channel", "must be positive")
		}
	case KindONVIF:
		if !strings.HasPrefix(s.URL, "http://") && !strings.HasPrefix(s.URL, "https://") {
			bad("source.url", "must be the device service http(s) URL, got %q", s.URL)
		}
	case KindWebhook:
		if s.Name == "" || s.Webhook == "" {
			bad("source", "webhook needs name (camera field) and webhook (source name)")
		}
	default:
		bad("source.kind", "must be frigate, hikvision, onvif or webhook, got %q", s.Kind)
	}
	for name, ring := range c.Zones {
		if len(ring) < 3 {
			bad("zones."+name, "needs at least 3 [lon, lat] points")
		}
		for i, p := range ring {
			if stream.CheckLonLat(p[0], p[1]) != nil {
				bad(fmt.Sprintf("zones.%s[%d]", name, i), "[%g, %g] is not a valid [lon, lat]", p[0], p[1])
			}
		}
	}
	return errors.Join(errs...)
}

// Validate checks a camera list: each camera, and that IDs and source identities are unique.
func Validate(cams []Config) error {
	var errs []error
	ids := map[string]int{}
	keys := map[string]int{}
	for i, c := range cams {
		prefix := fmt.Sprintf("cameras[%d] (%s)", i, c.ID)
		if err := c.Validate(prefix); err != nil {
			errs = append(errs, err)
			continue
		}
		if j, dup := ids[c.ID]; dup {
			errs = append(errs, fmt.Errorf("%s: id: duplicates cameras[%d]", prefix, j))
		}
		ids[c.ID] = i
		for _, k := range c.identities() {
			if j, dup := keys[k]; dup {
				errs = append(errs, fmt.Errorf("%s: source: identity %q duplicates cameras[%d]", prefix, k, j))
			}
			keys[k] = i
		}
	}
	return errors.Join(errs...)
}

// Identity names a camera the way a vendor does. Build one with FrigateID, HikvisionIDs, ONVIFID or
// WebhookID.
type Identity string

// FrigateID is the identity of a Frigate camera name.
func FrigateID(name string) Identity { return Identity("frigate|" + name) }

// HikvisionIDs are the identities a Hikvision alarm can match, most specific first: MAC then IP,
// each with the channel (0 or less means 1).
func HikvisionIDs(mac, ip string, channel int) []Identity {
	if channel <= 0 {
		channel = 1
	}
	ch := strconv.Itoa(channel)
	var out []Identity
	if hw, err := net.ParseMAC(mac); err == nil {
		out = append(out, Identity("hikvision|mac|"+hw.String()+"|"+ch))
	}
	if ip != "" {
		out = append(out, Identity("hikvision|ip|"+ip+"|"+ch))
	}
	return out
}

// ONVIFID is the identity of an ONVIF device service URL.
func ONVIFID(url string) Identity { return Identity("onvif|" + strings.TrimRight(url, "/")) }

// WebhookID is the identity of a camera posted to webhook source.
func WebhookID(source, camera string) Identity { return Identity("webhook|" + source + "|" + camera) }

func (c Config) identities() []string {
	var ids []Identity
	switch s := c.Source; s.Kind {
	case KindFrigate:
		ids = []Identity{FrigateID(s.Name)}
	case KindHikvision:
		ids = HikvisionIDs(s.MAC, s.IP, s.Channel)
	case KindONVIF:
		ids = []Identity{ONVIFID(s.URL)}
	case KindWebhook:
		ids = []Identity{WebhookID(s.Webhook, s.Name)}
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = string(id)
	}
	return out
}

// Registry is the set of known cameras and when each was last heard. It is safe for concurrent use;
// cameras can be added and removed while collectors run.
type Registry struct {
	now func() time.Time

	mu      sync.RWMutex // guards everything below
	byID    map[string]*entry
	byKey   map[string]*entry
	unknown map[string]time.Time // unregistered entity → last heard
}

type entry struct {
	cfg   Config
	zones map[string]orb.Ring
	added time.Time
	heard time.Time
}

// NewRegistry builds a registry from validated cameras. now is the clock (time.Now when nil).
func NewRegistry(cams []Config, now func() time.Time) (*Registry, error) {
	if err := Validate(cams); err != nil {
		return nil, fmt.Errorf("camera registry: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	r := &Registry{now: now, byID: map[string]*entry{}, byKey: map[string]*entry{}, unknown: map[string]time.Time{}}
	for _, c := range cams {
		if err := r.Add(c); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// ErrExists is returned by Add when the ID or a source identity is already registered.
var ErrExists = errors.New("camera already registered")

// ErrNotFound is returned by Remove for an unknown ID.
var ErrNotFound = errors.New("camera not found")

// Add registers a camera at run time.
func (r *Registry) Add(c Config) error {
	if err := c.Validate("camera (" + c.ID + ")"); err != nil {
		return err
	}
	e := &entry{cfg: c, added: r.now(), zones: map[string]orb.Ring{}}
	for name, ring := range c.Zones {
		or := make(orb.Ring, 0, len(ring)+1)
		for _, p := range ring {
			or = append(or, orb.Point(p))
		}
		if or[0] != or[len(or)-1] {
			or = append(or, or[0])
		}
		e.zones[name] = or
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.byID[c.ID]; ok {
		return fmt.Errorf("add camera %s: %w", c.ID, ErrExists)
	}
	for _, k := range c.identities() {
		if other, ok := r.byKey[k]; ok {
			return fmt.Errorf("add camera %s: identity %s belongs to %s: %w", c.ID, k, other.cfg.ID, ErrExists)
		}
	}
	r.byID[c.ID] = e
	for _, k := range c.identities() {
		r.byKey[k] = e
	}
	return nil
}

// Remove unregisters a camera at run time.
func (r *Registry) Remove(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.byID[id]
	if !ok {
		return fmt.Errorf("remove camera %s: %w", id, ErrNotFound)
	}
	delete(r.byID, id)
	for _, k := range e.cfg.identities() {
		delete(r.byKey, k)
	}
	return nil
}

// Cameras returns the registered cameras sorted by ID.
func (r *Registry) Cameras() []Config {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Config, 0, len(r.byID))
	for _, e := range r.byID {
		out = append(out, e.cfg)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Zone returns the ground footprint ([lon, lat] ring) of a camera's named Frigate zone.
func (r *Registry) Zone(cameraID, zone string) (orb.Ring, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.byID[cameraID]
	if !ok {
		return nil, false
	}
	ring, ok := e.zones[zone]
	return ring, ok
}

// Resolve finds the camera for the first matching identity, marks it heard at time now, and returns
// the skeleton of a camera event: Type camera, Kind camera, Source, Time, Entity and Location of the
// registered camera, Attrs registered=true|false and camera_name. An unknown camera is never dropped:
// its Entity is fallback (derived by the collector from the vendor identity), it has no location and
// registered=false.
func (r *Registry) Resolve(source, fallback string, t time.Time, ids ...Identity) stream.Event {
	ev := stream.Event{Type: stream.TypeCamera, Kind: "camera", Source: source, Time: t,
		Values: map[string]float64{}, Attrs: map[string]string{}}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		e, ok := r.byKey[string(id)]
		if !ok {
			continue
		}
		e.heard = now
		ev.Entity = e.cfg.ID
		ev.Location, ev.HasLocation = orb.Point(e.cfg.Location), true
		ev.Attrs["registered"] = "true"
		if e.cfg.Name != "" {
			ev.Attrs["camera_name"] = e.cfg.Name
		}
		return ev
	}
	ev.Entity = fallback
	ev.Attrs["registered"] = "false"
	if len(r.unknown) < maxUnknown {
		r.unknown[fallback] = now
	} else if _, ok := r.unknown[fallback]; ok {
		r.unknown[fallback] = now
	}
	return ev
}

// maxUnknown bounds how many unregistered cameras the registry remembers.
const maxUnknown = 10000

// Heard marks the camera matching one of ids as alive at the registry clock's now (heartbeats). It
// reports whether a registered camera matched.
func (r *Registry) Heard(ids ...Identity) bool {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		if e, ok := r.byKey[string(id)]; ok {
			e.heard = now
			return true
		}
	}
	return false
}

// LastHeard returns when a registered camera was last heard (zero if never).
func (r *Registry) LastHeard(id string) (time.Time, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.byID[id]
	if !ok {
		return time.Time{}, false
	}
	return e.heard, true
}

// Offline lists, sorted, the registered cameras not heard for longer than after as of now. A camera
// never heard counts from when it was registered.
func (r *Registry) Offline(now time.Time, after time.Duration) []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []string
	for id, e := range r.byID {
		last := e.heard
		if last.IsZero() {
			last = e.added
		}
		if now.Sub(last) > after {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// Unregistered lists, sorted, the entities of unknown cameras heard so far (at most 10,000).
func (r *Registry) Unregistered() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.unknown))
	for k := range r.unknown {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
