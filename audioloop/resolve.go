package audioloop

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

var (
	// ErrNoDevice: no sink or source matches the name, index or description
	// given, or there is no default one.
	ErrNoDevice = errors.New("no such device")
	// ErrAmbiguous: several devices match a part of a description.
	ErrAmbiguous = errors.New("ambiguous device")
)

// DeviceError is a failed lookup of a sink or source; Candidates holds the
// matches of an ambiguous query, or every device of the kind when none
// matched. It matches ErrNoDevice or ErrAmbiguous.
type DeviceError struct {
	Kind       string // "sink" or "source"
	Query      string
	Ambiguous  bool
	Candidates []Device
}

func (e *DeviceError) Error() string {
	switch {
	case e.Ambiguous:
		return fmt.Sprintf("%q matches %d %ss", e.Query, len(e.Candidates), e.Kind)
	case e.Query == "":
		return fmt.Sprintf("no default %s", e.Kind)
	}
	return fmt.Sprintf("no %s %q (by name, index or description)", e.Kind, e.Query)
}

func (e *DeviceError) Is(target error) bool {
	return (target == ErrAmbiguous && e.Ambiguous) || (target == ErrNoDevice && !e.Ambiguous)
}

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
