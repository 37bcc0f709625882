package report

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ioc-vn/ioc/internal/httpapi"
	"github.com/ioc-vn/ioc/stream"
)

// Open311 GeoReport v2 (wiki.open311.org/GeoReport_v2): every resource in .json and .xml, errors as
// [{"code": 400, "description": "…"}] or <errors><error><code>… in the requested format.

const open311Spec = "http://wiki.open311.org/GeoReport_v2"

// o311Err is one Open311 error.
type o311Err struct {
	XMLName     xml.Name `json:"-" xml:"error"`
	Code        int      `json:"code" xml:"code"`
	Description string   `json:"description" xml:"description"`
}

func (e *o311Err) Error() string { return fmt.Sprintf("open311 %d: %s", e.Code, e.Description) }

func o311Errorf(code int, format string, args ...any) *o311Err {
	return &o311Err{Code: code, Description: fmt.Sprintf(format, args...)}
}

type o311Func func(w http.ResponseWriter, r *http.Request, name, format string) error

// open311 splits "name.format" off the last path segment and renders any error the Open311 way.
func (s *Service) open311(fn o311Func) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		file := r.PathValue("file")
		name, format, ok := strings.Cut(file, ".")
		if i := strings.LastIndexByte(file, '.'); i >= 0 {
			name, format, ok = file[:i], file[i+1:], true
		}
		if !ok || (format != "json" && format != "xml") {
			s.writeO311(w, "xml", http.StatusNotFound, []*o311Err{o311Errorf(404, "unknown resource %q: use .json or .xml", file)})
			return
		}
		var err error
		if j := r.URL.Query().Get("jurisdiction_id"); r.Method == http.MethodGet && j != "" && j != s.cfg.Open311.JurisdictionID {
			err = o311Errorf(404, "jurisdiction_id %q was not found: this endpoint serves %q", j, s.cfg.Open311.JurisdictionID)
		} else {
			err = fn(w, r, name, format)
		}
		if err == nil {
			return
		}
		var oe *o311Err
		var many o311Errs
		var mbe *http.MaxBytesError
		var he *httpapi.Error
		switch {
		case errors.As(err, &many) && len(many) > 0:
			s.writeO311(w, format, many[0].Code, []*o311Err(many))
			return
		case errors.As(err, &oe):
		case errors.As(err, &mbe):
			oe = o311Errorf(413, "request body larger than %d bytes", mbe.Limit)
		case errors.As(err, &he):
			oe = o311Errorf(he.Status, "%s", he.Message)
		default:
			s.d.Log.Error("open311 request failed", "method", r.Method, "path", r.URL.Path, "error", err)
			oe = o311Errorf(500, "internal server error")
		}
		s.writeO311(w, format, oe.Code, []*o311Err{oe})
	})
}

type o311Errors struct {
	XMLName xml.Name   `xml:"errors"`
	Errors  []*o311Err `xml:"error"`
}

