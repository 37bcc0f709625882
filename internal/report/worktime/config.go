package worktime

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the `reports.calendar` section: the usual working week, the holiday list file and
// per-unit overrides. Defaults() holds its defaults.
type Config struct {
	Holidays string   `yaml:"holidays"` // holiday list file (configs/holidays-vn.yaml)
	Weekdays []string `yaml:"weekdays"` // mon … sun
	Hours    []string `yaml:"hours"`    // working periods, "07:30-11:30"
	// Units overrides the week and hours of some units (a 24/7 rescue team, a ward office open on
	// Saturday morning), by unit name as in the service catalogue.
	Units map[string]UnitConfig `yaml:"units"`
}

// UnitConfig is one unit's calendar; empty fields keep the province's.
type UnitConfig struct {
	Weekdays []string `yaml:"weekdays"`
	Hours    []string `yaml:"hours"`
	Holidays string   `yaml:"holidays"` // observe (default) | ignore: a 24/7 service works on holidays too
}

// Defaults is the working time of state offices: Monday to Friday, 07:30–11:30 and 13:30–17:00.
func Defaults() Config {
	return Config{
		Holidays: "configs/holidays-vn.yaml",
		Weekdays: []string{"mon", "tue", "wed", "thu", "fri"},
		Hours:    []string{"07:30-11:30", "13:30-17:00"},
	}
}

var weekdayNames = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday,
	"wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

func parseWeekdays(prefix string, names []string) ([]time.Weekday, error) {
	var out []time.Weekday
	var errs []error
	for i, n := range names {
		w, ok := weekdayNames[n]
		if !ok {
			errs = append(errs, fmt.Errorf("%s[%d]: must be one of mon, tue, wed, thu, fri, sat, sun, got %q", prefix, i, n))
			continue
		}
		out = append(out, w)
	}
	return out, errors.Join(errs...)
}

// Validate reports every problem with its key path under prefix (reports.calendar). No I/O.
func (c *Config) Validate(prefix string) error {
	var errs []error
	if c.Holidays == "" {
		errs = append(errs, fmt.Errorf("%s.holidays: required", prefix))
	}
	errs = append(errs, checkWeek(prefix, c.Weekdays, c.Hours, true))
	for _, name := range slices.Sorted(maps.Keys(c.Units)) {
		u := c.Units[name]
		p := fmt.Sprintf("%s.units[%s]", prefix, name)
		errs = append(errs, checkWeek(p, u.Weekdays, u.Hours, false))
		if u.Holidays != "" && u.Holidays != "observe" && u.Holidays != "ignore" {
			errs = append(errs, fmt.Errorf("%s.holidays: must be observe or ignore, got %q", p, u.Holidays))
		}
	}
	return errors.Join(errs...)
}

func checkWeek(prefix string, weekdays, hours []string, required bool) error {
	var errs []error
	if required && len(weekdays) == 0 {
		errs = append(errs, fmt.Errorf("%s.weekdays: at least one day required", prefix))
	}
	if _, err := parseWeekdays(prefix+".weekdays", weekdays); err != nil {
		errs = append(errs, err)
	}
	if required && len(hours) == 0 {
		errs = append(errs, fmt.Errorf("%s.hours: at least one period required", prefix))
	}
	if _, err := parseHours(prefix+".hours", hours); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// List is a holiday list file: for each year its days off and make-up working days.
type List struct {
	Years map[int]Year `yaml:"years"`
}

// Year is one year's published list.
type Year struct {
	Source   string `yaml:"source"`   // the decision that set the days, or "to be confirmed"
	Holidays []Day  `yaml:"holidays"` // days off (ngày nghỉ), including days given in compensation
	Workdays []Day  `yaml:"workdays"` // make-up working days (ngày làm bù)
}

// Day is one dated entry.
type Day struct {
	Date string `yaml:"date"` // YYYY-MM-DD
	Name string `yaml:"name"`
}

// LoadList reads and checks a holiday list file: every date valid and in its year, no day both off
// and worked.
func LoadList(path string) (*List, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read holiday list: %w", err)
	}
	var l List
	if err := yaml.Unmarshal(raw, &l); err != nil {
		return nil, fmt.Errorf("parse holiday list %s: %w", path, err)
	}
	if err := l.check(); err != nil {
		return nil, fmt.Errorf("holiday list %s: %w", path, err)
	}
	return &l, nil
}

func (l *List) check() error {
	var errs []error
	for _, y := range slices.Sorted(maps.Keys(l.Years)) {
		seen := map[Date]string{}
		for _, kind := range []struct {
			key  string
			days []Day
		}{{"holidays", l.Years[y].Holidays}, {"workdays", l.Years[y].Workdays}} {
			for i, d := range kind.days {
				p := fmt.Sprintf("years.%d.%s[%d]", y, kind.key, i)
				date, err := ParseDate(d.Date)
				switch {
				case err != nil:
					errs = append(errs, fmt.Errorf("%s.date: %w", p, err))
				case date.Year != y:
					errs = append(errs, fmt.Errorf("%s.date: %s is not in %d", p, d.Date, y))
				case seen[date] != "":
					errs = append(errs, fmt.Errorf("%s.date: %s already listed under %s", p, d.Date, seen[date]))
				default:
					seen[date] = kind.key
				}
				if d.Name == "" {
					errs = append(errs, fmt.Errorf("%s.name: required", p))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// Calendars is the province's calendar and its units' overrides.
type Calendars struct {
	Default *Calendar
	Units   map[string]*Calendar
}

// For returns the calendar of a unit, the province's when it has none of its own.
func (cs *Calendars) For(unit string) *Calendar {
	if c, ok := cs.Units[unit]; ok {
		return c
	}
	return cs.Default
}

// Build makes the calendars of a valid config and a loaded list.
func Build(cfg Config, list *List, loc *time.Location) (*Calendars, error) {
	holidays, workdays := map[Date]string{}, map[Date]string{}
	var years []int
	for y, yl := range list.Years {
		years = append(years, y)
		for _, d := range yl.Holidays {
			date, err := ParseDate(d.Date)
			if err != nil {
				return nil, err
			}
			holidays[date] = d.Name
		}
		for _, d := range yl.Workdays {
			date, err := ParseDate(d.Date)
			if err != nil {
				return nil, err
			}
			workdays[date] = d.Name
		}
	}
	build := func(weekdays, hours []string, observe bool) (*Calendar, error) {
		w, err := parseWeekdays("weekdays", weekdays)
		if err != nil {
			return nil, err
		}
		h, err := ParseHours(hours)
		if err != nil {
			return nil, err
		}
		if !observe {
			return New(loc, h, w, nil, nil, years)
		}
		return New(loc, h, w, holidays, workdays, years)
	}
	def, err := build(cfg.Weekdays, cfg.Hours, true)
	if err != nil {
		return nil, fmt.Errorf("calendar: %w", err)
	}
	out := &Calendars{Default: def, Units: map[string]*Calendar{}}
	for name, u := range cfg.Units {
		weekdays, hours := u.Weekdays, u.Hours
		if len(weekdays) == 0 {
			weekdays = cfg.Weekdays
		}
		if len(hours) == 0 {
			hours = cfg.Hours
		}
		c, err := build(weekdays, hours, u.Holidays != "ignore")
		if err != nil {
			return nil, fmt.Errorf("calendar of unit %s: %w", name, err)
		}
		out.Units[name] = c
	}
	return out, nil
}

// YearString formats a list of years for a warning.
func YearString(ys []int) string {
	s := make([]string, len(ys))
	for i, y := range ys {
		s[i] = strconv.Itoa(y)
	}
	return fmt.Sprint(s)
}
