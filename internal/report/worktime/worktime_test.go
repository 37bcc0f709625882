package worktime

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

var hcm = mustZone("Asia/Ho_Chi_Minh")

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// shipped is the province calendar built from configs/holidays-vn.yaml.
func shipped(t *testing.T) *Calendar {
	t.Helper()
	list, err := LoadList("../../../configs/holidays-vn.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cs, err := Build(Defaults(), list, hcm)
	if err != nil {
		t.Fatal(err)
	}
	return cs.Default
}

func at(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, hcm)
	if err != nil {
		panic(err)
	}
	return t
}

func TestAddWithRealDates(t *testing.T) {
	c := shipped(t)
	for _, tc := range []struct {
		name  string
		start string
		add   time.Duration
		want  string
	}{
		{"within the morning", "2026-03-10 08:00", 2 * time.Hour, "2026-03-10 10:00"},
		{"over lunch", "2026-03-10 10:30", 2 * time.Hour, "2026-03-10 14:30"},
		{"ends with the day's last period", "2026-03-10 16:00", time.Hour, "2026-03-10 17:00"},
		{"filed at night counts from the next morning", "2026-03-10 21:00", time.Hour, "2026-03-11 08:30"},
		{"Friday afternoon over the weekend", "2026-03-13 16:00", 8 * time.Hour, "2026-03-16 16:30"},
		{"Saturday filing starts Monday", "2026-03-14 09:00", 4 * time.Hour, "2026-03-16 11:30"},
		{"before Tết Bính Ngọ: resumes after mùng 6", "2026-02-13 15:00", 8 * time.Hour, "2026-02-23 15:30"},
		{"Hùng Kings day in lieu and 30/4–1/5", "2026-04-24 16:00", 17 * time.Hour, "2026-05-04 08:30"},
		{"Quốc khánh 2026: 1 and 2 Sep", "2026-08-31 16:00", 2 * time.Hour, "2026-09-03 08:30"},
		{"Tết Đinh Mùi 2027", "2027-02-04 16:00", 2 * time.Hour, "2027-02-12 08:30"},
		{"zero is the start", "2026-03-14 09:00", 0, "2026-03-14 09:00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := c.Add(at(tc.start), tc.add)
			if !got.Equal(at(tc.want)) {
				t.Errorf("Add(%s, %s) = %s, want %s", tc.start, tc.add, got.Format(time.RFC3339), tc.want)
			}
			if tc.add > 0 {
				if b := c.Between(at(tc.start), got); b != tc.add {
					t.Errorf("Between(%s, %s) = %s, want %s", tc.start, got.Format(time.RFC3339), b, tc.add)
				}
			}
		})
	}
}

func TestSubWithRealDates(t *testing.T) {
	c := shipped(t)
	for _, tc := range []struct {
		name     string
		deadline string
		sub      time.Duration
		want     string
	}{
		{"half an hour before", "2026-03-10 10:00", 30 * time.Minute, "2026-03-10 09:30"},
		{"back over lunch", "2026-03-10 14:00", time.Hour, "2026-03-10 11:00"},
		{"a day back from Monday morning is Friday morning", "2026-03-16 08:30", 7*time.Hour + 30*time.Minute, "2026-03-13 08:30"},
		{"back over Tết Bính Ngọ", "2026-02-23 09:30", 4 * time.Hour, "2026-02-13 15:00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.Sub(at(tc.deadline), tc.sub); !got.Equal(at(tc.want)) {
				t.Errorf("Sub(%s, %s) = %s, want %s", tc.deadline, tc.sub, got.Format(time.RFC3339), tc.want)
			}
		})
	}
}

