package report

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"

	"github.com/ioc-vn/ioc/internal/httpapi"
	"github.com/ioc-vn/ioc/internal/report/photo"
	"github.com/ioc-vn/ioc/stream"
)

// Register mounts every route on mux: Open311 under /open311/v2/, the citizen API and operator API
// under /api/v1/reports, key administration under /api/v1/admin/open311/keys. Operator and admin
// routes answer 401 unless Deps.Actor names someone; the lead decides who may reach them.
func (s *Service) Register(mux *http.ServeMux) {
	h := func(fn httpapi.HandlerFunc) http.Handler { return httpapi.Wrap(s.d.Log, fn) }
	op := func(fn func(w http.ResponseWriter, r *http.Request, actor string) error) http.Handler {
		return h(func(w http.ResponseWriter, r *http.Request) error {
			actor := s.d.Actor(r)
			if actor == "" {
				return httpapi.Errorf(http.StatusUnauthorized, "unauthorized", "cần đăng nhập / sign-in required")
			}
			return fn(w, r, actor)
		})
	}
	// Citizen (public) routes.
	mux.Handle("GET /api/v1/reports/services", h(s.handleServices))
	mux.Handle("GET /api/v1/reports/form-token", h(s.handleFormToken))
	mux.Handle("POST /api/v1/reports", h(s.handleSubmit))
	mux.Handle("GET /api/v1/reports/track/{code}", h(s.handleTrack))
	mux.Handle("POST /api/v1/reports/track/{code}/reopen", h(s.handleReopen))
	mux.Handle("POST /api/v1/reports/track/{code}/rating", h(s.handleRate))
	mux.Handle("GET /api/v1/reports/nearby", h(s.handleNearby))
	mux.Handle("GET /api/v1/reports/map", h(s.handleMap))
	mux.Handle("GET /api/v1/reports/photos/{id}", h(s.handlePhoto))
	mux.Handle("GET /api/v1/reports/photos/{id}/thumb", h(s.handlePhoto))
	// Operator routes.
	mux.Handle("GET /api/v1/reports", op(s.handleList))
	mux.Handle("GET /api/v1/reports/kpi", op(s.handleKPI))
	mux.Handle("GET /api/v1/reports/{id}", op(s.handleGet))
	mux.Handle("POST /api/v1/reports/{id}/transition", op(s.handleTransition))
	mux.Handle("POST /api/v1/reports/{id}/severity", op(s.handleSeverity))
	mux.Handle("GET /api/v1/admin/open311/keys", op(s.handleKeys))
	mux.Handle("POST /api/v1/admin/open311/keys", op(s.handleCreateKey))
	mux.Handle("DELETE /api/v1/admin/open311/keys/{id}", op(s.handleRevokeKey))
	s.registerOpen311(mux)
}

// apiError maps domain errors onto the JSON error envelope.
func apiError(err error) error {
	var te *TransitionError
	var he *httpapi.Error
	switch {
	case errors.As(err, &he):
		return he
	case errors.As(err, &te):
		return httpapi.Conflict("%s", te.Reason)
	case errors.Is(err, ErrNotFound), errors.Is(err, photo.ErrNotFound):
		return httpapi.NotFound("không tìm thấy / not found")
	case errors.Is(err, ErrConflict):
		return httpapi.Conflict("phản ánh vừa được cập nhật, hãy thử lại / the report changed meanwhile, retry")
	case errors.Is(err, ErrBusy):
		return httpapi.Errorf(http.StatusServiceUnavailable, "busy", "máy chủ đang nhận nhiều phản ánh và ảnh, vui lòng gửi lại sau ít phút / the server is busy with other reports and photos, retry in a few minutes")
	case photo.Reason(err) == "memory":
		return httpapi.Errorf(http.StatusRequestEntityTooLarge, "too_large", "ảnh quá lớn để xử lý, hãy gửi ảnh chụp từ điện thoại (JPEG) hoặc ảnh nhỏ hơn / photo too large to process, send a phone camera JPEG or a smaller image: %v", err)
	case errors.Is(err, photo.ErrTooLarge):
		return httpapi.Errorf(http.StatusRequestEntityTooLarge, "too_large", "ảnh quá lớn / %v", err)
	case errors.Is(err, photo.ErrUnsupported):
		return httpapi.Errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "chỉ nhận ảnh JPEG hoặc PNG / %v", err)
	case errors.Is(err, photo.ErrCorrupt), errors.Is(err, ErrInvalid):
		return httpapi.BadRequest("dữ liệu không hợp lệ / %v", err)
	}
	return err
}

