package report

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"time"

	"go.yaml.in/yaml/v3"
)

// Open311 attribute datatypes.
var Datatypes = []string{"string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"}

// DefaultUnit is the Units key used when no unit is configured for a report's area.
const DefaultUnit = "default"

// Catalogue is the list of report categories citizens can choose, loaded from configs/services.yaml.
type Catalogue struct {
	Services []Category `yaml:"services"`
}

// Category is one report category (an Open311 service).
type Category struct {
	Code        string            `yaml:"code"`        // Open311 service_code, stable
	Name        string            `yaml:"name"`        // Vietnamese name first, English second
	Description string            `yaml:"description"` // shown to citizens
	Group       string            `yaml:"group"`       // Open311 group
	Keywords    []string          `yaml:"keywords"`    // Open311 keywords
	Notice      string            `yaml:"notice"`      // Open311 service_notice returned after a POST
	Severity    string            `yaml:"severity"`    // class a new report starts in (default_severity when empty)
	SLA         time.Duration     `yaml:"sla"`         // optional: replaces the class's handling time (working time)
	Units       map[string]string `yaml:"units"`       // responsible unit by district code, plus "default"
	Attributes  []Attribute       `yaml:"attributes"`  // Open311 attribute definitions
}

// Attribute is an Open311 service definition attribute.
type Attribute struct {
	Code         string  `yaml:"code"`
	Datatype     string  `yaml:"datatype"`
	Required     bool    `yaml:"required"`
	Description  string  `yaml:"description"`
	DatatypeDesc string  `yaml:"datatype_description"`
	Values       []Value `yaml:"values"` // for singlevaluelist and multivaluelist
}

// Value is one choice of a list attribute.
type Value struct {
	Key  string `yaml:"key"`
	Name string `yaml:"name"`
}

var codeRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,40}$`)

// LoadCatalogue reads and validates a service catalogue file.
func LoadCatalogue(path string) (*Catalogue, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read service catalogue: %w", err)
	}
	var c Catalogue
	if err := yaml.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("parse service catalogue %s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("service catalogue %s: %w", path, err)
	}
	return &c, nil
}

// Validate reports every problem of the catalogue at once, each with its key path.
func (c *Catalogue) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(c.Services) == 0 {
		bad("services: at least one service is required")
	}
	seen := map[string]bool{}
	for i, s := range c.Services {
		p := fmt.Sprintf("services[%d] (%s)", i, s.Code)
		errs = append(errs, checkNamed(p, s.Code, s.Name, seen)...)
		if s.Group == "" {
			bad("%s: group: required", p)
		}
		if s.SLA < 0 {
			bad("%s: sla: must not be negative", p)
		}
		if s.Units[DefaultUnit] == "" {
			bad("%s: units: a %q unit is required", p, DefaultUnit)
		}
		attrs := map[string]bool{}
		for j, a := range s.Attributes {
			ap := fmt.Sprintf("%s: attributes[%d] (%s)", p, j, a.Code)
			if !codeRE.MatchString(a.Code) {
				bad("%s: code: must be 1-40 letters, digits, _ or -", ap)
			} else if attrs[a.Code] {
				bad("%s: code: duplicate", ap)
			}
			attrs[a.Code] = true
			if !slices.Contains(Datatypes, a.Datatype) {
				bad("%s: datatype: must be one of %v", ap, Datatypes)
			}
			list := a.Datatype == "singlevaluelist" || a.Datatype == "multivaluelist"
			if list && len(a.Values) == 0 {
				bad("%s: values: required for %s", ap, a.Datatype)
			}
			if !list && len(a.Values) > 0 {
				bad("%s: values: only allowed for list datatypes", ap)
			}
			if a.Description == "" {
				bad("%s: description: required", ap)
			}
			for k, v := range a.Values {
				if v.Key == "" || v.Name == "" {
					bad("%s: values[%d]: key and name are required", ap, k)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// checkNamed checks the code and name of a catalogue or config entry at key path p; seen holds the
// codes before it.
func checkNamed(p, code, name string, seen map[string]bool) []error {
	var errs []error
	switch {
	case !codeRE.MatchString(code):
		errs = append(errs, fmt.Errorf("%s: code: must be 1-40 letters, digits, _ or -", p))
	case seen[code]:
		errs = append(errs, fmt.Errorf("%s: code: duplicate", p))
	}
	seen[code] = true
	if name == "" {
		errs = append(errs, fmt.Errorf("%s: name: required", p))
	}
	return errs
}

// Category returns the category with the given service code.
func (c *Catalogue) Category(code string) (*Category, bool) {
	for i := range c.Services {
		if c.Services[i].Code == code {
			return &c.Services[i], true
		}
	}
	return nil, false
}

// Unit returns the unit responsible for this service in the given district, or the default unit.
func (s *Category) Unit(district string) string {
	if u := s.Units[district]; u != "" {
		return u
	}
	return s.Units[DefaultUnit]
}

// CheckAttributes validates submitted attribute values against the service definition: required
// attributes present, list values among the allowed keys, numbers and datetimes parseable. It returns
// every problem at once.
func (s *Category) CheckAttributes(got map[string][]string) error {
	var errs []error
	for _, a := range s.Attributes {
		vals := got[a.Code]
		if len(vals) == 0 || (len(vals) == 1 && vals[0] == "") {
			if a.Required {
				errs = append(errs, fmt.Errorf("attribute[%s]: required", a.Code))
			}
			continue
		}
		if a.Datatype != "multivaluelist" && len(vals) > 1 {
			errs = append(errs, fmt.Errorf("attribute[%s]: only one value allowed", a.Code))
		}
		for _, v := range vals {
			if err := a.check(v); err != nil {
				errs = append(errs, fmt.Errorf("attribute[%s]: %w", a.Code, err))
			}
		}
	}
	for code := range got {
		if !slices.ContainsFunc(s.Attributes, func(a Attribute) bool { return a.Code == code }) {
			errs = append(errs, fmt.Errorf("attribute[%s]: unknown attribute for service %s", code, s.Code))
		}
	}
	return errors.Join(errs...)
}

func (a *Attribute) check(v string) error {
	switch a.Datatype {
	case "number":
		var f float64
		if _, err := fmt.Sscan(v, &f); err != nil {
			return fmt.Errorf("%q is not a number", v)
		}
	case "datetime":
		if _, err := time.Parse(time.RFC3339, v); err != nil {
			return fmt.Errorf("%q is not an ISO 8601 datetime with offset", v)
		}
	case "singlevaluelist", "multivaluelist":
		if !slices.ContainsFunc(a.Values, func(x Value) bool { return x.Key == v }) {
			return fmt.Errorf("%q is not an allowed value", v)
		}
	}
	if len(v) > 1000 {
		return fmt.Errorf("value longer than 1000 bytes")
	}
	return nil
}
