// Package onviftest is a small ONVIF device for tests: the device service (GetSystemDateAndTime,
// GetCapabilities) and the events service (CreatePullPointSubscription, PullMessages, Renew,
// Unsubscribe), checking WS-Security UsernameToken digests. It is used by the collector's tests and by
// end-to-end tests of the whole binary.
package onviftest

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// User and Password are the credentials the fake device accepts.
const User, Password = "onvif-admin", "Mật-khẩu-2026"

// Skew is how far the fake device's clock runs ahead of ours; UsernameTokens must follow it.
const Skew = time.Hour

// Device is the fake ONVIF device. Each subscription serves its scripted pulls in order, then
// empty pulls; a pull scripted as "FAULT" answers with a SOAP fault.
type Device struct {
	t      testing.TB
	url    string
	script [][]string // per subscription, per pull: notification XML or "FAULT"

	mu    sync.Mutex // guards pulls and stats
	pulls map[int]int
	stats Stats
}

// Stats is what a Device has seen.
type Stats struct {
	Subs, Renews, Unsubs int
	AuthBad              int      // requests refused for a bad UsernameToken
	Ops                  []string // operations in the order received
}

// Stats returns a copy of what the device has seen so far.
func (s *Device) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.stats
	out.Ops = append([]string(nil), s.stats.Ops...)
	return out
}

func (s *Device) devNow() time.Time { return time.Now().Add(Skew).UTC() }

type request struct {
	Header struct {
		Token struct {
			Username string `xml:"Username"`
			Password string `xml:"Password"`
			Nonce    string `xml:"Nonce"`
			Created  string `xml:"Created"`
		} `xml:"Security>UsernameToken"`
	} `xml:"Header"`
	Body struct {
		Inner []byte `xml:",innerxml"`
	} `xml:"Body"`
}

func (s *Device) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		s.t.Error(err)
		return
	}
	var req request
	if err := xml.Unmarshal(data, &req); err != nil {
		s.fault(w, "env:Sender", "ter:WellFormed", "not well formed")
		return
	}
	op := opName(req.Body.Inner)
	s.mu.Lock()
	s.stats.Ops = append(s.stats.Ops, op)
	s.mu.Unlock()
	if op != "GetSystemDateAndTime" && !s.authorized(req) {
		s.mu.Lock()
		s.stats.AuthBad++
		s.mu.Unlock()
		s.fault(w, "env:Sender", "ter:NotAuthorized", "Sender not Authorized")
		return
	}
	now := s.devNow()
	switch op {
	case "GetSystemDateAndTime":
		s.reply(w, fmt.Sprintf(`<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>
<tt:UTCDateTime><tt:Time><tt:Hour>%d</tt:Hour><tt:Minute>%d</tt:Minute><tt:Second>%d</tt:Second></tt:Time><tt:Date><tt:Year>%d</tt:Year><tt:Month>%d</tt:Month><tt:Day>%d</tt:Day></tt:Date></tt:UTCDateTime>
</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>`, now.Hour(), now.Minute(), now.Second(), now.Year(), now.Month(), now.Day()))
	case "GetCapabilities":
		s.reply(w, `<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Events><tt:XAddr>`+s.url+`/onvif/event_service</tt:XAddr>
<tt:WSSubscriptionPolicySupport>true</tt:WSSubscriptionPolicySupport><tt:WSPullPointSupport>true</tt:WSPullPointSupport></tt:Events></tds:Capabilities></tds:GetCapabilitiesResponse>`)
	case "CreatePullPointSubscription":
		s.mu.Lock()
		s.stats.Subs++
		n := s.stats.Subs
		s.mu.Unlock()
		s.reply(w, fmt.Sprintf(`<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference><wsa5:Address>%s/onvif/subscription/%d</wsa5:Address></tev:SubscriptionReference>
<wsnt:CurrentTime>%s</wsnt:CurrentTime><wsnt:TerminationTime>%s</wsnt:TerminationTime></tev:CreatePullPointSubscriptionResponse>`,
			s.url, n, now.Format(time.RFC3339), now.Add(10*time.Second).Format(time.RFC3339)))
	case "PullMessages":
		var sub int
		fmt.Sscanf(r.URL.Path, "/onvif/subscription/%d", &sub)
		s.mu.Lock()
		i := s.pulls[sub]
		s.pulls[sub]++
		s.mu.Unlock()
		msgs := ""
		if sub-1 < len(s.script) && i < len(s.script[sub-1]) {
			msgs = s.script[sub-1][i]
		} else {
			time.Sleep(20 * time.Millisecond) // an idle long poll
		}
		if msgs == "FAULT" {
			s.fault(w, "env:Receiver", "ter:Action", "subscription terminated")
			return
		}
		s.reply(w, fmt.Sprintf(`<tev:PullMessagesResponse><tev:CurrentTime>%s</tev:CurrentTime><tev:TerminationTime>%s</tev:TerminationTime>%s</tev:PullMessagesResponse>`,
			now.Format(time.RFC3339), now.Add(10*time.Second).Format(time.RFC3339), msgs))
	case "Renew":
		s.mu.Lock()
		s.stats.Renews++
		s.mu.Unlock()
		s.reply(w, fmt.Sprintf(`<wsnt:RenewResponse><wsnt:TerminationTime>%s</wsnt:TerminationTime><wsnt:CurrentTime>%s</wsnt:CurrentTime></wsnt:RenewResponse>`,
			now.Add(10*time.Second).Format(time.RFC3339), now.Format(time.RFC3339)))
	case "Unsubscribe":
		s.mu.Lock()
		s.stats.Unsubs++
		s.mu.Unlock()
		s.reply(w, `<wsnt:UnsubscribeResponse/>`)
	default:
		s.fault(w, "env:Sender", "ter:ActionNotSupported", "unknown operation "+op)
	}
}