// clientIP is the citizen's address as the access layer resolved it (trusted proxies honoured).
func clientIP(r *http.Request) string { return httpapi.ClientIP(r) }

// addrKey is what per-address limits count the citizen under: the IPv4 address, or the IPv6 /64.
func addrKey(r *http.Request) string { return httpapi.AddrKey(clientIP(r)) }

// trackAllowed refuses a tracking-code lookup (429, Retry-After) from an address whose wrong codes
// have used up track_failures.
func (s *Service) trackAllowed(w http.ResponseWriter, r *http.Request) error {
	if !s.limitTr.spent(addrKey(r), s.d.Now()) {
		return nil
	}
	s.m.refused.WithLabelValues("track_rate").Inc()
	every := s.cfg.TrackFailures.Every
	w.Header().Set("Retry-After", strconv.Itoa(int(max(every, time.Second).Seconds())))
	return httpapi.Errorf(http.StatusTooManyRequests, "rate_limited",
		"nhập sai mã theo dõi quá nhiều lần, vui lòng thử lại sau %s / too many wrong tracking codes, retry in %s", every, every)
}

// trackResult counts a lookup that found nothing against the caller's address.
func (s *Service) trackResult(r *http.Request, err error) {
	if errors.Is(err, ErrNotFound) {
		s.m.trackFailures.Inc()
		s.limitTr.allow(addrKey(r), s.d.Now())
	}
}

func tooMany(every time.Duration) error {
	return httpapi.Errorf(http.StatusTooManyRequests, "rate_limited", "gửi quá nhiều, vui lòng thử lại sau / too many reports, retry in %s", every)
}

// slowBody lets a submission with photos outlast the server's read timeout while it arrives at
// upload_min_rate.
func (s *Service) slowBody(w http.ResponseWriter, r *http.Request) {
	httpapi.SlowBody(w, r, httpapi.UploadRate{Min: s.cfg.UploadMinRate, Grace: s.cfg.UploadGrace, Write: time.Minute})
}

// retryAfter tells a client refused because the decode pool was full when to try again.
func (s *Service) retryAfter(w http.ResponseWriter, err error) {
	if errors.Is(err, ErrBusy) {
		w.Header().Set("Retry-After", strconv.Itoa(int(max(s.cfg.PhotoDecode.Wait, 30*time.Second).Seconds())))
	}
}

func (s *Service) refuse(reason string, err error) error {
	s.m.refused.WithLabelValues(reason).Inc()
	return err
}

// PublicView is a report as anyone may see it: no contact data, no tracking code; description,
// address and photos only once the report is public (after triage) unless full is asked for by the
// holder of the tracking code.
type PublicView struct {
	ID           int64     `json:"id"`
	Service      string    `json:"service_code"`
	ServiceName  string    `json:"service_name"`
	Status       Status    `json:"status"`
	Description  string    `json:"description,omitempty"`
	Location     orb.Point `json:"location"` // [lon, lat]
	Address      string    `json:"address,omitempty"`
	Unit         string    `json:"unit,omitempty"`
	Photos       []string  `json:"photos,omitempty"` // photo URLs
	Created      time.Time `json:"created"`
	Updated      time.Time `json:"updated"`
	Severity     string    `json:"severity"`             // class code
	SeverityName string    `json:"severity_name"`        // its name
	ReceiveDue   time.Time `json:"receive_due,omitzero"` // deadlines in working time
	Due          time.Time `json:"due"`
	RespondDue   time.Time `json:"respond_due,omitzero"`
	Overdue      bool      `json:"overdue"`
	Result       string    `json:"result,omitempty"` // the published outcome, once resolved
	Rating       string    `json:"rating,omitempty"` // the citizen's rating of it
	DistanceM    *float64  `json:"distance_m,omitempty"`
}

