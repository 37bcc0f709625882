package dashboard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/paulmach/orb"

	"github.com/ioc-vn/ioc/geo"
	"github.com/ioc-vn/ioc/stream"
)

// MaxZoom is the highest map zoom a subscription may ask for.
const MaxZoom = 24

// Layers of the live map and the event types they show.
var layerOfType = map[string]string{
	stream.TypeTelemetry: "sensors",
	stream.TypeCamera:    "cameras",
	stream.TypeAlarm:     "alarms",
	stream.TypeReport:    "reports",
	stream.TypeGeofence:  "geofences",
}

// Layers lists the layer names a subscription may ask for.
func Layers() []string {
	out := make([]string, 0, len(layerOfType))
	for _, l := range layerOfType {
		out = append(out, l)
	}
	slices.Sort(out)
	return out
}

// layerNames is Layers(): bit i of a subscription's layer set is layerNames[i].
var layerNames = Layers()

// layerBits is the set holding the layer an entity type is shown on (0 for types no layer shows).
func layerBits(typ string) uint8 {
	if i := slices.Index(layerNames, LayerOf(typ)); i >= 0 {
		return 1 << i
	}
	return 0
}

// LayerOf is the map layer of an entity type ("other" for types no layer shows).
func LayerOf(typ string) string {
	if l, ok := layerOfType[typ]; ok {
		return l
	}
	return "other"
}

// ClusterItem is a server-side cluster sent to zoomed-out clients: the number of entities per kind,
// the worst active alarm severity among them, their bounding box [minLon, minLat, maxLon, maxLat] and
// their mean position [lon, lat].
type ClusterItem struct {
	geo.Cluster
	BBox   [4]float64 `json:"bbox"`
	Center [2]float64 `json:"center"`
}

// subscription is a client's viewport: only entities inside bbox, on the chosen layers (all when
// none) and passing the filter are sent. At zooms below the cluster threshold the client gets
// clusters instead of entities.
type subscription struct {
	bbox     orb.Bound
	zoom     int
	layers   uint8 // bit i: layerNames[i]; 0: every layer
	kinds    map[string]bool
	areas    map[string]bool
	clusters bool
	none     bool // connected with ?viewport=1 and not subscribed yet: shows nothing
	// allow is the client's item filter (area scope), nil for everything: what it rejects is neither
	// sent, counted in clusters, nor named in "leave".
	allow func(Item) bool
	owner *client // set with allow: the only client that sees these clusters
	key   string  // built by cacheKey when the hub first clusters the subscription
}

// subscribeFrame is {"type":"subscribe","bbox":[minLon,minLat,maxLon,maxLat],"zoom":Z,"layers":[…],"filter":{…}}.
type subscribeFrame struct {
	Type   string       `json:"type"`
	BBox   []float64    `json:"bbox"`
	Zoom   *float64     `json:"zoom"`
	Layers []string     `json:"layers"`
	Filter *filterFrame `json:"filter"`
}

type filterFrame struct {
	Kinds []string `json:"kinds"` // entity kinds (salinity, camera, alarm …); empty: all
	Areas []string `json:"areas"` // admin area codes at any level; empty: everywhere
}

