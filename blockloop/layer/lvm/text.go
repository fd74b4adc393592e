package lvm

import (
	"fmt"
	"strconv"
)

// The parser's bounds, beyond the text's own size (MaxMetadataSize).
const (
	// MaxDepth is the deepest nesting of sections (lvm2 writes 4:
	// VG, logical_volumes, LV, segment).
	MaxDepth = 8
	// MaxItems bounds the assignments and sections in the whole text and
	// the elements of one array.
	MaxItems = 1 << 20
)

// A value in the text format: a string, a number or an array of them.
type value struct {
	str    string
	num    int64
	isNum  bool
	list   []value
	isList bool
	line   int
}

// A section: name { key = value ... subsection { ... } }.
type section struct {
	name     string
	line     int
	values   map[string]value
	sections []*section
}

func (s *section) sub(name string) *section {
	for _, c := range s.sections {
		if c.name == name {
			return c
		}
	}
	return nil
}

// parser reads lvm2's text format (lib/config): assignments, sections and
// flat arrays of strings and numbers; '#' starts a comment.
type parser struct {
	b     []byte
	p     int
	line  int
	count int
}

func parseText(b []byte) (*section, error) {
	ps := &parser{b: b, line: 1}
	root := &section{line: 1}
	if err := ps.items(root, 0); err != nil {
		return nil, err
	}
	if ps.p < len(ps.b) {
		return nil, ps.errf("unexpected %q", ps.b[ps.p])
	}
	return root, nil
}

func (ps *parser) errf(format string, args ...any) error {
	return &FormatError{Offset: -1, Line: ps.line, What: fmt.Sprintf(format, args...)}
}

// skip skips white space and comments.
func (ps *parser) skip() {
	for ps.p < len(ps.b) {
		switch c := ps.b[ps.p]; c {
		case '\n':
			ps.line++
			ps.p++
		case ' ', '\t', '\r', '\f', '\v', 0:
			ps.p++
		case '#':
			for ps.p < len(ps.b) && ps.b[ps.p] != '\n' {
				ps.p++
			}
		default:
			return
		}
	}
}

func isIdentByte(c byte) bool {
	switch c {
	case '{', '}', '[', ']', '=', ',', '"', '#', ' ', '\t', '\r', '\n', '\f', '\v', 0:
		return false
	}
	return c > 0x20 && c < 0x7f
}

// items parses assignments and sections into s until '}' or the end.
func (ps *parser) items(s *section, depth int) error {
	for {
		ps.skip()
		if ps.p >= len(ps.b) || ps.b[ps.p] == '}' {
			return nil
		}
		start := ps.p
		for ps.p < len(ps.b) && isIdentByte(ps.b[ps.p]) {
			ps.p++
		}
		if ps.p == start {
			return ps.errf("expected a name, found %q", ps.b[ps.p])
		}
		name, line := string(ps.b[start:ps.p]), ps.line
		if ps.count++; ps.count > MaxItems {
			return ps.errf("more than %d items", MaxItems)
		}
		ps.skip()
		if ps.p >= len(ps.b) {
			return ps.errf("%s: unexpected end of text", name)
		}
		switch ps.b[ps.p] {
		case '=':
			ps.p++
			v, err := ps.value(true)
			if err != nil {
				return err
			}
			if s.values == nil {
				s.values = map[string]value{}
			}
			if _, dup := s.values[name]; dup {
				return ps.errf("%s set twice", name)
			}
			s.values[name] = v
		case '{':
			ps.p++
			if depth+1 > MaxDepth {
				return ps.errf("sections nested deeper than %d", MaxDepth)
			}
			if s.sub(name) != nil {
				return ps.errf("section %s appears twice", name)
			}
			c := &section{name: name, line: line}
			if err := ps.items(c, depth+1); err != nil {
				return err
			}
			if ps.p >= len(ps.b) {
				return ps.errf("section %s (line %d) is not closed", name, line)
			}
			ps.p++ // '}'
			s.sections = append(s.sections, c)
		default:
			return ps.errf("%s: expected = or {, found %q", name, ps.b[ps.p])
		}
	}
}

// value parses a string, a number or (when array) a flat array.
func (ps *parser) value(array bool) (value, error) {
	ps.skip()
	if ps.p >= len(ps.b) {
		return value{}, ps.errf("expected a value, found the end of text")
	}
	v := value{line: ps.line}
	switch c := ps.b[ps.p]; {
	case c == '"':
		s, err := ps.str()
		v.str = s
		return v, err
	case c == '-' || c >= '0' && c <= '9':
		start := ps.p
		ps.p++
		for ps.p < len(ps.b) && ps.b[ps.p] >= '0' && ps.b[ps.p] <= '9' {
			ps.p++
		}
		n, err := strconv.ParseInt(string(ps.b[start:ps.p]), 10, 64)
		if err != nil {
			return v, ps.errf("number %.30s: out of range or malformed", ps.b[start:ps.p])
		}
		v.num, v.isNum = n, true
		return v, nil
	case c == '[' && array:
		ps.p++
		v.isList = true
		for {
			ps.skip()
			if ps.p < len(ps.b) && ps.b[ps.p] == ']' {
				ps.p++
				return v, nil
			}
			if len(v.list) > 0 {
				if ps.p >= len(ps.b) || ps.b[ps.p] != ',' {
					return v, ps.errf("array: expected , or ]")
				}
				ps.p++
			}
			if len(v.list) == MaxItems {
				return v, ps.errf("array of more than %d elements", MaxItems)
			}
			e, err := ps.value(false)
			if err != nil {
				return v, err
			}
			v.list = append(v.list, e)
		}
	default:
		return v, ps.errf("expected a value, found %q", c)
	}
}

// str parses a double-quoted string; a backslash escapes the next byte.
func (ps *parser) str() (string, error) {
	line := ps.line
	ps.p++
	var out []byte
	for ps.p < len(ps.b) {
		c := ps.b[ps.p]
		ps.p++
		switch c {
		case '"':
			return string(out), nil
		case '\\':
			if ps.p < len(ps.b) {
				c = ps.b[ps.p]
				ps.p++
			}
		case '\n':
			ps.line++
		}
		out = append(out, c)
	}
	return "", &FormatError{Offset: -1, Line: line, What: "string is not closed"}
}