func (s *Service) public(base string, r Report, full bool) PublicView {
	v := PublicView{ID: r.ID, Service: r.Service, Status: r.Status, Location: r.Location, Unit: r.Unit,
		Created: r.Created.In(s.loc), Updated: r.Updated.In(s.loc), Due: r.Due.In(s.loc), Overdue: r.Overdue(s.d.Now()),
		Severity: r.Severity, ReceiveDue: r.ReceiveDue.In(s.loc), RespondDue: r.RespondDue.In(s.loc)}
	if c, ok := s.severity(r.Severity); ok {
		v.SeverityName = c.Name
	}
	if !r.Status.Open() && r.Status != StatusRejected && r.Status != StatusDuplicate {
		v.Result, v.Rating = r.Result, r.Rating
	}
	if c, ok := s.d.Catalogue.Category(r.Service); ok {
		v.ServiceName = c.Name
	}
	if full || r.Status.Public() {
		v.Description, v.Address = r.Description, r.Address
		for _, id := range r.Photos {
			v.Photos = append(v.Photos, s.photoURL(base, id))
		}
	}
	return v
}

func (s *Service) photoURL(base, id string) string { return base + "/api/v1/reports/photos/" + id }

// base is the absolute URL ioc is reached at: public_url when configured, else the scheme and
// Host of the request (behind a proxy that rewrites Host, configure public_url).
func (s *Service) base(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return strings.TrimSuffix(s.cfg.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (s *Service) handleServices(w http.ResponseWriter, r *http.Request) error {
	return httpapi.WriteJSON(w, http.StatusOK, s.d.Catalogue)
}

func (s *Service) handleFormToken(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{
		"token": FormToken([]byte(s.cfg.FormSecret), s.d.Now()), "min_fill_ms": s.cfg.MinFillTime.Milliseconds(),
	})
}

var idemRE = regexp.MustCompile(`^[\x21-\x7e]{8,128}$`)

// handleSubmit files a report from the citizen web page: multipart/form-data (or url-encoded) with
// category, description, lon and lat (or location "[lon,lat]"), optional name, phone, email,
// device_id, attribute[code], up to max_photos files, the form_token and the empty honeypot field
// "website".
func (s *Service) handleSubmit(w http.ResponseWriter, r *http.Request) error {
	if !s.limitIP.allow(addrKey(r), s.d.Now()) {
		return s.refuse("rate_ip", tooMany(s.cfg.RateIP.Every))
	}
	key := r.Header.Get("Idempotency-Key")
	if key != "" && !idemRE.MatchString(key) {
		return s.refuse("invalid", httpapi.BadRequest("Idempotency-Key: 8-128 printable ASCII characters"))
	}
	release, err := s.uploads.acquire(r.Context(), r.ContentLength)
	if err != nil {
		s.retryAfter(w, err)
		return s.refuse("busy", apiError(err))
	}
	defer release()
	s.slowBody(w, r)
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	f, err := readForm(r, s.cfg.MaxPhotos, s.cfg.MaxPhotoBytes)
	if err != nil {
		return s.refuse("invalid", apiError(err))
	}
	v := f.values
	if s.cfg.BotCheck == "on" {
		if v.Get("website") != "" {
			return s.refuse("bot", httpapi.Errorf(http.StatusForbidden, "bot_check", "không xác minh được biểu mẫu / form check failed"))
		}
		if err := CheckForm([]byte(s.cfg.FormSecret), v.Get("form_token"), s.d.Now(), s.cfg.MinFillTime, s.cfg.FormMaxAge); err != nil {
			return s.refuse("bot", httpapi.Errorf(http.StatusForbidden, "bot_check", "không xác minh được biểu mẫu, hãy tải lại trang / form check failed, reload the page: %v", err))
		}
	}
	device := v.Get("device_id")
	if device != "" && !s.limitDv.allow(device, s.d.Now()) {
		return s.refuse("rate_device", tooMany(s.cfg.RateDevice.Every))
	}
	lon, lat := v.Get("lon"), v.Get("lat")
	if loc := v.Get("location"); loc != "" {
		lon, lat, _ = strings.Cut(strings.Trim(loc, "[] "), ",")
	}
	p, err := point(lon, lat)
	if err != nil {
		return s.refuse("invalid", apiError(err))
	}
	ids, err := s.savePhotos(r.Context(), f.files)
	if err != nil {
		s.retryAfter(w, err)
		return s.refuse("photo", apiError(err))
	}
	sub := Submission{
		Service: v.Get("category"), Description: strings.TrimSpace(v.Get("description")), Location: p,
		Address: v.Get("address"), Attributes: attributes(v), Photos: ids, Client: "web",
		Contact: Contact{Name: strings.Join(strings.Fields(v.Get("name")), " "), Share: v.Get("share_contact") == "on", Phone: v.Get("phone"), Email: v.Get("email"), DeviceID: device, IP: clientIP(r)},
	}
	if key != "" {
		sub.IdemKey = "web:" + key
	}
	rep, created, err := s.Submit(r.Context(), sub)
	if err != nil {
		return s.refuse("invalid", apiError(err))
	}
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
		w.Header().Set("Idempotent-Replayed", "true")
	}
	return httpapi.WriteJSON(w, status, map[string]any{
		"id": rep.ID, "code": rep.Code, "status": rep.Status, "created": rep.Created.In(s.loc), "due": rep.Due.In(s.loc),
		"track_url": "/api/v1/reports/track/" + rep.Code,
	})
}

