package mqtt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ioc-vn/ioc/stream"
)

// Payload formats.
const (
	FormatThingsBoard        = "thingsboard"
	FormatThingsBoardGateway = "thingsboard_gateway"
	FormatSenML              = "senml"
)

// Decoder turns one MQTT payload into events. device is the topic part matched by the filter's wildcard
// (empty when the filter has none). It returns the valid events and one error per rejected entry, so the
// valid entries of a batch are kept. An entry that carries no time of its own (ThingsBoard without
// "ts", SenML with neither "t" nor "bt") gets Time zero: the collector stamps it (see stamper); now is
// the receive time that relative SenML times count from.
type Decoder func(device string, payload []byte, now time.Time) ([]stream.Event, []error)

// decoders by format name.
var decoders = map[string]Decoder{
	FormatThingsBoard:        decodeThingsBoard,
	FormatThingsBoardGateway: decodeGateway,
	FormatSenML:              decodeSenML,
}

// DecoderFor returns the decoder of a format.
func DecoderFor(format string) (Decoder, bool) {
	d, ok := decoders[format]
	return d, ok
}

// location keys: numeric values under these names set the event location instead of being values.
var lonKeys, latKeys = []string{"lon", "lng", "longitude"}, []string{"lat", "latitude"}

// tbEntry reads one ThingsBoard telemetry entry: with "ts" and "values" or a flat map of values.
func tbEntry(device string, obj map[string]any) (stream.Event, error) {
	ev := stream.Event{Entity: device, Type: stream.TypeTelemetry} // Time zero without "ts": stamped by the collector
	values := obj
	if tsRaw, ok := obj["ts"]; ok {
		ts, err := millis(tsRaw)
		if err != nil {
			return ev, err
		}
		ev.Time = ts
		vr, ok := obj["values"]
		if !ok {
			return ev, stream.Reject(stream.ReasonMalformed, "has \"ts\" but no \"values\"")
		}
		if values, ok = vr.(map[string]any); !ok {
			return ev, stream.Reject(stream.ReasonWrongType, "\"values\" must be an object, got %s", jsonType(vr))
		}
	}
	if err := setValues(&ev, values); err != nil {
		return ev, err
	}
	return ev, nil
}

// decodeGateway reads ThingsBoard gateway telemetry: {"device":[{"ts":ms,"values":{…}},…],…}.
func decodeGateway(_ string, payload []byte, _ time.Time) ([]stream.Event, []error) {
	raw, err := parse(payload)
	if err != nil {
		return nil, []error{err}
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return nil, []error{stream.Reject(stream.ReasonWrongType, "gateway payload must be an object of devices, got %s", jsonType(raw))}
	}
	devices := make([]string, 0, len(obj))
	for d := range obj {
		devices = append(devices, d)
	}
	sort.Strings(devices)
	var out []stream.Event
	var errs []error
	for _, device := range devices {
		if device == "" {
			errs = append(errs, stream.Reject(stream.ReasonNoEntity, "empty device name"))
			continue
		}
		var entries []any
		switch v := obj[device].(type) {
		case []any:
			entries = v
		case map[string]any:
			entries = []any{v}
		default:
			errs = append(errs, stream.Reject(stream.ReasonWrongType, "%s: must be an array of {ts, values}, got %s", device, jsonType(v)))
			continue
		}
		for i, e := range entries {
			m, ok := e.(map[string]any)
			if !ok {
				errs = append(errs, stream.Reject(stream.ReasonWrongType, "%s: entry %d must be an object, got %s", device, i, jsonType(e)))
				continue
			}
			ev, err := tbEntry(device, m)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: entry %d: %w", device, i, err))
				continue
			}
			out = append(out, ev)
		}
	}
	return out, errs
}

// setValues copies a ThingsBoard values object into ev: numbers and booleans become values, strings
// attributes, lat/lon the location. Nested objects and arrays are refused.
func setValues(ev *stream.Event, values map[string]any) error {
	if len(values) == 0 {
		return stream.Reject(stream.ReasonEmpty, "no values")
	}
	var lon, lat *float64
	for k, v := range values {
		if k == "" {
			return stream.Reject(stream.ReasonMalformed, "empty field name")
		}
		switch x := v.(type) {
		case json.Number:
			f, err := finite(k, x)
			if err != nil {
				return err
			}
			setNumber(ev, k, f, len(values), &lon, &lat)
		case bool:
			setValue(ev, k, b2f(x), len(values))
		case string:
			setAttr(ev, k, x)
		case nil:
			// a null value records nothing
		default:
			return stream.Reject(stream.ReasonWrongType, "field %q must be a number, boolean or string, got %s", k, jsonType(v))
		}
	}
	return setLocation(ev, lon, lat)
}