// writeO311 renders v (for XML, the value wrapped in its root element) in the given format.
func (s *Service) writeO311(w http.ResponseWriter, format string, status int, v any) {
	var body []byte
	var err error
	if format == "json" {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		body, err = json.Marshal(v)
	} else {
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		if errs, ok := v.([]*o311Err); ok {
			v = o311Errors{Errors: errs}
		}
		body, err = xml.Marshal(v)
		body = append([]byte(`<?xml version="1.0" encoding="utf-8"?>`+"\n"), body...)
	}
	if err != nil {
		s.d.Log.Error("open311 encode failed", "error", err)
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(status)
	if _, err := w.Write(body); err != nil {
		s.d.Log.Debug("open311 write failed", "error", err)
	}
}

func (s *Service) registerOpen311(mux *http.ServeMux) {
	mux.Handle("GET /open311/v2/{file}", s.open311(s.o311Root))
	mux.Handle("POST /open311/v2/{file}", s.open311(s.o311Post))
	mux.Handle("GET /open311/v2/services/{file}", s.open311(s.o311Definition))
	mux.Handle("GET /open311/v2/requests/{file}", s.open311(s.o311Request))
	mux.Handle("GET /open311/v2/tokens/{file}", s.open311(s.o311Token))
}

func (s *Service) o311Root(w http.ResponseWriter, r *http.Request, name, format string) error {
	switch name {
	case "discovery":
		return s.o311Discovery(w, r, format)
	case "services":
		return s.o311Services(w, format)
	case "requests":
		return s.o311Requests(w, r, format)
	}
	return o311Errorf(404, "unknown resource %q", name)
}

type discovery struct {
	XMLName    xml.Name   `json:"-" xml:"discovery"`
	Changeset  string     `json:"changeset" xml:"changeset"`
	Contact    string     `json:"contact" xml:"contact"`
	KeyService string     `json:"key_service" xml:"key_service"`
	Endpoints  []endpoint `json:"endpoints" xml:"endpoints>endpoint"`
}

type endpoint struct {
	Specification string   `json:"specification" xml:"specification"`
	URL           string   `json:"url" xml:"url"`
	Changeset     string   `json:"changeset" xml:"changeset"`
	Type          string   `json:"type" xml:"type"`
	Formats       []string `json:"formats" xml:"formats>format"`
}

func (s *Service) o311Discovery(w http.ResponseWriter, r *http.Request, format string) error {
	c := s.cfg.Open311
	s.writeO311(w, format, http.StatusOK, discovery{
		Changeset: c.Changeset, Contact: c.Contact, KeyService: c.KeyService,
		Endpoints: []endpoint{{Specification: open311Spec, URL: s.base(r) + "/open311/v2",
			Changeset: c.Changeset, Type: "production", Formats: []string{"text/xml", "application/json"}}},
	})
	return nil
}

type o311Service struct {
	XMLName     xml.Name `json:"-" xml:"service"`
	Code        string   `json:"service_code" xml:"service_code"`
	Name        string   `json:"service_name" xml:"service_name"`
	Description string   `json:"description" xml:"description"`
	Metadata    bool     `json:"metadata" xml:"metadata"`
	Type        string   `json:"type" xml:"type"`
	Keywords    string   `json:"keywords" xml:"keywords"`
	Group       string   `json:"group" xml:"group"`
}

type o311Services struct {
	XMLName  xml.Name      `xml:"services"`
	Services []o311Service `xml:"service"`
}

func (s *Service) o311Services(w http.ResponseWriter, format string) error {
	out := make([]o311Service, 0, len(s.d.Catalogue.Services))
	for _, c := range s.d.Catalogue.Services {
		out = append(out, o311Service{Code: c.Code, Name: c.Name, Description: c.Description, Metadata: len(c.Attributes) > 0,
			Type: "realtime", Keywords: strings.Join(c.Keywords, ", "), Group: c.Group})
	}
	if format == "xml" {
		s.writeO311(w, format, http.StatusOK, o311Services{Services: out})
	} else {
		s.writeO311(w, format, http.StatusOK, out)
	}
	return nil
}

type o311Definition struct {
	XMLName    xml.Name        `json:"-" xml:"service_definition"`
	Code       string          `json:"service_code" xml:"service_code"`
	Attributes []o311Attribute `json:"attributes" xml:"attributes>attribute"`
}

type o311Attribute struct {
	Variable     bool        `json:"variable" xml:"variable"`
	Code         string      `json:"code" xml:"code"`
	Datatype     string      `json:"datatype" xml:"datatype"`
	Required     bool        `json:"required" xml:"required"`
	DatatypeDesc *string     `json:"datatype_description" xml:"datatype_description"`
	Order        int         `json:"order" xml:"order"`
	Description  string      `json:"description" xml:"description"`
	Values       []o311Value `json:"values,omitempty" xml:"values>value,omitempty"`
}

type o311Value struct {
	Key  string `json:"key" xml:"key"`
	Name string `json:"name" xml:"name"`
}

func (s *Service) o311Definition(w http.ResponseWriter, r *http.Request, code, format string) error {
	c, ok := s.d.Catalogue.Category(code)
	if !ok {
		return o311Errorf(404, "service_code %q not found", code)
	}
	def := o311Definition{Code: c.Code, Attributes: []o311Attribute{}}
	for i, a := range c.Attributes {
		oa := o311Attribute{Variable: true, Code: a.Code, Datatype: a.Datatype, Required: a.Required, Order: i + 1, Description: a.Description}
		if a.DatatypeDesc != "" {
			oa.DatatypeDesc = &a.DatatypeDesc
		}
		for _, v := range a.Values {
			oa.Values = append(oa.Values, o311Value(v))
		}
		def.Attributes = append(def.Attributes, oa)
	}
	s.writeO311(w, format, http.StatusOK, def)
	return nil
}

// o311Created is one element of the POST response.
type o311Created struct {
	XMLName   xml.Name `json:"-" xml:"request"`
	ID        string   `json:"service_request_id" xml:"service_request_id"`
	Token     string   `json:"token" xml:"token"`
	Notice    string   `json:"service_notice" xml:"service_notice"`
	AccountID *string  `json:"account_id" xml:"account_id"`
}

type o311CreatedList struct {
	XMLName  xml.Name      `xml:"service_requests"`
	Requests []o311Created `xml:"request"`
}

// o311Post creates a service request from a form-encoded (or, as an extension, multipart with media
// files) body. api_key is required.
func (s *Service) o311Post(w http.ResponseWriter, r *http.Request, name, format string) error {
	if name != "requests" {
		return o311Errorf(404, "unknown resource %q", name)
	}
	release, err := s.uploads.acquire(r.Context(), r.ContentLength)
	if err != nil {
		s.retryAfter(w, err)
		s.m.refused.WithLabelValues("busy").Inc()
		return s.o311Input(err)
	}
	defer release()
	s.slowBody(w, r)
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	f, err := readForm(r, s.cfg.MaxPhotos, s.cfg.MaxPhotoBytes)
	if err != nil {
		return s.o311Input(err)
	}
	v := f.values
	key, err := s.checkKey(r.Context(), v.Get("api_key"))
	if err != nil {
		s.m.refused.WithLabelValues("api_key").Inc()
		if errors.Is(err, ErrNotFound) {
			return o311Errorf(403, "Invalid api_key received -- can't proceed with create_request.")
		}
		return err
	}
	device := v.Get("device_id")
	sub := Submission{
		Service: v.Get("service_code"), Description: strings.TrimSpace(v.Get("description")),
		Address: v.Get("address_string"), AddressID: v.Get("address_id"), Attributes: attributes(v),
		MediaURL: v.Get("media_url"), Client: key.Client,
		Contact: Contact{Name: FullName(v.Get("first_name"), v.Get("last_name")), Phone: v.Get("phone"),
			Email: v.Get("email"), DeviceID: device, AccountID: v.Get("account_id"), IP: clientIP(r)},
	}
	if errs := s.o311Check(v, &sub); len(errs) > 0 {
		s.m.refused.WithLabelValues("invalid").Inc()
		return errs
	}
	if device != "" && !s.limitDv.allow(device, s.d.Now()) {
		s.m.refused.WithLabelValues("rate_device").Inc()
		return o311Errorf(429, "too many requests from this device_id")
	}
	ids, err := s.savePhotos(r.Context(), f.files)
	if err != nil {
		s.retryAfter(w, err)
		return s.o311Input(err)
	}
	sub.Photos = ids
	if k := r.Header.Get("Idempotency-Key"); k != "" {
		if !idemRE.MatchString(k) {
			return o311Errorf(400, "Idempotency-Key: 8-128 printable ASCII characters")
		}
		sub.IdemKey = "o311:" + key.ID + ":" + k
	}
	rep, created, err := s.Submit(r.Context(), sub)
	if err != nil {
		return s.o311Input(err)
	}
	c, _ := s.d.Catalogue.Category(rep.Service)
	out := o311Created{ID: strconv.FormatInt(rep.ID, 10), Token: rep.Code, Notice: c.Notice}
	if rep.Contact.AccountID != "" {
		out.AccountID = &rep.Contact.AccountID
	}
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
	}
	if format == "xml" {
		s.writeO311(w, format, status, o311CreatedList{Requests: []o311Created{out}})
	} else {
		s.writeO311(w, format, status, []o311Created{out})
	}
	return nil
}

