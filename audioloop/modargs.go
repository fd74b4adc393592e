package audioloop

import (
	"fmt"
	"strings"
)

// ParseModuleArgs splits module arguments (key=value key2="a b" key3='x')
// the way PulseAudio's pa_modargs does: a value is bare up to white space,
// or in double or single quotes; a backslash takes the next character
// literally.
func ParseModuleArgs(s string) (map[string]string, error) {
	out := map[string]string{}
	i := 0
	for {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i >= len(s) {
			return out, nil
		}
		eq := strings.IndexByte(s[i:], '=')
		if eq < 0 {
			return out, fmt.Errorf("module arguments: %q has no '='", s[i:])
		}
		key := s[i : i+eq]
		if key == "" || strings.IndexFunc(key, func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' }) >= 0 {
			return out, fmt.Errorf("module arguments: bad key %q", key)
		}
		i += eq + 1
		var val strings.Builder
		var end byte // 0: bare
		if i < len(s) && (s[i] == '"' || s[i] == '\'') {
			end = s[i]
			i++
		}
		closed := end == 0
		for i < len(s) {
			ch := s[i]
			if end == 0 && isSpace(ch) {
				break
			}
			if end != 0 && ch == end {
				i++
				closed = true
				break
			}
			if ch == '\\' && i+1 < len(s) {
				val.WriteByte(s[i+1])
				i += 2
				continue
			}
			val.WriteByte(ch)
			i++
		}
		if !closed {
			return out, fmt.Errorf("module arguments: unterminated quote in %s", key)
		}
		out[key] = val.String()
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// QuoteModuleArg quotes v as one module-argument value so that PulseAudio
// (pa_modargs) and pipewire-pulse both read back exactly v. A plain value
// stays bare; otherwise it is put in the quote character it does not
// contain. pipewire-pulse keeps backslashes, PulseAudio removes them, so a
// value with both kinds of quote, a backslash, or a control character has no
// common spelling: ErrUnquotable.
func QuoteModuleArg(v string) (string, error) {
	if strings.ContainsAny(v, "\\") {
		return "", fmt.Errorf("%w: %q contains a backslash", ErrUnquotable, v)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return "", fmt.Errorf("%w: %q contains a control character", ErrUnquotable, v)
		}
	}
	if v != "" && !strings.ContainsAny(v, " \"'=") {
		return v, nil
	}
	switch {
	case !strings.Contains(v, `"`):
		return `"` + v + `"`, nil
	case !strings.Contains(v, `'`):
		return `'` + v + `'`, nil
	}
	return "", fmt.Errorf("%w: %q contains both kinds of quote", ErrUnquotable, v)
}
