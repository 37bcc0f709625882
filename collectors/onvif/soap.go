package onvif

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/ioc-vn/ioc/internal/camera"
	"github.com/ioc-vn/ioc/stream"
)

// Namespaces and actions used on the wire.
const (
	nsSOAP   = "http://www.w3.org/2003/05/soap-envelope"
	nsWSA    = "http://www.w3.org/2005/08/addressing"
	nsWSSE   = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	nsWSU    = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
	nsDevice = "http://www.onvif.org/ver10/device/wsdl"
	nsEvents = "http://www.onvif.org/ver10/events/wsdl"
	nsWSNT   = "http://docs.oasis-open.org/wsn/b-2"

	passwordDigest = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
	base64Binary   = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"

	actionCreate   = "http://www.onvif.org/ver10/events/wsdl/EventPortType/CreatePullPointSubscriptionRequest"
	actionPull     = "http://www.onvif.org/ver10/events/wsdl/PullPointSubscription/PullMessagesRequest"
	actionRenew    = "http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/RenewRequest"
	actionUnsub    = "http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/UnsubscribeRequest"
	actionCaps     = "http://www.onvif.org/ver10/device/wsdl/GetCapabilities"
	actionDateTime = "http://www.onvif.org/ver10/device/wsdl/GetSystemDateAndTime"
)

// maxResponseBytes bounds one SOAP response.
const maxResponseBytes = 4 << 20

// Fault is a SOAP 1.2 fault returned by a device.
type Fault struct {
	Code    string // env:Sender, env:Receiver …
	Subcode string // ter:NotAuthorized, ter:InvalidArgVal …
	Reason  string
}

func (f *Fault) Error() string {
	code := f.Code
	if f.Subcode != "" {
		code += "/" + f.Subcode
	}
	return fmt.Sprintf("soap fault %s: %s", code, f.Reason)
}

// envelope is every response we read; encoding/xml matches elements by local name.
type envelope struct {
	XMLName xml.Name `xml:"Envelope"`
	Body    struct {
		Fault *struct {
			Code struct {
				Value   string `xml:"Value"`
				Subcode struct {
					Value string `xml:"Value"`
				} `xml:"Subcode"`
			} `xml:"Code"`
			Reason []string `xml:"Reason>Text"`
		} `xml:"Fault"`
		DateTime *struct {
			Date struct {
				Year  int `xml:"Year"`
				Month int `xml:"Month"`
				Day   int `xml:"Day"`
			} `xml:"Date"`
			Time struct {
				Hour   int `xml:"Hour"`
				Minute int `xml:"Minute"`
				Second int `xml:"Second"`
			} `xml:"Time"`
		} `xml:"GetSystemDateAndTimeResponse>SystemDateAndTime>UTCDateTime"`
		EventsXAddr *string `xml:"GetCapabilitiesResponse>Capabilities>Events>XAddr"`
		Create      *struct {
			Address         string `xml:"SubscriptionReference>Address"`
			CurrentTime     string `xml:"CurrentTime"`
			TerminationTime string `xml:"TerminationTime"`
		} `xml:"CreatePullPointSubscriptionResponse"`
		Pull *struct {
			CurrentTime     string         `xml:"CurrentTime"`
			TerminationTime string         `xml:"TerminationTime"`
			Messages        []Notification `xml:"NotificationMessage"`
		} `xml:"PullMessagesResponse"`
		Renew *struct {
			CurrentTime     string `xml:"CurrentTime"`
			TerminationTime string `xml:"TerminationTime"`
		} `xml:"RenewResponse"`
		Unsubscribe *struct{} `xml:"UnsubscribeResponse"`
	} `xml:"Body"`
}

// Notification is one wsnt:NotificationMessage carrying an ONVIF tt:Message.
type Notification struct {
	Topic   string `xml:"Topic"`
	Message struct {
		UtcTime           string       `xml:"UtcTime,attr"`
		PropertyOperation string       `xml:"PropertyOperation,attr"`
		Source            []SimpleItem `xml:"Source>SimpleItem"`
		Key               []SimpleItem `xml:"Key>SimpleItem"`
		Data              []SimpleItem `xml:"Data>SimpleItem"`
	} `xml:"Message>Message"`
}

