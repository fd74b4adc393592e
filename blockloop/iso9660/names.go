package iso9660

import "fmt"

// NameMap says how the names of a tree without Rock Ridge or Joliet names
// are shown, as the kernel's isofs option map= does.
type NameMap int

const (
	// MapNormal shows names as the kernel does by default (map=normal):
	// lower case, a final ";1" or ".;1" dropped, other ';' as '.'
	// ("README.TXT;1" is "readme.txt", "README.;1" is "readme").
	MapNormal NameMap = iota
	// MapOff shows names as stored ("README.TXT;1"), as map=off does.
	MapOff
)

func (m NameMap) String() string {
	if m == MapOff {
		return "off"
	}
	return "normal"
}

// ParseNameMap reads a value of the kernel's isofs option map=: "normal"
// (or "n") and "off" (or "o"); "acorn" is not supported.
func ParseNameMap(s string) (NameMap, error) {
	switch s {
	case "normal", "n":
		return MapNormal, nil
	case "off", "o":
		return MapOff, nil
	}
	return MapNormal, fmt.Errorf("iso9660: map=%s: only map=normal and map=off are supported", s)
}

// Show is ISO 9660 identifier s as m shows it (the kernel's
// isofs_name_translate for map=normal).
func (m NameMap) Show(s string) string {
	if m == MapOff {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == 0 {
			break
		}
		if c >= 'A' && c <= 'Z' {
			c |= 0x20
		}
		if c == '.' && i == len(s)-3 && s[i+1] == ';' && s[i+2] == '1' {
			break
		}
		if c == ';' && i == len(s)-2 && s[i+1] == '1' {
			break
		}
		if c == ';' || c == '/' {
			c = '.'
		}
		b = append(b, c)
	}
	return string(b)
}