// o311Check checks a request all at once and places it: it answers one error object per problem
// (the spec's error array). Without lat and long, the address_string is placed by the names of the
// areas it holds (Deps.Place) and the report is flagged for an operator to check the place.
func (s *Service) o311Check(v url.Values, sub *Submission) o311Errs {
	var errs o311Errs
	if j := v.Get("jurisdiction_id"); j != "" && j != s.cfg.Open311.JurisdictionID {
		errs = append(errs, o311Errorf(404, "jurisdiction_id %q was not found: this endpoint serves %q", j, s.cfg.Open311.JurisdictionID))
	}
	switch c := v.Get("service_code"); {
	case c == "":
		errs = append(errs, o311Errorf(400, "service_code was not provided"))
	default:
		if _, ok := s.d.Catalogue.Category(c); !ok {
			errs = append(errs, o311Errorf(400, "service_code %q is not a known service", c))
		}
	}
	located := false
	switch lat, long := v.Get("lat"), v.Get("long"); {
	case lat == "" && long == "" && strings.TrimSpace(sub.Address) == "":
		errs = append(errs, o311Errorf(400, "lat and long, or address_string, are required"))
	case lat == "" && long == "":
		p, _, ok := s.d.Place(sub.Address)
		if !ok {
			errs = append(errs, o311Errorf(400, "address_string: no single commune of %s is named in it: send lat and long, or name the commune (xã/phường) and its district", s.cfg.Open311.JurisdictionID))
			break
		}
		sub.Location, sub.LocatedBy, located = p, LocatedByAddress, true
	case lat == "" || long == "":
		errs = append(errs, o311Errorf(400, "lat and long must be given together"))
	default:
		p, err := point(long, lat)
		if err == nil {
			err = stream.CheckLonLat(p[0], p[1])
		}
		if err != nil {
			errs = append(errs, o311Errorf(400, "lat, long: not a valid WGS84 position"))
			break
		}
		sub.Location, located = p, true
	}
	if located && s.locates && len(s.d.Locate(sub.Location[0], sub.Location[1])) == 0 {
		errs = append(errs, o311Errorf(400, "lat, long: the location is outside %s", s.cfg.Open311.JurisdictionID))
		located = false
	}
	if _, err := s.check(sub); err != nil {
		for _, msg := range leafErrors(err) {
			if !located && strings.HasPrefix(msg, "location:") {
				continue // already told
			}
			if strings.HasPrefix(msg, "service_code:") {
				continue
			}
			errs = append(errs, o311Errorf(400, "%s", msg))
		}
	}
	return errs
}