// setNumber records numeric field k: a lon or lat key sets *lon or *lat, any other a value. n sizes
// a new values map.
func setNumber(ev *stream.Event, k string, f float64, n int, lon, lat **float64) {
	switch {
	case contains(lonKeys, k):
		*lon = &f
	case contains(latKeys, k):
		*lat = &f
	default:
		setValue(ev, k, f, n)
	}
}

func setValue(ev *stream.Event, k string, f float64, n int) {
	if ev.Values == nil {
		ev.Values = make(map[string]float64, n)
	}
	ev.Values[k] = f
}

func setAttr(ev *stream.Event, k, v string) {
	if ev.Attrs == nil {
		ev.Attrs = make(map[string]string, 1)
	}
	ev.Attrs[k] = v
}

// setLocation sets ev's location from lon and lat (both or neither) and refuses an event that records
// nothing.
func setLocation(ev *stream.Event, lon, lat *float64) error {
	if (lon == nil) != (lat == nil) {
		return stream.Reject(stream.ReasonBadLocation, "lat and lon must come together")
	}
	if lon != nil {
		if err := stream.CheckLonLat(*lon, *lat); err != nil {
			return err
		}
		ev.Location, ev.HasLocation = [2]float64{*lon, *lat}, true
	}
	if len(ev.Values) == 0 && len(ev.Attrs) == 0 && !ev.HasLocation {
		return stream.Reject(stream.ReasonEmpty, "no values")
	}
	return nil
}

// SenML record fields (RFC 8428 section 4).
type senmlRecord struct {
	BaseName    *string `json:"bn"`
	BaseTime    *num    `json:"bt"`
	BaseUnit    *string `json:"bu"`
	BaseValue   *num    `json:"bv"`
	BaseSum     *num    `json:"bs"`
	BaseVersion *num    `json:"bver"`
	Name        *string `json:"n"`
	Unit        *string `json:"u"`
	Value       *num    `json:"v"`
	StringValue *string `json:"vs"`
	BoolValue   *bool   `json:"vb"`
	DataValue   *string `json:"vd"`
	Sum         *num    `json:"s"`
	Time        *num    `json:"t"`
	UpdateTime  *num    `json:"ut"`
}

// num is a JSON number that, unlike json.Number, refuses quoted strings.
type num json.Number

func (n *num) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || b[0] == '"' || b[0] == '{' || b[0] == '[' || b[0] == 't' || b[0] == 'f' {
		return &json.UnmarshalTypeError{Value: "non-number " + string(b[:min(len(b), 1)]), Type: reflect.TypeOf(0.0)}
	}
	*n = num(b)
	return nil
}

// senmlRelative is the RFC 8428 boundary: smaller times are relative to now.
const senmlRelative = 1 << 28

// decodeSenML reads a SenML JSON pack. Base fields carry to later records as RFC 8428 section 4.5
// says. The device is the topic part matched by the filter's wildcard; without one it is the base name
// (trailing ':' '/' '.' removed) and the field is the record name. Records of one device at one time
// become one event.
func decodeSenML(device string, payload []byte, now time.Time) ([]stream.Event, []error) {
	if len(bytes.TrimSpace(payload)) == 0 {
		return nil, []error{stream.Reject(stream.ReasonMalformed, "empty payload")}
	}
	var recs []senmlRecord
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&recs); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, []error{stream.Reject(stream.ReasonWrongType, "senml: %v", err)}
		}
		return nil, []error{stream.Reject(stream.ReasonMalformed, "senml: %v", err)}
	}
	var (
		bn, bu  string
		bt, bv  float64
		bs      float64
		out     []stream.Event
		errs    []error
		byKey   = map[string]int{}
		nowSecs = float64(now.UnixNano()) / 1e9
	)
	for i, r := range recs {
		if r.BaseVersion != nil {
			if v, err := json.Number(*r.BaseVersion).Int64(); err != nil || v > 10 {
				errs = append(errs, stream.Reject(stream.ReasonMalformed, "senml record %d: unsupported version %s", i, *r.BaseVersion))
				continue
			}
		}
		if r.BaseName != nil {
			bn = *r.BaseName
		}
		if r.BaseUnit != nil {
			bu = *r.BaseUnit
		}
		var err error
		if bt, err = optFloat(r.BaseTime, bt, "bt"); err == nil {
			if bv, err = optFloat(r.BaseValue, bv, "bv"); err == nil {
				bs, err = optFloat(r.BaseSum, bs, "bs")
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("senml record %d: %w", i, err))
			continue
		}
		name := bn
		if r.Name != nil {
			name += *r.Name
		}
		dev, field := senmlNames(device, bn, r.Name, name)
		if dev == "" || field == "" {
			errs = append(errs, stream.Reject(stream.ReasonNoEntity, "senml record %d: cannot tell device and field from name %q", i, name))
			continue
		}
		t, err := optFloat(r.Time, 0, "t")
		if err != nil {
			errs = append(errs, fmt.Errorf("senml record %d: %w", i, err))
			continue
		}
		t += bt
		var ts time.Time // zero: the record says "now" (no t, no bt); the collector stamps it
		if t != 0 {
			if t < senmlRelative {
				t += nowSecs
			}
			if math.IsInf(t, 0) || math.IsNaN(t) {
				errs = append(errs, stream.Reject(stream.ReasonNotFinite, "senml record %d: time is not finite", i))
				continue
			}
			ts = time.Unix(0, int64(t*1e9)).UTC()
		}
		key := dev + "\x00" + strconv.FormatInt(ts.UnixNano(), 10)
		idx, ok := byKey[key]
		if !ok {
			idx = len(out)
			byKey[key] = idx
			out = append(out, stream.Event{Entity: dev, Type: stream.TypeTelemetry, Time: ts})
		}
		ev := &out[idx]
		unit := bu
		if r.Unit != nil {
			unit = *r.Unit
		}
		if err := senmlValue(ev, field, unit, r, bv, bs); err != nil {
			errs = append(errs, fmt.Errorf("senml record %d: %w", i, err))
		}
	}
	kept := out[:0]
	for _, ev := range out {
		if len(ev.Values) > 0 || len(ev.Attrs) > 0 || ev.HasLocation {
			kept = append(kept, ev)
		}
	}
	return kept, errs
}

