package hikvision

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"strings"

	"github.com/ioc-vn/ioc/internal/camera"
	"github.com/ioc-vn/ioc/stream"
)

// Alert is Hikvision ISAPI's EventNotificationAlert, in its XML (namespace
// http://www.hikvision.com/ver20/XMLSchema) or JSON form.
type Alert struct {
	XMLName          xml.Name `xml:"EventNotificationAlert" json:"-"`
	IPAddress        string   `xml:"ipAddress" json:"ipAddress"`
	PortNo           int      `xml:"portNo" json:"portNo"`
	Protocol         string   `xml:"protocol" json:"protocol"`
	MACAddress       string   `xml:"macAddress" json:"macAddress"`
	ChannelID        int      `xml:"channelID" json:"channelID"`
	DynChannelID     int      `xml:"dynChannelID" json:"dynChannelID"`
	DateTime         string   `xml:"dateTime" json:"dateTime"`
	ActivePostCount  int      `xml:"activePostCount" json:"activePostCount"`
	EventType        string   `xml:"eventType" json:"eventType"`
	EventState       string   `xml:"eventState" json:"eventState"`
	EventDescription string   `xml:"eventDescription" json:"eventDescription"`
	ChannelName      string   `xml:"channelName" json:"channelName"`
	Regions          []Region `xml:"DetectionRegionList>DetectionRegionEntry" json:"-"` // JSON shape varies by firmware
	ANPR             *ANPR    `xml:"ANPR" json:"ANPR"`
}

// Region is one DetectionRegionEntry of a smart event.
type Region struct {
	RegionID        string `xml:"regionID" json:"regionID"`
	DetectionTarget string `xml:"detectionTarget" json:"detectionTarget"` // human, vehicle, others
}

// ANPR is the plate block of an ANPR alert.
type ANPR struct {
	Country         string  `xml:"country" json:"country"`
	LicensePlate    string  `xml:"licensePlate" json:"licensePlate"`
	Line            int     `xml:"line" json:"line"`
	Direction       string  `xml:"direction" json:"direction"`
	ConfidenceLevel float64 `xml:"confidenceLevel" json:"confidenceLevel"`
	PlateType       string  `xml:"plateType" json:"plateType"`
	PlateColor      string  `xml:"plateColor" json:"plateColor"`
	VehicleType     string  `xml:"vehicleType" json:"vehicleType"`
}

// Picture is an image part that came with an alert.
type Picture struct {
	Name        string
	ContentType string
	Size        int
}

// maxParts bounds the parts read from one multipart body.
const maxParts = 16

// Decode parses a pushed alarm body: XML or JSON, bare or inside multipart/form-data or
// multipart/mixed with picture parts. Errors are *stream.Rejection.
func Decode(contentType string, body []byte) ([]Alert, []Picture, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = ""
	}
	if strings.HasPrefix(mt, "multipart/") {
		return decodeMultipart(body, params["boundary"])
	}
	a, err := decodeOne(mt, "", body)
	if err != nil {
		return nil, nil, err
	}
	return []Alert{a}, nil, nil
}

func decodeMultipart(body []byte, boundary string) ([]Alert, []Picture, error) {
	if boundary == "" {
		return nil, nil, stream.Reject(camera.ReasonBadMedia, "multipart without boundary")
	}
	r := multipart.NewReader(bytes.NewReader(body), boundary)
	var alerts []Alert
	var pics []Picture
	for i := 0; ; i++ {
		p, err := r.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, stream.Reject(camera.ReasonBadMedia, "multipart: %v", err)
		}
		if i >= maxParts {
			return nil, nil, stream.Reject(stream.ReasonTooLarge, "multipart: more than %d parts", maxParts)
		}
		data, err := io.ReadAll(p)
		if err != nil {
			return nil, nil, stream.Reject(camera.ReasonBadMedia, "multipart part: %v", err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		name := p.FileName()
		if name == "" {
			name = p.FormName()
		}
		if strings.HasPrefix(ct, "image/") || strings.HasSuffix(strings.ToLower(name), ".jpg") {
			pics = append(pics, Picture{Name: name, ContentType: ct, Size: len(data)})
			continue
		}
		a, err := decodeOne(ct, name, data)
		if err != nil {
			return nil, nil, err
		}
		alerts = append(alerts, a)
	}
	if len(alerts) == 0 {
		return nil, nil, stream.Reject(stream.ReasonEmpty, "multipart body has no XML or JSON alert part")
	}
	return alerts, pics, nil
}

// decodeOne parses one alert document, choosing XML or JSON by media type, then part name, then
// the first non-space byte.
func decodeOne(mediaType, name string, data []byte) (Alert, error) {
	isXML := strings.HasSuffix(mediaType, "/xml") || strings.HasSuffix(strings.ToLower(name), ".xml")
	isJSON := strings.HasSuffix(mediaType, "/json") || strings.HasSuffix(strings.ToLower(name), ".json")
	if !isXML && !isJSON {
		trimmed := bytes.TrimLeft(data, " \t\r\n\ufeff")
		isXML = bytes.HasPrefix(trimmed, []byte("<"))
		isJSON = bytes.HasPrefix(trimmed, []byte("{"))
	}
	var a Alert
	switch {
	case isXML:
		if err := camera.CheckXML(data, camera.MaxDepth); err != nil {
			return a, err
		}
		if err := xml.Unmarshal(data, &a); err != nil {
			return a, stream.Reject(stream.ReasonMalformed, "xml: %v", err)
		}
	case isJSON:
		if err := camera.CheckJSONDepth(data, camera.MaxDepth); err != nil {
			return a, err
		}
		var wrapped struct {
			Alert *Alert `json:"EventNotificationAlert"`
		}
		if err := json.Unmarshal(data, &wrapped); err != nil {
			return a, stream.Reject(stream.ReasonMalformed, "json: %v", err)
		}
		if wrapped.Alert != nil {
			a = *wrapped.Alert
		} else if err := json.Unmarshal(data, &a); err != nil {
			return a, stream.Reject(stream.ReasonMalformed, "json: %v", err)
		}
	default:
		return a, stream.Reject(camera.ReasonBadMedia, "neither XML nor JSON (content type %q)", mediaType)
	}
	if a.EventType == "" {
		return a, stream.Reject(stream.ReasonMalformed, "eventType is missing")
	}
	if a.MACAddress == "" && a.IPAddress == "" {
		return a, stream.Reject(stream.ReasonNoEntity, "neither macAddress nor ipAddress")
	}
	return a, nil
}