// leafErrors lists the messages of the errors joined in err, without the ErrInvalid marker.
func leafErrors(err error) []string {
	if err == nil || err == ErrInvalid {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, leafErrors(e)...)
		}
		return out
	}
	return []string{strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": ")}
}

// o311Errs is several problems of one request, answered together.
type o311Errs []*o311Err

func (e o311Errs) Error() string {
	msgs := make([]string, len(e))
	for i, x := range e {
		msgs[i] = x.Description
	}
	return strings.Join(msgs, "; ")
}

// o311Input turns a domain error into the Open311 error with the matching HTTP status.
func (s *Service) o311Input(err error) error {
	var he *httpapi.Error
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return err
	}
	if errors.As(apiError(err), &he) {
		if he.Status < 500 {
			s.m.refused.WithLabelValues("invalid").Inc()
		}
		return o311Errorf(he.Status, "%s", he.Message)
	}
	return err
}

// o311Request is one service request as GET returns it. Contact data is never part of it.
type o311Request struct {
	XMLName     xml.Name      `json:"-" xml:"request"`
	ID          string        `json:"service_request_id" xml:"service_request_id"`
	Status      string        `json:"status" xml:"status"`
	StatusNotes string        `json:"status_notes" xml:"status_notes"`
	ServiceName string        `json:"service_name" xml:"service_name"`
	ServiceCode string        `json:"service_code" xml:"service_code"`
	Description string        `json:"description" xml:"description"`
	Agency      string        `json:"agency_responsible" xml:"agency_responsible"`
	Notice      string        `json:"service_notice" xml:"service_notice"`
	Requested   string        `json:"requested_datetime" xml:"requested_datetime"`
	Updated     string        `json:"updated_datetime" xml:"updated_datetime"`
	Expected    string        `json:"expected_datetime" xml:"expected_datetime"`
	Address     string        `json:"address" xml:"address"`
	AddressID   string        `json:"address_id" xml:"address_id"`
	Zipcode     string        `json:"zipcode" xml:"zipcode"`
	Lat         float64       `json:"lat" xml:"lat"`
	Long        float64       `json:"long" xml:"long"`
	MediaURL    string        `json:"media_url" xml:"media_url"`
	Extended    *o311Extended `json:"extended_attributes,omitempty" xml:"extended_attributes,omitempty"`
}