// authorized checks the UsernameToken: user, digest = Base64(SHA1(nonce + created + password)), and
// Created within 5 minutes of the device clock.
func (s *Device) authorized(req request) bool {
	tok := req.Header.Token
	nonce, err := base64.StdEncoding.DecodeString(tok.Nonce)
	if err != nil || tok.Username != User {
		return false
	}
	created, err := time.Parse(time.RFC3339Nano, tok.Created)
	if err != nil || created.Sub(s.devNow()).Abs() > 5*time.Minute {
		return false
	}
	sum := sha1.Sum(append(append(nonce, tok.Created...), Password...))
	return tok.Password == base64.StdEncoding.EncodeToString(sum[:])
}

func opName(inner []byte) string {
	d := xml.NewDecoder(bytes.NewReader(inner))
	for {
		tok, err := d.Token()
		if err != nil {
			return ""
		}
		if se, ok := tok.(xml.StartElement); ok {
			return se.Name.Local
		}
	}
}

// EnvOpen opens a SOAP 1.2 envelope with the namespaces ONVIF answers use, up to <env:Body>.
const EnvOpen = `<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:tev="http://www.onvif.org/ver10/events/wsdl" xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" xmlns:wsa5="http://www.w3.org/2005/08/addressing" xmlns:tns1="http://www.onvif.org/ver10/topics" xmlns:ter="http://www.onvif.org/ver10/error"><env:Body>`

func (s *Device) reply(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/soap+xml; charset=utf-8")
	io.WriteString(w, EnvOpen+body+`</env:Body></env:Envelope>`)
}

func (s *Device) fault(w http.ResponseWriter, code, sub, reason string) {
	w.Header().Set("Content-Type", "application/soap+xml; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	fmt.Fprintf(w, `%s<env:Fault><env:Code><env:Value>%s</env:Value><env:Subcode><env:Value>%s</env:Value></env:Subcode></env:Code><env:Reason><env:Text xml:lang="en">%s</env:Text></env:Reason></env:Fault></env:Body></env:Envelope>`, EnvOpen, code, sub, reason)
}

// Start serves a Device on a loopback httptest server until the test ends. script holds, per
// subscription and per pull, the notification XML to answer (or "FAULT"); the device service is at
// ts.URL + "/onvif/device_service".
func Start(t testing.TB, script [][]string) (*Device, *httptest.Server) {
	srv := &Device{t: t, script: script, pulls: map[int]int{}}
	ts := httptest.NewServer(srv)
	srv.url = ts.URL
	t.Cleanup(ts.Close)
	return srv, ts
}