// trackView is what the holder of a tracking code sees: what anyone sees of the report (no
// description or address before it is public), links to its photos that expire, its code and its
// history with public notes only. The code may have been guessed: it shows nothing the citizen does
// not need.
type trackView struct {
	PublicView
	Code    string      `json:"code"`
	History []trackLine `json:"history"`
}

type trackLine struct {
	At   time.Time `json:"at"`
	To   Status    `json:"status"`
	Note string    `json:"note,omitempty"`
	Unit string    `json:"unit,omitempty"`
}

// history is a report's history as citizens may see it: every status change, with its note only
// when the note is public.
func (s *Service) history(h []Entry) []trackLine {
	out := make([]trackLine, 0, len(h))
	for _, e := range h {
		l := trackLine{At: e.At.In(s.loc), To: e.To, Unit: e.Unit}
		if e.Public {
			l.Note = e.Note
		}
		out = append(out, l)
	}
	return out
}

func (s *Service) handleTrack(w http.ResponseWriter, r *http.Request) error {
	if err := s.trackAllowed(w, r); err != nil {
		return err
	}
	rep, h, err := s.Track(r.Context(), r.PathValue("code"))
	s.trackResult(r, err)
	if err != nil {
		return apiError(err)
	}
	w.Header().Set("Cache-Control", "no-store")
	v := s.public(s.base(r), rep, false)
	if !rep.Status.Public() { // the holder sees their photos before anyone else does, through links that expire
		for _, id := range rep.Photos {
			v.Photos = append(v.Photos, s.holderPhotoURL(s.base(r), id))
		}
	}
	return httpapi.WriteJSON(w, http.StatusOK, trackView{PublicView: v, Code: rep.Code, History: s.history(h)})
}