// o311Extended is the extensions=true block: the detailed workflow state and the public history.
type o311Extended struct {
	DetailedStatus string      `json:"detailed_status" xml:"detailed_status"`
	Overdue        bool        `json:"overdue" xml:"overdue"`
	Photos         []string    `json:"media_urls" xml:"media_urls>media_url"`
	Notes          []trackLine `json:"notes" xml:"notes>note"`
}

type o311Requests struct {
	XMLName  xml.Name      `xml:"service_requests"`
	Requests []o311Request `xml:"request"`
}

func (s *Service) o311View(base string, r Report, h []Entry, ext bool) o311Request {
	c, _ := s.d.Catalogue.Category(r.Service)
	pub := s.public(base, r, false)
	out := o311Request{
		ID: strconv.FormatInt(r.ID, 10), Status: r.Status.Open311(), ServiceName: pub.ServiceName, ServiceCode: r.Service,
		Description: pub.Description, Agency: r.Unit, Requested: s.ts(r.Created), Updated: s.ts(r.Updated),
		Expected: s.ts(r.Due), Address: pub.Address, Lat: r.Location[1], Long: r.Location[0], MediaURL: r.MediaURL,
	}
	if c != nil {
		out.Notice = c.Notice
	}
	if pub.Address != "" {
		out.AddressID = r.AddressID
	}
	if len(pub.Photos) > 0 {
		out.MediaURL = pub.Photos[0]
	} else if !r.Status.Public() {
		out.MediaURL = ""
	}
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].Public && h[i].Note != "" {
			out.StatusNotes = h[i].Note
			break
		}
	}
	if ext {
		out.Extended = &o311Extended{DetailedStatus: string(r.Status), Overdue: pub.Overdue, Photos: pub.Photos, Notes: s.history(h)}
	}
	return out
}

func (s *Service) ts(t time.Time) string { return t.In(s.loc).Format(time.RFC3339) }

func (s *Service) writeRequests(w http.ResponseWriter, format string, out []o311Request) {
	if format == "xml" {
		s.writeO311(w, format, http.StatusOK, o311Requests{Requests: out})
	} else {
		s.writeO311(w, format, http.StatusOK, out)
	}
}