func TestUnitOverrides(t *testing.T) {
	list, err := LoadList("../../../configs/holidays-vn.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Defaults()
	cfg.Units = map[string]UnitConfig{
		"Đội cứu hộ":  {Weekdays: []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}, Hours: []string{"00:00-24:00"}, Holidays: "ignore"},
		"UBND phường": {Weekdays: []string{"mon", "tue", "wed", "thu", "fri", "sat"}},
	}
	if err := cfg.Validate("reports.calendar"); err != nil {
		t.Fatal(err)
	}
	cs, err := Build(cfg, list, hcm)
	if err != nil {
		t.Fatal(err)
	}
	start := at("2026-02-17 10:00") // mùng 1 Tết, a Tuesday
	for _, tc := range []struct{ unit, want string }{
		{"Đội cứu hộ", "2026-02-17 14:00"},
		{"UBND phường", "2026-02-21 11:30"}, // works Saturdays, not Tết
		{"another unit", "2026-02-23 11:30"},
	} {
		if got := cs.For(tc.unit).Add(start, 4*time.Hour); !got.Equal(at(tc.want)) {
			t.Errorf("%s: Add = %s, want %s", tc.unit, got.Format(time.RFC3339), tc.want)
		}
	}
}

func TestMissingYearsAreReported(t *testing.T) {
	c := shipped(t)
	if got := c.Missing(2026, 2028); !slices.Equal(got, []int{2028}) {
		t.Errorf("Missing(2026, 2028) = %v, want [2028]", got)
	}
}

