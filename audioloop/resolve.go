package audioloop

import (
	"strconv"
	"strings"
)

// Resolve finds the device a person means by query among devs: an exact
// name, an index, an exact description (any case), then a unique part of a
// name or description (any case), such as "USB Mic". kind ("sink" or
// "source") is for the error message.
func Resolve(kind, query string, devs []Device) (Device, error) {
	match := func(f func(Device) bool) []Device {
		var out []Device
		for _, d := range devs {
			if f(d) {
				out = append(out, d)
			}
		}
		return out
	}
	q := strings.ToLower(strings.TrimSpace(query))
	steps := []func(Device) bool{
		func(d Device) bool { return d.Name == query },
		func(d Device) bool {
			n, err := strconv.ParseUint(query, 10, 32)
			return err == nil && uint64(d.Index) == n
		},
		func(d Device) bool { return q != "" && strings.ToLower(d.Description) == q },
		func(d Device) bool {
			return q != "" && (strings.Contains(strings.ToLower(d.Description), q) || strings.Contains(strings.ToLower(d.Name), q))
		},
	}
	for _, step := range steps {
		switch m := match(step); len(m) {
		case 0:
			continue
		case 1:
			return m[0], nil
		default:
			return Device{}, &DeviceError{Kind: kind, Query: query, Ambiguous: true, Candidates: m}
		}
	}
	return Device{}, &DeviceError{Kind: kind, Query: query, Candidates: devs}
}
