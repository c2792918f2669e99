package playbook

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Entry is one playbook entry.
type Entry struct {
	Name        string
	Description string
	Params      []Param
	// SQL is the statement as written, with :name placeholders.
	SQL string
	// Source is "built-in" or the file the entry was read from.
	Source string

	query string   // SQL with $n::type placeholders
	order []string // the parameter of each $n
}

// Param is a declared parameter of an entry.
type Param struct {
	Name        string
	Type        string
	Default     string
	Required    bool // no default: the caller must give it
	Description string
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

// parseEntry reads an entry: the header (the leading comment lines), then
// one SQL statement. name is the file's name without .sql.
func parseEntry(name, source, text string) (*Entry, error) {
	e := &Entry{Name: name, Source: source}
	lines := strings.Split(text, "\n")
	body := 0
	for ; body < len(lines); body++ {
		line := strings.TrimSpace(lines[body])
		if !strings.HasPrefix(line, "--") {
			break
		}
		line = strings.ReplaceAll(strings.TrimPrefix(line, "--"), "\t", " ")
		if err := e.headerLine(strings.TrimSpace(line)); err != nil {
			return nil, fmt.Errorf("%s: line %d: %w", source, body+1, err)
		}
	}
	e.SQL = strings.TrimSpace(strings.Join(lines[body:], "\n"))
	e.SQL = strings.TrimSpace(strings.TrimSuffix(e.SQL, ";"))
	if err := e.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return e, nil
}

// headerLine reads one "key: value" line; other comments are allowed.
func (e *Entry) headerLine(line string) error {
	key, value, ok := strings.Cut(line, ":")
	if !ok || strings.ContainsAny(key, " \t") {
		return nil
	}
	value = strings.TrimSpace(value)
	switch key {
	case "name":
		if value != e.Name {
			return fmt.Errorf("name %q must be the file's name, %q", value, e.Name)
		}
	case "description":
		e.Description = strings.TrimSpace(e.Description + " " + value)
	case "param":
		p, err := parseParam(value)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(e.Params, func(q Param) bool { return q.Name == p.Name }) {
			return fmt.Errorf("param %q is declared twice", p.Name)
		}
		e.Params = append(e.Params, p)
	}
	return nil
}

// parseParam reads "NAME TYPE [default=VALUE] DESCRIPTION"; VALUE may be
// quoted like a Go string, and may be empty.
func parseParam(s string) (Param, error) {
	name, rest := cutField(s)
	typ, rest := cutField(rest)
	if typ == "" {
		return Param{}, fmt.Errorf("param %q: want NAME TYPE [default=VALUE] DESCRIPTION", s)
	}
	p := Param{Name: name, Type: typ, Required: true}
	if !isName(p.Name) {
		return p, fmt.Errorf("param name %q: use letters, digits and _", p.Name)
	}
	if _, ok := lookupType(p.Type); !ok {
		return p, fmt.Errorf("param %s: unknown type %q (known: %s, each also as a list like text[])",
			p.Name, p.Type, strings.Join(slices.Sorted(maps.Keys(Types)), ", "))
	}
	if after, ok := strings.CutPrefix(rest, "default="); ok {
		def, tail, err := cutValue(after)
		if err != nil {
			return p, fmt.Errorf("param %s: default: %w", p.Name, err)
		}
		p.Default, p.Required, rest = def, false, tail
	}
	p.Description = strings.TrimSpace(rest)
	return p, nil
}

// cutField splits the first space-separated field from the rest.
func cutField(s string) (string, string) {
	f, rest, _ := strings.Cut(strings.TrimSpace(s), " ")
	return f, strings.TrimSpace(rest)
}

// cutValue splits a value (up to a space, or Go-quoted) from what follows.
func cutValue(s string) (string, string, error) {
	if strings.HasPrefix(s, `"`) {
		q, err := strconv.QuotedPrefix(s)
		if err != nil {
			return "", "", fmt.Errorf("unterminated quoted value")
		}
		v, _ := strconv.Unquote(q)
		return v, s[len(q):], nil
	}
	v, tail, _ := strings.Cut(s, " ")
	return v, tail, nil
}

func isName(s string) bool {
	if s == "" || !isNameStart(s[0]) {
		return false
	}
	for i := range len(s) {
		if !isNameByte(s[i]) {
			return false
		}
	}
	return true
}

// check validates the entry: a description, a statement, every :name
// declared and every declared parameter used, defaults of the right type.
func (e *Entry) check() error {
	switch {
	case !nameRE.MatchString(e.Name):
		return fmt.Errorf("entry name %q: use lower-case letters, digits, - and _", e.Name)
	case e.Description == "":
		return fmt.Errorf("entry %s has no description line", e.Name)
	case e.SQL == "":
		return fmt.Errorf("entry %s has no statement", e.Name)
	}
	var err error
	e.query, e.order, err = positional(e.SQL, e.pgType)
	if err != nil {
		return fmt.Errorf("entry %s: %w", e.Name, err)
	}
	for _, p := range e.Params {
		if !slices.Contains(e.order, p.Name) {
			return fmt.Errorf("entry %s: param %s is declared but not used", e.Name, p.Name)
		}
		if !p.Required {
			if _, err := p.parse(p.Default, Clock{Now: time.Now(), Zone: time.UTC}); err != nil {
				return fmt.Errorf("entry %s: default of %s: %w", e.Name, p.Name, err)
			}
		}
	}
	return nil
}

func (e *Entry) pgType(name string) (string, bool) {
	for _, p := range e.Params {
		if p.Name == name {
			t, _ := lookupType(p.Type)
			return t.pgType, true
		}
	}
	return "", false
}

// Help describes the parameter's type for people.
func (p Param) Help() string {
	t, _ := lookupType(p.Type)
	return t.help
}

func (p Param) parse(s string, c Clock) (any, error) {
	t, _ := lookupType(p.Type)
	return t.parse(s, c)
}

// Query is an entry bound to its parameter values, ready to run.
type Query struct {
	Entry *Entry
	SQL   string
	Args  []any
}

// Bind checks the given values (name -> value as typed on the command
// line), fills in defaults, and returns the query with its arguments in $n
// order. Errors wrap ErrParam.
func (e *Entry) Bind(values map[string]string, c Clock) (Query, error) {
	for _, name := range slices.Sorted(maps.Keys(values)) {
		if _, ok := e.pgType(name); !ok {
			return Query{}, fmt.Errorf("%w: %s has no parameter %q (it has: %s)", ErrParam, e.Name, name, e.paramNames())
		}
	}
	args := make([]any, len(e.order))
	for i, name := range e.order {
		p := e.param(name)
		raw, given := values[name]
		if !given && p.Required {
			return Query{}, fmt.Errorf("%w: %s needs --param %s=<%s>", ErrParam, e.Name, name, p.Type)
		}
		if !given {
			raw = p.Default
		}
		v, err := p.parse(raw, c)
		if err != nil {
			return Query{}, fmt.Errorf("%w: %s: %v", ErrParam, name, err)
		}
		args[i] = v
	}
	return Query{Entry: e, SQL: e.query, Args: args}, nil
}

func (e *Entry) param(name string) Param {
	i := slices.IndexFunc(e.Params, func(p Param) bool { return p.Name == name })
	return e.Params[i]
}

func (e *Entry) paramNames() string {
	if len(e.Params) == 0 {
		return "none"
	}
	names := make([]string, len(e.Params))
	for i, p := range e.Params {
		names[i] = p.Name
	}
	return strings.Join(names, ", ")
}
