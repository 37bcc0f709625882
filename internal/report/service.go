package report

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ioc-vn/ioc/internal/report/photo"
	"github.com/ioc-vn/ioc/internal/report/worktime"
	"github.com/ioc-vn/ioc/stream"
)

// ErrInvalid marks a submission or transition the caller got wrong (400).
var ErrInvalid = errors.New("invalid")

// TransitionError is a workflow move that is not allowed from the report's state (409).
type TransitionError struct{ Reason string }

func (e *TransitionError) Error() string { return e.Reason }

// Deps are what the lead injects.
type Deps struct {
	Store     Store
	Catalogue *Catalogue
	Photos    *photo.Store
	// Locate returns the area codes by level ("province", "district", "commune") of [lon, lat]; the
	// district code picks the responsible unit. Nil means no areas.
	Locate func(lon, lat float64) map[string]string
	// Place finds where an address-only Open311 request is (NamePlacer over the admin areas); nil:
	// such requests are refused.
	Place Placer
	// OnChange receives a stream.TypeReport event after every create and transition. It must not block.
	OnChange func(stream.Event)
	// OnOverdue is called once per deadline a report passes (with the supervisor step).
	OnOverdue func(Report)
	// Notifier tells units, supervisors and the IOC of escalation steps; nil: nobody is told
	// (the steps are still recorded and announced).
	Notifier Notifier
	// Calendars is the working time deadlines are counted in; nil: built from cfg.Calendar (which
	// reads its holiday list file).
	Calendars *worktime.Calendars
	// Actor names the signed-in operator of an operator route, or "" when there is none (401).
	Actor func(*http.Request) string
	// SeesContact reports whether the caller is the intake role, who sees every reporter's identity
	// and contact; others see them only when the reporter allowed sharing. Nil: every operator.
	SeesContact func(*http.Request) bool
	// Sees reports whether the caller is staff who may open the report (role and scope): they may
	// see its photos before it is public. Nil: whoever Actor names.
	Sees       func(*http.Request, Report) bool
	Log        *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time // nil: time.Now
}

// Service is the report component: intake, workflow, queries and HTTP routes.
type Service struct {
	cfg      Config
	d        Deps
	loc      *time.Location
	m        *metrics
	limitIP  *limiter
	limitDv  *limiter
	limitTr  *limiter // wrong tracking codes per client address
	decodes  *decodePool
	uploads  *uploadPool
	photoKey []byte // HMAC key of photo links for tracking-code holders
	cal      *worktime.Calendars
	locates  bool // Deps.Locate was given: a point in no area is outside the province
}