// parseSubscribe reads and checks a subscribe frame; the error says what is wrong, for the client.
// clusterBelow is the zoom under which clusters are sent.
func parseSubscribe(data []byte, clusterBelow int) (*subscription, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f subscribeFrame
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("khung subscribe không hợp lệ / invalid subscribe frame: %v", err)
	}
	if f.BBox == nil {
		return nil, fmt.Errorf("thiếu bbox / bbox is required: [minLon, minLat, maxLon, maxLat]")
	}
	b, err := geo.BoundOf(f.BBox)
	if err != nil {
		return nil, fmt.Errorf("bbox không hợp lệ / invalid bbox: %v", err)
	}
	if f.Zoom == nil {
		return nil, fmt.Errorf("thiếu zoom / zoom is required (0–%d)", MaxZoom)
	}
	z := *f.Zoom
	if math.IsNaN(z) || z < 0 || z > MaxZoom {
		return nil, fmt.Errorf("zoom không hợp lệ / zoom %g is outside 0–%d", z, MaxZoom)
	}
	s := &subscription{bbox: b, zoom: int(math.Floor(z))}
	s.clusters = s.zoom < clusterBelow
	known := Layers()
	for _, l := range f.Layers {
		if !slices.Contains(known, l) {
			return nil, fmt.Errorf("lớp không hỗ trợ / unknown layer %q (one of %s)", l, strings.Join(known, ", "))
		}
		s.layers |= 1 << slices.Index(layerNames, l)
	}
	if f.Filter != nil {
		for _, k := range f.Filter.Kinds {
			if k == "" {
				return nil, fmt.Errorf("filter.kinds: empty kind")
			}
			s.kinds = setOf(s.kinds, k)
		}
		for _, a := range f.Filter.Areas {
			if a == "" {
				return nil, fmt.Errorf("filter.areas: empty area code")
			}
			s.areas = setOf(s.areas, a)
		}
	}
	return s, nil
}

func setOf(m map[string]bool, v string) map[string]bool {
	if m == nil {
		m = map[string]bool{}
	}
	m[v] = true
	return m
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// scopeTo limits s to what c may see. The clusters of a filtered subscription are computed for it
// alone: its key names the client, so the hub's per-tick cluster cache never shares them.
func (s *subscription) scopeTo(c *client) {
	if c.allow != nil {
		s.allow, s.owner = c.allow, c
	}
}

// layerNames lists the subscription's layers (none: every layer).
func (s *subscription) layerNames() []string {
	var out []string
	for i, l := range layerNames {
		if s.layers&(1<<i) != 0 {
			out = append(out, l)
		}
	}
	return out
}

// cacheKey is the subscription's canonical form: equal keys see equal clusters. It is built on first
// use (by the hub goroutine), so a subscription that is never clustered does not hold one.
func (s *subscription) cacheKey() string {
	if s.key == "" {
		s.key = fmt.Sprintf("%v|%d|%v|%v|%v", s.bbox, s.zoom, s.layerNames(), sortedKeys(s.kinds), sortedKeys(s.areas))
		if s.owner != nil {
			s.key += fmt.Sprintf("|client=%p", s.owner)
		}
	}
	return s.key
}

// wants reports whether the subscription shows it, wherever it is.
func (s *subscription) wants(it *Item) bool {
	if s.none || it.Location == nil || s.allow != nil && !s.allow(*it) {
		return false
	}
	if s.layers != 0 && s.layers&layerBits(it.Type) == 0 {
		return false
	}
	if len(s.kinds) > 0 && !s.kinds[it.Kind] {
		return false
	}
	if len(s.areas) > 0 {
		for _, code := range it.Areas {
			if s.areas[code] {
				return true
			}
		}
		return false
	}
	return true
}

// shows reports whether it is inside the viewport and wanted.
func (s *subscription) shows(it *Item) bool {
	return it.Location != nil && s.bbox.Contains(orb.Point(*it.Location)) && s.wants(it)
}

// severityOf is an item's alarm severity for clustering: the severity of an active alarm, else "".
func severityOf(it *Item) string {
	if it.Type != stream.TypeAlarm || !strings.HasPrefix(it.Attrs["state"], "active") {
		return ""
	}
	return it.Attrs["severity"]
}

// clustersOf groups the entities of idx that s shows.
func clustersOf(idx *geo.Index[Item], s *subscription) []ClusterItem {
	g := geo.NewGrid(s.zoom)
	idx.Search(s.bbox, func(_ string, p orb.Point, it Item) bool {
		if s.wants(&it) {
			g.Add(p, it.Kind, severityOf(&it))
		}
		return true
	})
	cs := g.List()
	out := make([]ClusterItem, len(cs))
	for i, c := range cs {
		out[i] = ClusterItem{Cluster: c, BBox: [4]float64{c.Bound.Min[0], c.Bound.Min[1], c.Bound.Max[0], c.Bound.Max[1]},
			Center: [2]float64{c.Center[0], c.Center[1]}}
	}
	return out
}
