package frigate

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/ioc-vn/ioc/internal/camera"
	"github.com/ioc-vn/ioc/stream"
)

// Message is one frigate/events payload: the tracked object before and after a change.
type Message struct {
	Type   string  `json:"type"` // new, update, end
	Before *Object `json:"before,omitempty"`
	After  *Object `json:"after"`
}

// Object is Frigate's tracked object as published on frigate/events. Times are Unix seconds.
type Object struct {
	ID            string          `json:"id"`
	Camera        string          `json:"camera"`
	FrameTime     float64         `json:"frame_time"`
	Label         string          `json:"label"`
	SubLabel      json.RawMessage `json:"sub_label,omitempty"` // null, "name" or ["name", score]
	Score         float64         `json:"score"`
	TopScore      float64         `json:"top_score"`
	FalsePositive bool            `json:"false_positive"`
	StartTime     float64         `json:"start_time"`
	EndTime       *float64        `json:"end_time"`
	Box           []float64       `json:"box,omitempty"`
	Area          float64         `json:"area,omitempty"`
	CurrentZones  []string        `json:"current_zones"`
	EnteredZones  []string        `json:"entered_zones"`
	HasSnapshot   bool            `json:"has_snapshot"`
	HasClip       bool            `json:"has_clip"`
	Stationary    bool            `json:"stationary"`
}

// Review is one frigate/reviews payload (Frigate 0.14+): a review item grouping detections.
type Review struct {
	Type   string      `json:"type"` // new, update, end
	Before *ReviewItem `json:"before,omitempty"`
	After  *ReviewItem `json:"after"`
}

// ReviewItem is the state of a review segment.
type ReviewItem struct {
	ID        string     `json:"id"`
	Camera    string     `json:"camera"`
	StartTime float64    `json:"start_time"`
	EndTime   *float64   `json:"end_time"`
	Severity  string     `json:"severity"` // alert or detection
	Data      ReviewData `json:"data"`
}

// ReviewData lists what a review segment contains.
type ReviewData struct {
	Detections []string `json:"detections"`
	Objects    []string `json:"objects"`
	SubLabels  []string `json:"sub_labels"`
	Zones      []string `json:"zones"`
}

// Change types.
const (
	TypeNew    = "new"
	TypeUpdate = "update"
	TypeEnd    = "end"
)

func checkType(t string) error {
	switch t {
	case TypeNew, TypeUpdate, TypeEnd:
		return nil
	}
	return stream.Reject(stream.ReasonMalformed, "type %q is not new, update or end", t)
}

func unmarshal(payload []byte, v any) error {
	if err := camera.CheckJSONDepth(payload, camera.MaxDepth); err != nil {
		return err
	}
	if err := json.NewDecoder(bytes.NewReader(payload)).Decode(v); err != nil {
		return stream.Reject(stream.ReasonMalformed, "json: %v", err)
	}
	return nil
}

// DecodeEvent parses a frigate/events payload. Errors are *stream.Rejection.
func DecodeEvent(payload []byte) (Message, error) {
	var m Message
	if err := unmarshal(payload, &m); err != nil {
		return m, err
	}
	if err := checkType(m.Type); err != nil {
		return m, err
	}
	if m.After == nil || m.After.ID == "" || m.After.Camera == "" {
		return m, stream.Reject(stream.ReasonNoEntity, "after.id and after.camera are required")
	}
	if m.After.StartTime <= 0 {
		return m, stream.Reject(stream.ReasonMalformed, "after.start_time is required")
	}
	return m, nil
}

// DecodeReview parses a frigate/reviews payload. Errors are *stream.Rejection.
func DecodeReview(payload []byte) (Review, error) {
	var r Review
	if err := unmarshal(payload, &r); err != nil {
		return r, err
	}
	if err := checkType(r.Type); err != nil {
		return r, err
	}
	if r.After == nil || r.After.ID == "" || r.After.Camera == "" {
		return r, stream.Reject(stream.ReasonNoEntity, "after.id and after.camera are required")
	}
	return r, nil
}

// subLabel reads Frigate's sub_label in its three shapes: null, "name" or ["name", score].
func subLabel(raw json.RawMessage) (name string, score float64, ok bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", 0, false
	}
	if err := json.Unmarshal(raw, &name); err == nil {
		return name, 0, name != ""
	}
	var pair []json.RawMessage
	if err := json.Unmarshal(raw, &pair); err != nil || len(pair) == 0 {
		return "", 0, false
	}
	if err := json.Unmarshal(pair[0], &name); err != nil {
		return "", 0, false
	}
	if len(pair) > 1 && json.Unmarshal(pair[1], &score) != nil {
		score = 0
	}
	return name, score, name != ""
}

// newlyEntered lists the zones in after that were not in before.
func newlyEntered(before, after []string) string {
	var out []string
	for _, z := range after {
		seen := false
		for _, b := range before {
			seen = seen || b == z
		}
		if !seen {
			out = append(out, z)
		}
	}
	return strings.Join(out, ",")
}