// New builds the service. cfg must be valid.
func New(cfg Config, d Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("report config: %w", err)
	}
	if d.Store == nil || d.Catalogue == nil || d.Photos == nil {
		return nil, errors.New("report: store, catalogue and photos are required")
	}
	loc, err := time.LoadLocation(cfg.Timezone)
	if err != nil {
		return nil, fmt.Errorf("report timezone: %w", err)
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	d.Log = d.Log.With("component", "report")
	if d.Now == nil {
		d.Now = time.Now
	}
	locates := d.Locate != nil
	if d.Locate == nil {
		d.Locate = func(float64, float64) map[string]string { return nil }
	}
	if d.Place == nil {
		d.Place = func(string) (orb.Point, string, bool) { return orb.Point{}, "", false }
	}
	if d.OnChange == nil {
		d.OnChange = func(stream.Event) {}
	}
	if d.OnOverdue == nil {
		d.OnOverdue = func(Report) {}
	}
	if d.Notifier == nil {
		d.Notifier = nopNotifier{}
	}
	if d.Actor == nil {
		d.Actor = func(*http.Request) string { return "" }
	}
	if d.SeesContact == nil {
		d.SeesContact = func(*http.Request) bool { return true }
	}
	if d.Sees == nil {
		actor := d.Actor
		d.Sees = func(r *http.Request, _ Report) bool { return actor(r) != "" }
	}
	if d.Photos.Limits.MaxDecodeBytes > cfg.PhotoDecode.MaxBytes {
		return nil, fmt.Errorf("report config: photo_decode.max_bytes (%d) must be at least the per-photo decode limit (%d)",
			cfg.PhotoDecode.MaxBytes, d.Photos.Limits.MaxDecodeBytes)
	}
	if err := checkCategorySeverities(d.Catalogue, cfg); err != nil {
		return nil, err
	}
	if d.Calendars == nil {
		list, err := worktime.LoadList(cfg.Calendar.Holidays)
		if err != nil {
			return nil, fmt.Errorf("report calendar: %w", err)
		}
		if d.Calendars, err = worktime.Build(cfg.Calendar, list, loc); err != nil {
			return nil, fmt.Errorf("report calendar: %w", err)
		}
	}
	warnUnknownUnits(d.Log, d.Catalogue, cfg)
	year := d.Now().In(loc).Year()
	if missing := d.Calendars.Default.Missing(year, year+1); len(missing) > 0 {
		d.Log.Warn("no holiday list for these years: deadlines count holidays as working days; add them to the holiday list",
			"years", worktime.YearString(missing), "file", cfg.Calendar.Holidays)
	}
	m, err := newMetrics(d.Registerer)
	if err != nil {
		return nil, err
	}
	return &Service{
		cfg: cfg, d: d, loc: loc, m: m, cal: d.Calendars, locates: locates,
		limitIP:  newLimiter(cfg.RateIP, cfg.MaxClients),
		limitDv:  newLimiter(cfg.RateDevice, cfg.MaxClients),
		limitTr:  newLimiter(cfg.TrackFailures, cfg.MaxClients),
		decodes:  newDecodePool(cfg.PhotoDecode, m),
		uploads:  newUploadPool(cfg, m),
		photoKey: photoLinkKey(cfg.FormSecret),
	}, nil
}

// Submission is a new report as received from a citizen app or the web page. Location is [lon, lat].
type Submission struct {
	Service     string
	Description string
	Location    orb.Point
	Address     string
	AddressID   string
	Attributes  map[string][]string
	Photos      []string // IDs returned by photo.Store.Save
	MediaURL    string
	Contact     Contact
	Client      string // "web" or the Open311 client name
	IdemKey     string // retries with the same key return the first report
	LocatedBy   string // LocatedByGPS (default) or LocatedByAddress
}

func (s *Service) check(sub *Submission) (*Category, error) {
	svc, ok := s.d.Catalogue.Category(sub.Service)
	if !ok {
		return nil, fmt.Errorf("%w: service_code: unknown service %q", ErrInvalid, sub.Service)
	}
	var errs []error
	if err := stream.CheckLonLat(sub.Location[0], sub.Location[1]); err != nil || (sub.Location == orb.Point{}) {
		errs = append(errs, errors.New("location: a valid [lon, lat] is required"))
	}
	if sub.Description == "" && len(sub.Photos) == 0 && sub.MediaURL == "" {
		errs = append(errs, errors.New("description: required when there is no photo"))
	}
	for _, f := range []struct {
		name string
		v    string
		max  int
	}{{"description", sub.Description, 4000}, {"address_string", sub.Address, 500}, {"address_id", sub.AddressID, 100},
		{"media_url", sub.MediaURL, 1000}, {"name", sub.Contact.Name, 200},
		{"phone", sub.Contact.Phone, 30}, {"email", sub.Contact.Email, 200}, {"device_id", sub.Contact.DeviceID, 200},
		{"account_id", sub.Contact.AccountID, 200}} {
		if !utf8.ValidString(f.v) || len(f.v) > f.max {
			errs = append(errs, fmt.Errorf("%s: must be valid UTF-8 of at most %d bytes", f.name, f.max))
		}
	}
	if sub.MediaURL != "" && !strings.HasPrefix(sub.MediaURL, "https://") && !strings.HasPrefix(sub.MediaURL, "http://") {
		errs = append(errs, errors.New("media_url: must be an http(s) URL"))
	}
	if len(sub.Photos) > s.cfg.MaxPhotos {
		errs = append(errs, fmt.Errorf("photos: at most %d", s.cfg.MaxPhotos))
	}
	if err := svc.CheckAttributes(sub.Attributes); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return svc, nil
}

