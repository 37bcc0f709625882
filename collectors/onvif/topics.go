package onvif

import (
	"net/url"
	"strings"
	"time"

	"github.com/ioc-vn/ioc/internal/camera"
	"github.com/ioc-vn/ioc/stream"
)

// rule maps an ONVIF topic (namespace prefixes removed, lowercase) to a label. A stateful topic
// carries a boolean Data item whose rising and falling edges become active and ended events; a
// momentary one is a single detection.
type rule struct {
	label string
	state string // the boolean Data item of a stateful topic; "" for momentary topics
}

var rules = map[string]rule{
	"ruleengine/cellmotiondetector/motion":           {label: "motion", state: "IsMotion"},
	"videosource/motionalarm":                        {label: "motion", state: "State"},
	"ruleengine/fielddetector/objectsinside":         {label: "intrusion", state: "IsInside"},
	"ruleengine/tamperdetector/tamper":               {label: "tampering", state: "IsTamper"},
	"videosource/imagetooblurry/analyticsservice":    {label: "tampering", state: "State"},
	"videosource/globalscenechange/analyticsservice": {label: "tampering", state: "State"},
	"ruleengine/linedetector/crossed":                {label: "line_crossing"},
}

// normalizeTopic drops namespace prefixes from each topic level: "tns1:RuleEngine/tnsaxis:X" →
// "RuleEngine/X".
func normalizeTopic(t string) string {
	parts := strings.Split(strings.TrimSpace(t), "/")
	for i, p := range parts {
		if j := strings.IndexByte(p, ':'); j >= 0 {
			parts[i] = p[j+1:]
		}
	}
	return strings.Join(parts, "/")
}

// match finds the rule for a normalized topic; license plate topics (vendor and Profile M variants,
// any topic with "LicensePlate" or "PlateRecognition" in its path) are momentary vehicle detections.
func match(topic string) (rule, bool) {
	low := strings.ToLower(topic)
	if r, ok := rules[low]; ok {
		return r, true
	}
	if strings.Contains(low, "licenseplate") || strings.Contains(low, "platerecognition") {
		return rule{label: "vehicle"}, true
	}
	return rule{}, false
}

func item(items []SimpleItem, name string) (string, bool) {
	for _, it := range items {
		if strings.EqualFold(it.Name, name) {
			return it.Value, true
		}
	}
	return "", false
}

// plate finds the plate text among data items (PlateNumber, LicensePlate, PlateText …).
func plate(items []SimpleItem) string {
	for _, it := range items {
		if n := strings.ToLower(it.Name); strings.Contains(n, "plate") && !strings.Contains(n, "confidence") && !strings.Contains(n, "type") && !strings.Contains(n, "color") {
			return it.Value
		}
	}
	return ""
}

func truthy(v string) bool { return v == "true" || v == "1" || v == "True" || v == "TRUE" }

// events turns pulled notifications of one device into camera events, tracking edges of stateful
// topics. Unknown topics are counted (decode error reason unknown_topic) and skipped.
func (c *Collector) events(device string, msgs []Notification) []stream.Event {
	now := c.now()
	host := device
	if u, err := url.Parse(device); err == nil {
		host = u.Host
	}
	var out []stream.Event
	for _, n := range msgs {
		topic := normalizeTopic(n.Topic)
		r, ok := match(topic)
		c.cams.Heard(camera.ONVIFID(device))
		if !ok {
			c.m.DecodeErrors.WithLabelValues(stream.ReasonUnknownTopic).Inc()
			continue
		}
		msg := n.Message
		t := now
		if ts, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(msg.UtcTime)); err == nil {
			t = ts
		}
		var srcKey strings.Builder
		for _, it := range msg.Source {
			srcKey.WriteString(it.Name + "=" + it.Value + ";")
		}
		key := device + "|" + topic + "|" + srcKey.String()
		state := camera.StateActive
		var duration float64
		hasDuration := false
		if r.state != "" {
			v, ok := item(msg.Data, r.state)
			if !ok {
				c.m.DecodeErrors.WithLabelValues(stream.ReasonMalformed).Inc()
				continue
			}
			start, was := c.edge(key, truthy(v) && msg.PropertyOperation != "Deleted", t)
			switch {
			case truthy(v) && msg.PropertyOperation != "Deleted":
			case was:
				state, duration, hasDuration = camera.StateEnded, t.Sub(start).Seconds(), true
			case msg.PropertyOperation == "Changed":
				state = camera.StateEnded // a falling edge whose rise we did not see
			default:
				continue // Initialized false or Deleted while idle: nothing happened
			}
		}
		ev := c.cams.Resolve(c.cfg.Name, "onvif:"+host, t, camera.ONVIFID(device))
		set := func(k, v string) {
			if v != "" {
				ev.Attrs[k] = v
			}
		}
		set("label", r.label)
		set("event_type", strings.TrimSpace(n.Topic))
		set("state", state)
		set("property_operation", msg.PropertyOperation)
		if v, ok := item(msg.Source, "VideoSourceConfigurationToken"); ok {
			set("video_source", v)
		} else if v, ok := item(msg.Source, "VideoSourceToken"); ok {
			set("video_source", v)
		}
		if v, ok := item(msg.Source, "Rule"); ok {
			set("zones", v)
		}
		if r.label == "vehicle" {
			set("sub_label", plate(msg.Data))
			set("plate", plate(msg.Data))
		}
		if v, ok := item(msg.Data, "ObjectId"); ok {
			set("object_id", v)
		}
		if msg.PropertyOperation == "Initialized" {
			ev.Attrs["initial"] = "true"
		}
		if hasDuration {
			ev.Values["duration_s"] = duration
		}
		if state == camera.StateEnded {
			out = append(out, c.collect.Close(camera.Key(ev.Entity, r.label+"/", topic, camera.StateActive))...)
			ev.Values["count"] = 1
			out = append(out, ev)
			continue
		}
		got := c.collect.Offer(camera.Key(ev.Entity, r.label+"/"+ev.Attrs["sub_label"], topic, state), ev, now)
		if len(got) == 0 {
			c.m.Collapsed.Inc()
		}
		out = append(out, got...)
	}
	return out
}

// edge records the state of key and returns when it became active and whether it was.
func (c *Collector) edge(key string, on bool, t time.Time) (start time.Time, was bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	start, was = c.active[key]
	switch {
	case on && !was:
		c.active[key] = t
	case !on:
		delete(c.active, key)
	}
	return start, was
}