// senmlNames splits a resolved SenML name into device and field.
func senmlNames(topicDevice, bn string, n *string, resolved string) (device, field string) {
	rn := ""
	if n != nil {
		rn = *n
	}
	switch {
	case topicDevice != "":
		if rn == "" {
			return topicDevice, strings.TrimRight(bn, ":/.")
		}
		return topicDevice, rn
	case bn != "" && rn != "":
		return strings.TrimRight(bn, ":/."), rn
	default:
		i := strings.LastIndexAny(resolved, ":/")
		if i <= 0 || i == len(resolved)-1 {
			return "", ""
		}
		return resolved[:i], resolved[i+1:]
	}
}

// senmlValue stores one record's value in ev.
func senmlValue(ev *stream.Event, field, unit string, r senmlRecord, bv, bs float64) error {
	set := func(f float64) error {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return stream.Reject(stream.ReasonNotFinite, "%s: value is not finite", field)
		}
		switch {
		case contains(lonKeys, field):
			ev.Location[0], ev.HasLocation = f, true
		case contains(latKeys, field):
			ev.Location[1], ev.HasLocation = f, true
		default:
			if ev.Values == nil {
				ev.Values = map[string]float64{}
			}
			ev.Values[field] = f
		}
		if unit != "" {
			if ev.Attrs == nil {
				ev.Attrs = map[string]string{}
			}
			ev.Attrs["unit."+field] = unit
		}
		return nil
	}
	switch {
	case r.Value != nil:
		v, err := finite(field, json.Number(*r.Value))
		if err != nil {
			return err
		}
		return set(v + bv)
	case r.BoolValue != nil:
		return set(b2f(*r.BoolValue))
	case r.Sum != nil:
		v, err := finite(field, json.Number(*r.Sum))
		if err != nil {
			return err
		}
		return set(v + bs)
	case r.StringValue != nil:
		if ev.Attrs == nil {
			ev.Attrs = map[string]string{}
		}
		ev.Attrs[field] = *r.StringValue
		return nil
	case r.DataValue != nil:
		return stream.Reject(stream.ReasonWrongType, "%s: data values (vd) are not recorded", field)
	case bv != 0:
		return set(bv)
	default:
		return stream.Reject(stream.ReasonEmpty, "%s: record has no value", field)
	}
}

func optFloat(n *num, def float64, key string) (float64, error) {
	if n == nil {
		return def, nil
	}
	return finite(key, json.Number(*n))
}

// parse decodes JSON keeping numbers exact, reporting malformed input as a rejection.
func parse(payload []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, stream.Reject(stream.ReasonMalformed, "invalid JSON: %v", err)
	}
	if dec.More() {
		return nil, stream.Reject(stream.ReasonMalformed, "invalid JSON: trailing data")
	}
	return v, nil
}

func finite(key string, n json.Number) (float64, error) {
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, stream.Reject(stream.ReasonNotFinite, "%q: %s is not a finite number", key, n)
	}
	return f, nil
}

func millis(v any) (time.Time, error) {
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, stream.Reject(stream.ReasonWrongType, "\"ts\" must be a number of milliseconds, got %s", jsonType(v))
	}
	f, err := finite("ts", n)
	if err != nil {
		return time.Time{}, err
	}
	if f < 0 || f > 1e15 {
		return time.Time{}, stream.Reject(stream.ReasonTimeFuture, "\"ts\" %s is out of range", n)
	}
	return time.UnixMilli(int64(f)).UTC(), nil
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