// Submit files a report: validates it, routes it to the responsible unit by category and district,
// sets its SLA due time, stores it durably and announces it. A retry with the same IdemKey returns the
// first report with created == false.
func (s *Service) Submit(ctx context.Context, sub Submission) (Report, bool, error) {
	svc, err := s.check(&sub)
	if err != nil {
		return Report{}, false, err
	}
	now := s.d.Now().UTC()
	areas := s.d.Locate(sub.Location[0], sub.Location[1])
	r := Report{
		Service: svc.Code, Status: StatusNew, Description: sub.Description, Location: sub.Location,
		Address: sub.Address, AddressID: sub.AddressID, Areas: areas, Attributes: sub.Attributes,
		Photos: sub.Photos, MediaURL: sub.MediaURL, Unit: svc.Unit(areas["district"]), Client: sub.Client,
		Contact: sub.Contact, Created: now, Updated: now, Severity: s.categorySeverity(svc),
		LocatedBy: cmp.Or(sub.LocatedBy, LocatedByGPS),
	}
	s.setDeadlines(&r)
	s.planEscalation(&r)
	first := Entry{At: now, Actor: "citizen:" + sub.Client, To: StatusNew, Note: "đã tiếp nhận / received", Unit: r.Unit, Public: true}
	for range 5 {
		r.Code = NewCode(s.cfg.CodePrefix)
		out, created, err := s.d.Store.Create(ctx, r, sub.IdemKey, first)
		if errors.Is(err, ErrCodeTaken) {
			continue
		}
		if err != nil {
			return Report{}, false, fmt.Errorf("submit report: %w", err)
		}
		if created {
			s.m.received.WithLabelValues(out.Service).Inc()
			s.announce(out)
		} else {
			s.m.replays.Inc()
		}
		return out, created, nil
	}
	return Report{}, false, errors.New("submit report: no free tracking code after 5 tries")
}

// Move is an operator's transition request.
type Move struct {
	To          Status `json:"to"`
	Note        string `json:"note"`
	PublicNote  bool   `json:"public_note,omitempty"`  // the note may be shown to citizens (default: internal)
	Unit        string `json:"unit,omitempty"`         // for assigned: the unit (default: the routed unit)
	DuplicateOf int64  `json:"duplicate_of,omitempty"` // for duplicate: the original report
}

// Transition moves a report through the workflow on behalf of actor. A move the workflow does not
// allow returns a *TransitionError; a malformed one wraps ErrInvalid.
func (s *Service) Transition(ctx context.Context, id int64, actor string, mv Move) (Report, error) {
	if len(mv.Note) > 2000 || !utf8.ValidString(mv.Note) {
		return Report{}, fmt.Errorf("%w: note: at most 2000 bytes of UTF-8", ErrInvalid)
	}
	for range 5 { // optimistic concurrency: re-read and retry when someone else moved it first
		r, err := s.d.Store.Get(ctx, id)
		if err != nil {
			return Report{}, fmt.Errorf("report %d: %w", id, err)
		}
		if err := r.Status.CanMove(mv.To); err != nil {
			return Report{}, &TransitionError{Reason: err.Error()}
		}
		if err := s.applyMove(ctx, &r, mv); err != nil {
			return Report{}, err
		}
		out, err := s.save(ctx, r, actor, mv.Note, mv.PublicNote)
		if errors.Is(err, ErrConflict) {
			continue
		}
		return out, err
	}
	return Report{}, fmt.Errorf("report %d: %w", id, ErrConflict)
}

