package camera

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"

	"github.com/ioc-vn/ioc/stream"
)

// Decode failure reasons beyond stream's, used as bounded metric labels.
const (
	ReasonDoctype  = "doctype"   // XML with a DOCTYPE or other directive (entity expansion attempt)
	ReasonTooDeep  = "too_deep"  // nesting deeper than allowed
	ReasonAuth     = "auth"      // authentication failed (counted separately too)
	ReasonBadMedia = "bad_media" // unsupported content type or multipart structure
)

// MaxDepth is the nesting limit applied to untrusted JSON and XML.
const MaxDepth = 32

// CheckXML rejects XML that declares a DOCTYPE (or any other <!…> directive), nests deeper than
// maxDepth, or is not well formed. encoding/xml never expands user-defined entities, and rejecting
// directives up front keeps entity declarations from reaching any parser at all.
func CheckXML(data []byte, maxDepth int) error {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	depth := 0
	for {
		tok, err := d.RawToken()
		if errors.Is(err, io.EOF) {
			if depth != 0 {
				return stream.Reject(stream.ReasonMalformed, "xml: unexpected end")
			}
			return nil
		}
		if err != nil {
			return stream.Reject(stream.ReasonMalformed, "xml: %v", err)
		}
		switch tok.(type) {
		case xml.Directive:
			return stream.Reject(ReasonDoctype, "xml: directives (DOCTYPE, ENTITY) are not accepted")
		case xml.StartElement:
			depth++
			if depth > maxDepth {
				return stream.Reject(ReasonTooDeep, "xml: nested deeper than %d", maxDepth)
			}
		case xml.EndElement:
			depth--
		}
	}
}

// CheckJSONDepth rejects JSON nested deeper than maxDepth. It only counts brackets outside strings;
// the JSON decoder still checks well-formedness.
func CheckJSONDepth(data []byte, maxDepth int) error {
	depth, inString, escaped := 0, false, false
	for _, c := range data {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > maxDepth {
				return stream.Reject(ReasonTooDeep, "json: nested deeper than %d", maxDepth)
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}