// SimpleItem is a tt:SimpleItem name/value pair.
type SimpleItem struct {
	Name  string `xml:"Name,attr"`
	Value string `xml:"Value,attr"`
}

// parseEnvelope checks and decodes a SOAP response; a Fault comes back as *Fault. Other errors are
// *stream.Rejection.
func parseEnvelope(data []byte) (*envelope, error) {
	if err := camera.CheckXML(data, camera.MaxDepth); err != nil {
		return nil, err
	}
	var env envelope
	if err := xml.Unmarshal(data, &env); err != nil {
		return nil, stream.Reject(stream.ReasonMalformed, "soap: %v", err)
	}
	if f := env.Body.Fault; f != nil {
		return &env, &Fault{Code: f.Code.Value, Subcode: f.Code.Subcode.Value, Reason: strings.Join(f.Reason, "; ")}
	}
	return &env, nil
}

// usernameToken builds a WS-Security UsernameToken with PasswordDigest =
// Base64(SHA-1(nonce + created + password)).
func usernameToken(user, pass string, created time.Time, nonce []byte) string {
	c := created.UTC().Format("2006-01-02T15:04:05.000Z")
	h := sha1.New()
	h.Write(nonce)
	h.Write([]byte(c))
	h.Write([]byte(pass))
	var b strings.Builder
	fmt.Fprintf(&b, `<wsse:Security s:mustUnderstand="1" xmlns:wsse="%s" xmlns:wsu="%s"><wsse:UsernameToken>`, nsWSSE, nsWSU)
	fmt.Fprintf(&b, `<wsse:Username>%s</wsse:Username>`, escape(user))
	fmt.Fprintf(&b, `<wsse:Password Type="%s">%s</wsse:Password>`, passwordDigest, base64.StdEncoding.EncodeToString(h.Sum(nil)))
	fmt.Fprintf(&b, `<wsse:Nonce EncodingType="%s">%s</wsse:Nonce>`, base64Binary, base64.StdEncoding.EncodeToString(nonce))
	fmt.Fprintf(&b, `<wsu:Created>%s</wsu:Created></wsse:UsernameToken></wsse:Security>`, c)
	return b.String()
}

func escape(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s)) // writing to a bytes.Buffer cannot fail
	return b.String()
}

// soapClient sends SOAP 1.2 requests to one device.
type soapClient struct {
	http       *http.Client
	user, pass string
	offset     time.Duration // device clock minus ours
	now        func() time.Time
}

// call posts body (the content of soap:Body) with WS-Addressing and, when credentials are set,
// WS-Security headers, and parses the response.
func (c *soapClient) call(ctx context.Context, url, action, body string, secure bool) (*envelope, error) {
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="%s" xmlns:a="%s"><s:Header>`, nsSOAP, nsWSA)
	fmt.Fprintf(&b, `<a:Action s:mustUnderstand="1">%s</a:Action><a:To s:mustUnderstand="1">%s</a:To>`, action, escape(url))
	if secure && c.user != "" {
		nonce := make([]byte, 16)
		_, _ = rand.Read(nonce) // crypto/rand.Read never fails (Go 1.24+)
		b.WriteString(usernameToken(c.user, c.pass, c.now().Add(c.offset), nonce))
	}
	fmt.Fprintf(&b, `</s:Header><s:Body>%s</s:Body></s:Envelope>`, body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(b.String()))
	if err != nil {
		return nil, fmt.Errorf("soap request: %w", err)
	}
	req.Header.Set("Content-Type", `application/soap+xml; charset=utf-8; action="`+action+`"`)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("soap post: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("soap read: %w", err)
	}
	if len(data) > maxResponseBytes {
		return nil, stream.Reject(stream.ReasonTooLarge, "soap response over %d bytes", maxResponseBytes)
	}
	env, err := parseEnvelope(data)
	var f *Fault
	if resp.StatusCode != http.StatusOK && !errors.As(err, &f) {
		return nil, fmt.Errorf("soap: HTTP %d", resp.StatusCode)
	}
	return env, err
}

// xsDuration formats d as an xs:duration in whole seconds (PT60S).
func xsDuration(d time.Duration) string { return fmt.Sprintf("PT%dS", int(d.Seconds())) }

// parseTime reads an xs:dateTime.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}, stream.Reject(stream.ReasonMalformed, "time %q is not xs:dateTime", s)
	}
	return t, nil
}
