package readkit

import (
	"strings"
	"sync"
)

// SanitizeName makes a name read from an image safe to serve: "/" and NUL
// become "_", and "", "." and ".." are refused (""). Other bytes are kept:
// Linux names are bytes.
func SanitizeName(s string) string {
	if s == "" || s == "." || s == ".." {
		return ""
	}
	if strings.ContainsAny(s, "/\x00") {
		b := []byte(s)
		for i, c := range b {
			if c == '/' || c == 0 {
				b[i] = '_'
			}
		}
		s = string(b)
	}
	return s
}

// DecodeCP437 decodes bytes of code page 437, the OEM code page of FAT's
// 8.3 names and labels (Linux's default codepage=437).
func DecodeCP437(b []byte) string {
	ascii := true
	for _, c := range b {
		if c >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return string(b)
	}
	r := make([]rune, len(b))
	for i, c := range b {
		if c < 0x80 {
			r[i] = rune(c)
		} else {
			r[i] = cp437[c-0x80]
		}
	}
	return string(r)
}

// cp437 is the upper half of code page 437.
var cp437 = []rune("ÇüéâäàåçêëèïîìÄÅ" +
	"ÉæÆôöòûùÿÖÜ¢£¥₧ƒ" +
	"áíóúñÑªº¿⌐¬½¼¡«»" +
	"░▒▓│┤╡╢╖╕╣║╗╝╜╛┐" +
	"└┴┬├─┼╞╟╚╔╩╦╠═╬╧" +
	"╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀" +
	"αßΓπΣσµτΦΘΩδ∞φε∩" +
	"≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0")

// CP437Rune is the rune of byte c in code page 437.
func CP437Rune(c byte) rune {
	if c < 0x80 {
		return rune(c)
	}
	return cp437[c-0x80]
}

// CP437Byte is the byte of rune r in code page 437, false when it has none.
func CP437Byte(r rune) (byte, bool) {
	if r < 0x80 {
		return byte(r), true
	}
	b, ok := cp437Bytes()[r]
	return b, ok
}

var cp437Bytes = sync.OnceValue(func() map[rune]byte {
	m := make(map[rune]byte, 128)
	for i, r := range cp437 {
		m[r] = byte(0x80 + i)
	}
	return m
})