func (s *Service) handleReopen(w http.ResponseWriter, r *http.Request) error {
	if !s.limitIP.allow(addrKey(r), s.d.Now()) {
		return s.refuse("rate_ip", tooMany(s.cfg.RateIP.Every))
	}
	if err := s.trackAllowed(w, r); err != nil {
		return err
	}
	var body struct {
		Note string `json:"note"`
	}
	if err := httpapi.DecodeJSON(w, r, maxFieldBytes, &body); err != nil {
		return err
	}
	rep, err := s.Reopen(r.Context(), r.PathValue("code"), body.Note)
	s.trackResult(r, err)
	if err != nil {
		return apiError(err)
	}
	return httpapi.WriteJSON(w, http.StatusOK, s.public(s.base(r), rep, false))
}

func (s *Service) handleNearby(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	p, err := point(q.Get("lon"), q.Get("lat"))
	if err == nil {
		err = stream.CheckLonLat(p[0], p[1])
	}
	if err != nil {
		return httpapi.BadRequest("lon, lat: tọa độ không hợp lệ / invalid coordinates")
	}
	if _, ok := s.d.Catalogue.Category(q.Get("category")); !ok {
		return httpapi.BadRequest("category: không có lĩnh vực %q / unknown category", q.Get("category"))
	}
	rs, err := s.Nearby(r.Context(), q.Get("category"), p)
	if err != nil {
		return err
	}
	out := make([]PublicView, 0, len(rs))
	for _, rep := range rs {
		v := s.public(s.base(r), rep, false)
		d := geo.Distance(p, rep.Location)
		v.DistanceM = &d
		out = append(out, v)
	}
	return httpapi.WriteJSON(w, http.StatusOK, out)
}

// handleMap lists the public reports of the last 30 days for the public map.
func (s *Service) handleMap(w http.ResponseWriter, r *http.Request) error {
	var q Query
	if c := r.URL.Query().Get("category"); c != "" {
		q.Services = []string{c}
	}
	for _, st := range Statuses {
		if st.Public() {
			q.Statuses = append(q.Statuses, st)
		}
	}
	q.From, q.Limit = s.d.Now().Add(-30*24*time.Hour), 2000
	rs, err := s.d.Store.List(r.Context(), q)
	if err != nil {
		return err
	}
	out := make([]PublicView, 0, len(rs))
	for _, rep := range rs {
		out = append(out, s.public(s.base(r), rep, false))
	}
	return httpapi.WriteJSON(w, http.StatusOK, out)
}

func (s *Service) handleList(w http.ResponseWriter, r *http.Request, _ string) error {
	v := r.URL.Query()
	q := Query{Unit: v.Get("unit")}
	areas, err := httpapi.AreaParams(v)
	if err != nil {
		return err
	}
	q.Areas = areas
	for _, st := range splitList(v.Get("status")) {
		if !Status(st).Valid() {
			return httpapi.BadRequest("status: không hợp lệ / unknown status %q", st)
		}
		q.Statuses = append(q.Statuses, Status(st))
	}
	q.Services = splitList(v.Get("category"))
	page, size, err := paging(v.Get("page"), v.Get("page_size"), 50, 500)
	if err != nil {
		return err
	}
	q.Offset, q.Limit = (page-1)*size, size
	rs, err := s.List(r.Context(), q)
	if err != nil {
		return err
	}
	if rs == nil {
		rs = []Report{}
	}
	for i := range rs {
		rs[i] = s.staffView(r, rs[i])
	}
	return httpapi.WriteJSON(w, http.StatusOK, rs)
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

func paging(pageS, sizeS string, def, max int) (int, int, error) {
	page, size := 1, def
	var err error
	if pageS != "" {
		if page, err = strconv.Atoi(pageS); err != nil || page < 1 {
			return 0, 0, httpapi.BadRequest("page: must be a positive integer")
		}
	}
	if sizeS != "" {
		if size, err = strconv.Atoi(sizeS); err != nil || size < 1 || size > max {
			return 0, 0, httpapi.BadRequest("page_size: must be 1..%d", max)
		}
	}
	return page, size, nil
}

func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return 0, httpapi.NotFound("không tìm thấy phản ánh / report not found")
	}
	return id, nil
}

