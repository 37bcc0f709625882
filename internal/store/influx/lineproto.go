package influx

import (
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/ioc-vn/ioc/stream"
)

// Measurements for non-telemetry events. Telemetry goes to a measurement named after the device kind.
const (
	MeasurementCamera    = "camera_events"
	MeasurementAlarm     = "alarms"
	MeasurementGeofence  = "geofence_events"
	MeasurementReport    = "report_events"
	MeasurementTelemetry = "telemetry" // telemetry of a device with no kind
)

// Tag keys common to every measurement; area codes add one tag per admin level (province, district, …).
const (
	TagDevice = "device"
	TagKind   = "kind"
)

// schema says how one event type becomes a point: which attributes are tags (bounded values only),
// and whether the entity ID is a tag (a bounded set: devices, cameras) or a string field (alarm and
// report IDs grow without bound).
type schema struct {
	measurement string
	entityTag   bool   // entity ID as the device tag
	entityField string // otherwise the entity ID as this string field
	deviceAttr  string // attribute naming the device, as the device tag (alarms: the source)
	tagAttrs    []string
	skipAttrs   []string // attributes not stored (free text)
}

var schemas = map[string]schema{
	stream.TypeTelemetry: {entityTag: true},
	stream.TypeCamera:    {measurement: MeasurementCamera, entityTag: true, tagAttrs: []string{"label", "registered"}},
	stream.TypeAlarm: {measurement: MeasurementAlarm, entityField: "alarm_id", deviceAttr: "source",
		tagAttrs: []string{"rule", "severity", "state", "action"}, skipAttrs: []string{"source"}},
	stream.TypeGeofence: {measurement: MeasurementGeofence, entityTag: true},
	stream.TypeReport: {measurement: MeasurementReport, entityField: "report_id",
		tagAttrs: []string{"category", "status"}, skipAttrs: []string{"description", "address", "unit", "report_id"}},
}

// telemetry reports whether a measurement holds telemetry (not events of another family).
func telemetry(measurement string) bool {
	return measurement != MeasurementAlarm && !strings.HasSuffix(measurement, "_events")
}

// measurementOf names the measurement of a telemetry kind.
func measurementOf(kind string) string {
	if kind == "" {
		return MeasurementTelemetry
	}
	return kind
}

// appendPoint appends ev as one line of line protocol (millisecond precision) and reports whether it
// wrote one: an event with no field is skipped. Telemetry has only numeric fields; other events add
// their text attributes as string fields.
func appendPoint(b []byte, ev *stream.Event) ([]byte, bool) {
	sc, ok := schemas[ev.Type]
	if !ok {
		sc = schema{measurement: ev.Type + "_events"}
	}
	m := sc.measurement
	if ev.Type == stream.TypeTelemetry {
		m = measurementOf(ev.Kind)
	}
	start := len(b)
	b = appendEscaped(b, m, measurementEsc)

	// Tags, sorted by key as InfluxDB prefers.
	var tagBuf [8][2]string // on the stack for the usual handful of tags
	tags := tagBuf[:0]
	if sc.entityTag {
		tags = append(tags, [2]string{TagDevice, ev.Entity})
	} else if sc.deviceAttr != "" && ev.Attrs[sc.deviceAttr] != "" {
		tags = append(tags, [2]string{TagDevice, ev.Attrs[sc.deviceAttr]})
	}
	if ev.Kind != "" {
		tags = append(tags, [2]string{TagKind, ev.Kind})
	}
	for lvl, code := range ev.Areas {
		if lvl != TagDevice && lvl != TagKind {
			tags = append(tags, [2]string{lvl, code})
		}
	}
	for _, k := range sc.tagAttrs {
		if _, clash := ev.Areas[k]; !clash {
			tags = append(tags, [2]string{k, ev.Attrs[k]})
		}
	}
	slices.SortFunc(tags, func(x, y [2]string) int { return strings.Compare(x[0], y[0]) })
	for _, t := range tags {
		if t[0] == "" || t[1] == "" { // InfluxDB refuses empty tag values
			continue
		}
		b = append(b, ',')
		b = appendEscaped(b, t[0], tagEsc)
		b = append(b, '=')
		b = appendEscaped(b, t[1], tagEsc)
	}

	// Fields: numeric values, then (not telemetry) text attributes.
	sep := byte(' ')
	nfields := 0
	var keyBuf [8]string
	for _, k := range appendSortedKeys(keyBuf[:0], ev.Values) {
		v := ev.Values[k]
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		b = append(b, sep)
		sep = ','
		b = appendEscaped(b, k, tagEsc)
		b = append(b, '=')
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
		nfields++
	}
	if ev.Type != stream.TypeTelemetry {
		if sc.entityField != "" {
			b = append(b, sep)
			sep = ','
			b = appendEscaped(b, sc.entityField, tagEsc)
			b = appendString(b, ev.Entity)
			nfields++
		}
		for _, k := range sortedKeys(ev.Attrs) {
			if _, num := ev.Values[k]; num || k == sc.entityField || slices.Contains(sc.tagAttrs, k) || slices.Contains(sc.skipAttrs, k) {
				continue
			}
			b = append(b, sep)
			sep = ','
			b = appendEscaped(b, k, tagEsc)
			b = appendString(b, ev.Attrs[k])
			nfields++
		}
	}
	if nfields == 0 {
		return b[:start], false
	}
	b = append(b, ' ')
	b = strconv.AppendInt(b, ev.Time.UnixMilli(), 10)
	b = append(b, '\n')
	return b, true
}

// stored maps a name or tag value to what InfluxDB stores for it, as appendEscaped writes it; queries
// apply it to the names they look for. Line breaks become spaces and a trailing backslash (line protocol
// cannot end a name with one) becomes a fullwidth reverse solidus (U+FF3C).
func stored(s string) string {
	if strings.ContainsAny(s, "\r\n") {
		s = strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
	}
	if strings.HasSuffix(s, `\`) {
		s = strings.TrimSuffix(s, `\`) + "\uff3c"
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	return appendSortedKeys(make([]string, 0, len(m)), m)
}

// appendSortedKeys appends m's keys to keys, sorted.
func appendSortedKeys[V any](keys []string, m map[string]V) []string {
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Characters escaped with a backslash in line protocol: measurements escape commas and spaces; tag
// keys, tag values and field keys also escape equals signs. Newlines cannot be escaped and become
// spaces; a trailing backslash becomes U+FF3C (see stored).
const (
	measurementEsc = ", "
	tagEsc         = ", ="
)

func appendEscaped(b []byte, s, special string) []byte {
	if plainName(s) { // the usual name or code: copied as it is
		return append(b, s...)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\n' || c == '\r':
			c = ' '
			if strings.IndexByte(special, ' ') >= 0 {
				b = append(b, '\\')
			}
		case c == '\\' && i == len(s)-1:
			return append(b, "\uff3c"...)
		case strings.IndexByte(special, c) >= 0:
			b = append(b, '\\')
		}
		b = append(b, c)
	}
	return b
}

// plainName reports whether s needs no escaping in any line-protocol name: no comma, space, equals
// sign, line break or backslash.
func plainName(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ',', ' ', '=', '\n', '\r', '\\':
			return false
		}
	}
	return true
}

// appendString appends ="s" with quotes and backslashes escaped and line breaks as spaces.
func appendString(b []byte, s string) []byte {
	b = append(b, '=', '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n', '\r': // kept off the line structure
			b = append(b, ' ')
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
