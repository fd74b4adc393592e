// Package audioloop will manage the sound server's module-loopback, which
// echoes a source to a sink, like `pactl load-module module-loopback`. It is
// not the network loopback (package netloop).
package audioloop