func (s *Service) handleGet(w http.ResponseWriter, r *http.Request, _ string) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	rep, h, err := s.Get(r.Context(), id)
	if err != nil {
		return apiError(err)
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"report": s.staffView(r, rep), "history": h, "overdue": rep.Overdue(s.d.Now())})
}

func (s *Service) handleTransition(w http.ResponseWriter, r *http.Request, actor string) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var mv Move
	if err := httpapi.DecodeJSON(w, r, maxFieldBytes, &mv); err != nil {
		return err
	}
	rep, err := s.Transition(r.Context(), id, actor, mv)
	if err != nil {
		return apiError(err)
	}
	return httpapi.WriteJSON(w, http.StatusOK, s.staffView(r, rep))
}

// staffView is a report as a staff caller may see it: the reporter's identity and contact only for
// the intake role or when the reporter allowed sharing; else "ẩn danh".
func (s *Service) staffView(r *http.Request, rep Report) Report {
	if !rep.Contact.Share && !s.d.SeesContact(r) {
		rep.Contact = Contact{Name: Anonymous}
	}
	return rep
}

// handleSeverity changes a report's class: {"severity": "khan", "reason": "…"}; the reason is
// required and kept in the history.
func (s *Service) handleSeverity(w http.ResponseWriter, r *http.Request, actor string) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var body struct {
		Severity string `json:"severity"`
		Reason   string `json:"reason"`
	}
	if err := httpapi.DecodeJSON(w, r, maxFieldBytes, &body); err != nil {
		return err
	}
	rep, err := s.SetSeverity(r.Context(), id, actor, body.Severity, strings.TrimSpace(body.Reason))
	if err != nil {
		return apiError(err)
	}
	return httpapi.WriteJSON(w, http.StatusOK, s.staffView(r, rep))
}

func (s *Service) handleKPI(w http.ResponseWriter, r *http.Request, _ string) error {
	v := r.URL.Query()
	from, err1 := time.Parse(time.RFC3339, v.Get("from"))
	to, err2 := time.Parse(time.RFC3339, v.Get("to"))
	if err1 != nil || err2 != nil {
		return httpapi.BadRequest("from, to: RFC 3339 times with offset required")
	}
	set, err := s.KPISet(r.Context(), to)
	if err != nil {
		return apiError(err)
	}
	areas, err := httpapi.AreaParams(v) // any level; area-scoped operators always have theirs
	if err != nil {
		return err
	}
	if len(areas) > 0 {
		set = set.In(areas...)
	}
	rows, err := set.Rows(from, to, v.Get("by"))
	if err != nil {
		return apiError(err)
	}
	return httpapi.WriteJSON(w, http.StatusOK, rows)
}

func (s *Service) handleKeys(w http.ResponseWriter, r *http.Request, _ string) error {
	ks, err := s.Keys(r.Context())
	if err != nil {
		return err
	}
	if ks == nil {
		ks = []APIKey{}
	}
	return httpapi.WriteJSON(w, http.StatusOK, ks)
}

func (s *Service) handleCreateKey(w http.ResponseWriter, r *http.Request, actor string) error {
	var body struct {
		Client string `json:"client"`
	}
	if err := httpapi.DecodeJSON(w, r, maxFieldBytes, &body); err != nil {
		return err
	}
	k, secret, err := s.CreateKey(r.Context(), body.Client)
	if err != nil {
		return apiError(err)
	}
	s.d.Log.Info("open311 key issued", "key_id", k.ID, "client", k.Client, "actor", actor)
	return httpapi.WriteJSON(w, http.StatusCreated, map[string]any{"key": k, "api_key": secret})
}

func (s *Service) handleRevokeKey(w http.ResponseWriter, r *http.Request, actor string) error {
	if err := s.RevokeKey(r.Context(), r.PathValue("id")); err != nil {
		return apiError(fmt.Errorf("revoke key: %w", err))
	}
	s.d.Log.Info("open311 key revoked", "key_id", r.PathValue("id"), "actor", actor)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