// o311Requests answers GET requests: service_request_id (comma list; other filters then ignored),
// service_code (comma list), start_date, end_date (ISO 8601 with offset; default the last 90 days),
// status (open, closed), and the extensions page, page_size (default 100, at most 1000) and
// extensions=true.
func (s *Service) o311Requests(w http.ResponseWriter, r *http.Request, format string) error {
	v := r.URL.Query()
	var q Query
	if ids := splitList(v.Get("service_request_id")); len(ids) > 0 {
		for _, x := range ids {
			id, err := strconv.ParseInt(x, 10, 64)
			if err != nil {
				return o311Errorf(400, "service_request_id %q is not a request id", x)
			}
			q.IDs = append(q.IDs, id)
		}
	} else {
		q.Services = splitList(v.Get("service_code"))
		for _, st := range splitList(v.Get("status")) {
			switch st {
			case "open", "closed":
				for _, x := range Statuses {
					if x.Open311() == st {
						q.Statuses = append(q.Statuses, x)
					}
				}
			default:
				return o311Errorf(400, "status must be open or closed, got %q", st)
			}
		}
		var err error
		if q.From, q.To, err = s.dateRange(v.Get("start_date"), v.Get("end_date")); err != nil {
			return err
		}
	}
	page, size, err := paging(v.Get("page"), v.Get("page_size"), 100, 1000)
	if err != nil {
		return o311Errorf(400, "page and page_size must be positive integers, page_size at most 1000")
	}
	q.Offset, q.Limit = (page-1)*size, size
	rs, err := s.d.Store.List(r.Context(), q)
	if err != nil {
		return err
	}
	ext := v.Get("extensions") == "true"
	out := make([]o311Request, 0, len(rs))
	for _, rep := range rs {
		h, err := s.d.Store.History(r.Context(), rep.ID)
		if err != nil {
			return err
		}
		out = append(out, s.o311View(s.base(r), rep, h, ext))
	}
	s.writeRequests(w, format, out)
	return nil
}

// dateRange parses start_date and end_date; with neither, the last 90 days.
func (s *Service) dateRange(start, end string) (time.Time, time.Time, error) {
	var from, to time.Time
	var err error
	if start != "" {
		if from, err = time.Parse(time.RFC3339, start); err != nil {
			return from, to, o311Errorf(400, "start_date must be ISO 8601 with a timezone, e.g. 2025-06-01T00:00:00+07:00")
		}
	}
	if end != "" {
		if to, err = time.Parse(time.RFC3339, end); err != nil {
			return from, to, o311Errorf(400, "end_date must be ISO 8601 with a timezone, e.g. 2025-06-30T23:59:59+07:00")
		}
		to = to.Add(time.Microsecond) // end_date is inclusive
	}
	if start == "" && end == "" {
		from = s.d.Now().Add(-90 * 24 * time.Hour)
	}
	if !from.IsZero() && !to.IsZero() && !to.After(from) {
		return from, to, o311Errorf(400, "end_date must be after start_date")
	}
	return from, to, nil
}

func (s *Service) o311Request(w http.ResponseWriter, r *http.Request, idS, format string) error {
	id, err := strconv.ParseInt(idS, 10, 64)
	if err != nil {
		return o311Errorf(404, "service_request_id %q not found", idS)
	}
	rep, h, err := s.Get(r.Context(), id)
	if errors.Is(err, ErrNotFound) {
		return o311Errorf(404, "service_request_id %q not found", idS)
	}
	if err != nil {
		return err
	}
	s.writeRequests(w, format, []o311Request{s.o311View(s.base(r), rep, h, r.URL.Query().Get("extensions") == "true")})
	return nil
}

type o311Token struct {
	XMLName xml.Name `json:"-" xml:"request"`
	ID      string   `json:"service_request_id" xml:"service_request_id"`
	Token   string   `json:"token" xml:"token"`
}

type o311Tokens struct {
	XMLName  xml.Name    `xml:"service_requests"`
	Requests []o311Token `xml:"request"`
}

// o311Token maps a token (our tracking code) to its service_request_id.
func (s *Service) o311Token(w http.ResponseWriter, r *http.Request, token, format string) error {
	if err := s.trackAllowed(w, r); err != nil {
		return err
	}
	rep, err := s.byCode(r.Context(), token)
	s.trackResult(r, err)
	if errors.Is(err, ErrNotFound) {
		return o311Errorf(404, "token %q not found", token)
	}
	if err != nil {
		return err
	}
	out := []o311Token{{ID: strconv.FormatInt(rep.ID, 10), Token: rep.Code}}
	if format == "xml" {
		s.writeO311(w, format, http.StatusOK, o311Tokens{Requests: out})
	} else {
		s.writeO311(w, format, http.StatusOK, out)
	}
	return nil
}