func (s *Service) applyMove(ctx context.Context, r *Report, mv Move) error {
	now := s.d.Now().UTC()
	switch mv.To {
	case StatusAssigned:
		if mv.Unit != "" && mv.Unit != r.Unit {
			r.Unit = mv.Unit
			s.setDeadlines(r) // the new unit's calendar
		}
		if r.Unit == "" {
			return fmt.Errorf("%w: unit: required to assign", ErrInvalid)
		}
	case StatusDuplicate:
		if mv.DuplicateOf == 0 || mv.DuplicateOf == r.ID {
			return fmt.Errorf("%w: duplicate_of: the original report's id is required", ErrInvalid)
		}
		if _, err := s.d.Store.Get(ctx, mv.DuplicateOf); err != nil {
			return fmt.Errorf("%w: duplicate_of: report %d: %w", ErrInvalid, mv.DuplicateOf, err)
		}
		r.DuplicateOf = mv.DuplicateOf
	case StatusResolved:
		r.Resolved = now
		r.Result, r.Rating, r.Rated = "", "", time.Time{} // a new resolution is rated anew
		if mv.PublicNote {
			r.Result = strings.TrimSpace(mv.Note) // approved for publication by the operator
		}
	case StatusReopened:
		r.Resolved = time.Time{}
		r.Escalated = time.Time{}
		s.setReopenDeadlines(r, now)
	}
	if r.Status == StatusNew && r.Received.IsZero() {
		r.Received = now
	}
	r.Status = mv.To
	return nil
}

// save stores r with a history entry, keeping the entry's from-state from the stored version. public
// says whether citizens may read note.
func (s *Service) save(ctx context.Context, r Report, actor, note string, public bool) (Report, error) {
	prev, err := s.d.Store.Get(ctx, r.ID)
	if err != nil {
		return Report{}, fmt.Errorf("report %d: %w", r.ID, err)
	}
	if prev.Version != r.Version {
		return Report{}, ErrConflict
	}
	now := s.d.Now().UTC()
	r.Updated = now
	s.planEscalation(&r)
	out, err := s.d.Store.Update(ctx, r, Entry{At: now, Actor: actor, From: prev.Status, To: r.Status, Note: note, Unit: r.Unit, Public: public})
	if err != nil {
		return Report{}, err
	}
	if prev.Status != out.Status {
		s.m.transitions.WithLabelValues(string(out.Status)).Inc()
	}
	s.announce(out)
	return out, nil
}

// byCode returns the report with a tracking code; a code of the wrong shape is ErrNotFound without
// asking the store.
func (s *Service) byCode(ctx context.Context, code string) (Report, error) {
	if code = NormalizeCode(code); !ValidCode(code) {
		return Report{}, ErrNotFound
	}
	return s.d.Store.ByCode(ctx, code)
}

// Reopen lets the citizen who holds the tracking code reopen a resolved or closed report within the
// reopen window after its resolution.
func (s *Service) Reopen(ctx context.Context, code, note string) (Report, error) {
	if strings.TrimSpace(note) == "" {
		return Report{}, fmt.Errorf("%w: note: lý do mở lại là bắt buộc / a reason is required to reopen", ErrInvalid)
	}
	r, err := s.byCode(ctx, code)
	if err != nil {
		return Report{}, fmt.Errorf("report %s: %w", code, err)
	}
	if r.Status != StatusResolved && r.Status != StatusClosed {
		return Report{}, &TransitionError{Reason: fmt.Sprintf("chỉ mở lại được phản ánh đã xử lý / only a resolved or closed report can be reopened (status %s)", r.Status)}
	}
	if r.Resolved.IsZero() || s.d.Now().Sub(r.Resolved) > s.cfg.ReopenWindow {
		return Report{}, &TransitionError{Reason: fmt.Sprintf("đã quá thời hạn mở lại / the reopen window of %s after resolution has passed", s.cfg.ReopenWindow)}
	}
	return s.Transition(ctx, r.ID, "citizen", Move{To: StatusReopened, Note: note}) // the citizen's note stays internal
}