func TestConfigValidateNamesEveryProblem(t *testing.T) {
	cfg := Config{Weekdays: []string{"mon", "funday"}, Hours: []string{"07:30-11:30", "11:00-12:00", "5pm"},
		Units: map[string]UnitConfig{"x": {Hours: []string{"17:00-08:00"}, Holidays: "sometimes"}}}
	err := cfg.Validate("reports.calendar")
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"reports.calendar.holidays: required",
		`reports.calendar.weekdays[1]: must be one of`,
		`reports.calendar.hours[2]: want HH:MM-HH:MM`,
		"reports.calendar.hours: periods overlap at 11:00",
		`reports.calendar.units[x].hours[0]: want HH:MM-HH:MM`,
		`reports.calendar.units[x].holidays: must be observe or ignore`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestListRejectsBadDates(t *testing.T) {
	l := List{Years: map[int]Year{2026: {
		Holidays: []Day{{Date: "2026-02-30", Name: "x"}, {Date: "2027-01-01", Name: "y"}, {Date: "2026-01-01"}},
		Workdays: []Day{{Date: "2026-01-01", Name: "z"}},
	}}}
	err := l.check()
	for _, want := range []string{"years.2026.holidays[0].date: bad date", "years.2026.holidays[1].date: 2027-01-01 is not in 2026",
		"years.2026.holidays[2].name: required", "years.2026.workdays[0].date: 2026-01-01 already listed under holidays"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

// brute is an independent minute-by-minute reference of a calendar.
type brute struct {
	hours              Hours
	weekdays           map[time.Weekday]bool
	holidays, workdays map[Date]string
}

func (b brute) working(t time.Time) bool {
	t = t.In(hcm)
	d := DateOf(t)
	worked := b.weekdays[t.Weekday()]
	if _, ok := b.holidays[d]; ok {
		worked = false
	}
	if _, ok := b.workdays[d]; ok {
		worked = true
	}
	if !worked {
		return false
	}
	m := t.Hour()*60 + t.Minute()
	for _, s := range b.hours {
		if m >= s.Start && m < s.End {
			return true
		}
	}
	return false
}

func (b brute) between(a, z time.Time) time.Duration {
	n := 0
	for t := a; t.Before(z); t = t.Add(time.Minute) {
		if b.working(t) {
			n++
		}
	}
	return time.Duration(n) * time.Minute
}

// randomCalendar draws working hours, a week and dense holidays and make-up days in 2026–2027.
func randomCalendar(r *rand.Rand) (*Calendar, brute) {
	pools := [][]string{
		{"07:30-11:30", "13:30-17:00"},
		{"00:00-24:00"},
		{"00:00-00:30", "23:00-24:00"},
		{"08:00-08:01", "12:00-18:30"},
		{"06:00-22:00"},
	}
	hours, err := ParseHours(pools[r.IntN(len(pools))])
	if err != nil {
		panic(err)
	}
	var weekdays []time.Weekday
	b := brute{hours: hours, weekdays: map[time.Weekday]bool{}, holidays: map[Date]string{}, workdays: map[Date]string{}}
	for w := time.Sunday; w <= time.Saturday; w++ {
		if r.IntN(3) > 0 {
			weekdays = append(weekdays, w)
			b.weekdays[w] = true
		}
	}
	if len(weekdays) == 0 {
		weekdays = append(weekdays, time.Wednesday)
		b.weekdays[time.Wednesday] = true
	}
	base := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for range 120 {
		d := DateOf(base.AddDate(0, 0, r.IntN(730)))
		if r.IntN(3) == 0 {
			if _, ok := b.holidays[d]; !ok {
				b.workdays[d] = "làm bù"
			}
		} else if _, ok := b.workdays[d]; !ok {
			b.holidays[d] = "nghỉ"
		}
	}
	c, err := New(hcm, hours, weekdays, b.holidays, b.workdays, []int{2026, 2027})
	if err != nil {
		panic(err)
	}
	return c, b
}

func shippedBrute(t *testing.T) (*Calendar, brute) {
	list, err := LoadList("../../../configs/holidays-vn.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b := brute{hours: Hours{{450, 690}, {810, 1020}}, holidays: map[Date]string{}, workdays: map[Date]string{},
		weekdays: map[time.Weekday]bool{time.Monday: true, time.Tuesday: true, time.Wednesday: true, time.Thursday: true, time.Friday: true}}
	for _, y := range list.Years {
		for _, d := range y.Holidays {
			b.holidays[mustDate(d.Date)] = d.Name
		}
		for _, d := range y.Workdays {
			b.workdays[mustDate(d.Date)] = d.Name
		}
	}
	return shipped(t), b
}

func mustDate(s string) Date {
	d, err := ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

// randomMoment is a minute in 2026–2027, often close to a period's edge or midnight.
func randomMoment(r *rand.Rand) time.Time {
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, hcm).AddDate(0, 0, r.IntN(720))
	edges := []int{0, 450, 690, 810, 1020, 1439, 480, 720, 1080, 1380}
	m := r.IntN(1440)
	if r.IntN(2) == 0 {
		m = max(0, min(1439, edges[r.IntN(len(edges))]+r.IntN(5)-2))
	}
	return day.Add(time.Duration(m) * time.Minute)
}

// TestPropertiesAgainstBruteForce checks Between, Add and Sub against a minute counter over random
// intervals across weekends, holidays and make-up days, on random calendars and the shipped one.
func TestPropertiesAgainstBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(20, 26))
	for round := range 60 {
		c, b := randomCalendar(r)
		if round%4 == 0 {
			c, b = shippedBrute(t)
		}
		for range 10 {
			a := randomMoment(r)
			z := a.Add(time.Duration(r.IntN(14*1440)) * time.Minute)
			if got, want := c.Between(a, z), b.between(a, z); got != want {
				t.Fatalf("round %d: Between(%s, %s) = %s, brute force %s", round, a.Format(time.RFC3339), z.Format(time.RFC3339), got, want)
			}
			if got := c.Between(z, a); z.After(a) && got != 0 {
				t.Fatalf("round %d: Between of a reversed interval = %s", round, got)
			}
			n := time.Duration(r.IntN(3*480)) * time.Minute
			d := c.Add(a, n)
			if got := b.between(a, d); got != n {
				t.Fatalf("round %d: Add(%s, %s) = %s holds %s of working time", round, a.Format(time.RFC3339), n, d.Format(time.RFC3339), got)
			}
			if n > 0 && !b.working(d.Add(-time.Minute)) {
				t.Fatalf("round %d: Add(%s, %s) = %s is not the earliest: the minute before is not worked", round, a.Format(time.RFC3339), n, d.Format(time.RFC3339))
			}
			w := c.Sub(z, n)
			if got := b.between(w, z); got != n || w.After(z) {
				t.Fatalf("round %d: Sub(%s, %s) = %s leaves %s of working time", round, z.Format(time.RFC3339), n, w.Format(time.RFC3339), got)
			}
			if n > 0 && !b.working(w) {
				t.Fatalf("round %d: Sub(%s, %s) = %s is not the latest: its minute is not worked", round, z.Format(time.RFC3339), n, w.Format(time.RFC3339))
			}
		}
	}
}
