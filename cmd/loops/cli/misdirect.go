package cli

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
)

// redirect is what loops answers to a command that belongs to another
// loopback: the command probably meant, and why.
type redirect struct {
	meant string
	why   string
}

// misdirections maps "group word" (as typed) to the command meant. The
// three loopbacks share words (up, mount, on, status), so a word that is
// not a command of one group is often a command of another.
var misdirections = map[string]redirect{
	"loops net mount":    {"loops mount IMAGE [DIR]", "mounting an image uses a loop device, not the network loopback"},
	"loops net umount":   {"loops umount DIR", "loop devices are 'loops block', not the network loopback"},
	"loops net attach":   {"loops block attach IMAGE", "loop devices are 'loops block', not the network loopback"},
	"loops net detach":   {"loops block detach DEVICE", "loop devices are 'loops block', not the network loopback"},
	"loops net list":     {"loops net listeners (or loops block list for loop devices)", "'loops net' has no list; servers on lo are listeners"},
	"loops net probe":    {"loops block probe IMAGE", "probing images is about loop devices"},
	"loops net on":       {"loops audio on", "echoing a microphone to the speakers is the audio loopback"},
	"loops net off":      {"loops audio off", "the audio loopback is 'loops audio'"},
	"loops block up":     {"loops net up", "up and down are for the network interface lo; loop devices are attached, not brought up"},
	"loops block down":   {"loops net down", "up and down are for the network interface lo"},
	"loops block status": {"loops block list", "loop devices are listed; 'loops net status' is the network loopback"},
	"loops block check":  {"loops net check", "the doctor is for the network loopback"},
	"loops block addr":   {"loops net addr", "addresses belong to the network interface lo"},
	"loops block mount":  {"loops mount IMAGE [DIR]", "mount is a top-level command"},
	"loops block umount": {"loops umount DIR", "umount is a top-level command"},
	"loops block on":     {"loops audio on", "the audio loopback is 'loops audio'"},
	"loops block off":    {"loops audio off", "the audio loopback is 'loops audio'"},
	"loops audio up":     {"loops net up", "up and down are for the network interface lo"},
	"loops audio down":   {"loops net down", "up and down are for the network interface lo"},
	"loops audio mount":  {"loops mount IMAGE [DIR]", "mounting images uses loop devices"},
	"loops audio list":   {"loops audio status (or loops audio sources / sinks)", "'loops audio' lists loopbacks in status"},
	"loops loopback":     {"loops explain", "loopback means three different things; 'loops explain' tells them apart"},
	"loops lo":           {"loops net status", "lo is the network loopback interface"},
	"loops localhost":    {"loops net check", "whether localhost works is checked by 'loops net check'"},
	"loops up":           {"loops net up", "up brings the network interface lo up"},
	"loops down":         {"loops net down", "down takes the network interface lo down"},
	"loops on":           {"loops audio on", "on starts the audio loopback"},
	"loops off":          {"loops audio off", "off stops the audio loopback"},
	"loops attach":       {"loops block attach IMAGE", "loop devices are 'loops block'"},
	"loops detach":       {"loops block detach DEVICE", "loop devices are 'loops block'"},
	"loops list":         {"loops status", "each loopback has its own list; 'loops status' shows all three"},
	"loops ls":           {"loops status", "each loopback has its own list; 'loops status' shows all three"},
	"loops losetup":      {"loops block", "loop devices are 'loops block'"},
	"loops iso":          {"loops mount IMAGE.iso [DIR]", "ISO images are mounted with loops mount"},
}

// misdirected returns the redirect for `path word`, if there is one.
func misdirected(path, word string) (redirect, bool) {
	r, ok := misdirections[path+" "+strings.ToLower(word)]
	return r, ok
}

// mountTargetMisdirected catches `loops mount lo` and friends: an image
// argument that is a network name rather than a file.
func mountTargetMisdirected(image string) (redirect, bool) {
	if _, err := os.Stat(image); err == nil {
		return redirect{}, false
	}
	switch strings.ToLower(image) {
	case "lo", "lo0", "localhost", "loopback":
		return redirect{"loops net status", fmt.Sprintf("%q is the network loopback, which is not mounted; loops mount takes an image file", image)}, true
	}
	if a, err := netip.ParseAddr(image); err == nil && a.IsLoopback() {
		return redirect{"loops net check", fmt.Sprintf("%s is a loopback address, not an image file", image)}, true
	}
	return redirect{}, false
}