// Get returns one report (operator view).
func (s *Service) Get(ctx context.Context, id int64) (Report, []Entry, error) {
	r, err := s.d.Store.Get(ctx, id)
	if err != nil {
		return Report{}, nil, fmt.Errorf("report %d: %w", id, err)
	}
	h, err := s.d.Store.History(ctx, id)
	if err != nil {
		return Report{}, nil, err
	}
	return r, h, nil
}

// Track returns the report and history for a tracking code.
func (s *Service) Track(ctx context.Context, code string) (Report, []Entry, error) {
	r, err := s.byCode(ctx, code)
	if err != nil {
		return Report{}, nil, fmt.Errorf("report %s: %w", code, err)
	}
	h, err := s.d.Store.History(ctx, r.ID)
	if err != nil {
		return Report{}, nil, err
	}
	return r, h, nil
}

// Nearby returns open reports of a service within the configured radius of [lon, lat], nearest first.
func (s *Service) Nearby(ctx context.Context, service string, p orb.Point) ([]Report, error) {
	radius := s.cfg.NearbyRadius
	dLat := radius / 111_320 * 1.1
	dLon := dLat / math.Max(math.Cos(p[1]*math.Pi/180), 0.01)
	box := orb.Bound{Min: orb.Point{p[0] - dLon, p[1] - dLat}, Max: orb.Point{p[0] + dLon, p[1] + dLat}}
	var open []Status
	for _, st := range Statuses {
		if st.Open() {
			open = append(open, st)
		}
	}
	rs, err := s.d.Store.List(ctx, Query{Services: []string{service}, Statuses: open, Box: &box, Limit: 200})
	if err != nil {
		return nil, err
	}
	out := rs[:0]
	for _, r := range rs {
		if geo.Distance(p, r.Location) <= radius {
			out = append(out, r)
		}
	}
	return out, nil
}

// List returns reports for operators.
func (s *Service) List(ctx context.Context, q Query) ([]Report, error) { return s.d.Store.List(ctx, q) }

// Run escalates overdue reports every escalate_every until ctx ends: each open report past its due
// time is marked escalated once (a history entry by "system") and handed to OnOverdue.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.EscalateEvery)
	defer t.Stop()
	for {
		if err := s.Escalate(ctx); err != nil && ctx.Err() == nil {
			s.d.Log.Warn("escalation failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// EntityID is a report's entity ID on the live map and in the event store ("report-<id>": entity IDs
// share one namespace with devices, cameras and alarms).
func EntityID(id int64) string { return "report-" + strconv.FormatInt(id, 10) }

// announce hands the public state of r to OnChange. Contact data never leaves here; description
// and address only once the report is public (after triage).
func (s *Service) announce(r Report) {
	pub := r.Status.Public()
	attrs := map[string]string{
		"report_id":        strconv.FormatInt(r.ID, 10),
		"category":         r.Service,
		"status":           string(r.Status),
		"open311":          r.Status.Open311(),
		"public":           strconv.FormatBool(pub),
		"overdue":          strconv.FormatBool(r.Overdue(s.d.Now())),
		"due":              r.Due.In(s.loc).Format(time.RFC3339),
		"severity":         r.Severity,
		"escalation_level": strconv.Itoa(r.EscalationLevel),
	}
	if svc, ok := s.d.Catalogue.Category(r.Service); ok {
		attrs["category_name"] = svc.Name
	}
	if pub {
		attrs["description"] = r.Description
		attrs["address"] = r.Address
		attrs["unit"] = r.Unit
	}
	s.d.OnChange(stream.Event{
		Entity: EntityID(r.ID), Kind: "report", Type: stream.TypeReport, Source: "report",
		Time: r.Updated, Location: r.Location, HasLocation: true, Areas: r.Areas, Attrs: attrs,
	})
}
