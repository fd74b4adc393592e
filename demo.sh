#!/bin/sh
# A tour of the three loopbacks that needs no sound card and no spare disk,
# and touches nothing on the host: its own network namespace, its own images
# and mount points in a temporary directory, its own sound server.
# Usage: demo.sh bin/loops   (as root; `make demo` runs it)
set -eu
LOOPS=$(realpath "${1:-bin/loops}")
if [ "$(id -u)" != 0 ]; then
	echo "The demo makes a network namespace and mounts images, which needs root: sudo make demo" >&2
	exit 1
fi
NS=loops-demo-$$
TMP=$(mktemp -d /tmp/loops-demo.XXXXXX)
SERVER= PULSE=
cleanup() {
	trap - EXIT INT TERM PIPE HUP
	[ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null
	for m in "$TMP"/mnt/* "$TMP"/media/*; do
		[ -d "$m" ] && "$LOOPS" umount "$m" >/dev/null 2>&1 || true
	done
	[ -n "$PULSE" ] && kill "$PULSE" 2>/dev/null && wait "$PULSE" 2>/dev/null
	ip netns del "$NS" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM PIPE HUP
step() { printf '\n\033[1m$ %s\033[0m\n' "$*" | sed "s|$LOOPS|loops|; s|$TMP|\$DEMO|g"; }
run() { step "$*"; "$@" || true; }
title() { printf '\n\033[1;4m%s\033[0m\n' "$*"; }
export LOOPS_FORCE_TTY=1 LOOPS_MEDIA_DIR="$TMP/media"
mkdir -p "$TMP/mnt" "$TMP/media" "$TMP/src/docs"

title "1. net: the network loopback interface lo, in a fresh namespace"
echo "A new network namespace ($NS) starts with lo DOWN and no address at all."
ip netns add "$NS"
cp /etc/hosts "$TMP/hosts"
run "$LOOPS" net status --netns "$NS"
run "$LOOPS" net check --netns "$NS" --hosts-file "$TMP/hosts"
run "$LOOPS" net up --netns "$NS"
run "$LOOPS" net addr add 127.0.0.2 --label lo:2 --netns "$NS"
if command -v python3 >/dev/null; then
	echo
	echo "A server bound to 127.0.0.1:8631 only, like CUPS on 127.0.0.1:631:"
	ip netns exec "$NS" python3 -m http.server --bind 127.0.0.1 8631 >/dev/null 2>&1 &
	SERVER=$!
	sleep 0.5
fi
run "$LOOPS" net listeners --netns "$NS"
echo
echo "With a hosts file that puts ::1 first, libc programs try ::1 first, and a client that"
echo "does not fall back (Node before 20) gets ECONNREFUSED ::1:8631:"
printf '::1\tlocalhost ip6-localhost\n127.0.0.1\tlocalhost\n' > "$TMP/hosts6"
run "$LOOPS" net check --netns "$NS" --hosts-file "$TMP/hosts6"

title "2. block: loop devices, and an ISO this kernel cannot mount"
echo "Two images made here: an ext4 disk image and an ISO 9660 image."
echo "Hello from an ISO image" > "$TMP/src/README.txt"
echo "notes" > "$TMP/src/docs/notes.txt"
ln -s README.txt "$TMP/src/readme-link"
mkfs.ext4 -q -L "Demo Disk" -d "$TMP/src" "$TMP/disk.img" 16M
xorriso -as mkisofs -quiet -R -J -V DEMO_ISO -o "$TMP/image.iso" "$TMP/src" 2>/dev/null
run "$LOOPS" block probe "$TMP/image.iso"
run "$LOOPS" mount "$TMP/image.iso" "$TMP/mnt/iso"
run ls -l "$TMP/mnt/iso"
run cat "$TMP/mnt/iso/README.txt"
run "$LOOPS" mount "$TMP/disk.img"
run "$LOOPS" block list
run "$LOOPS" umount "$TMP/disk.img"

title "3. audio: the sound server's loopback, on a private server with two null sinks"
if command -v pulseaudio >/dev/null; then
	R="$TMP/pulse"
	mkdir -p "$R/run" "$R/home/.config/pulse"
	echo "autospawn = no" > "$R/home/.config/pulse/client.conf"
	cat > "$R/home/.config/pulse/default.pa" <<'PA'
load-module module-native-protocol-unix
load-module module-null-sink sink_name=mic sink_properties="device.description='Demo Microphone'"
load-module module-null-sink sink_name=speakers sink_properties="device.description='Demo Speakers'"
set-default-sink speakers
PA
	export XDG_RUNTIME_DIR="$R/run" HOME="$R/home" XDG_CONFIG_HOME="$R/home/.config" \
		PULSE_SERVER="unix:$R/run/pulse/native" PULSE_COOKIE="$R/home/.config/pulse/cookie" DBUS_SESSION_BUS_ADDRESS=
	pulseaudio --daemonize=no --exit-idle-time=-1 --use-pid-file=no --log-target=stderr >"$TMP/pulse.log" 2>&1 &
	PULSE=$!
	for i in $(seq 100); do [ -S "$R/run/pulse/native" ] && break; sleep 0.05; done
	run "$LOOPS" audio sinks
	run "$LOOPS" audio on --source mic.monitor --sink speakers --latency 50ms
	run "$LOOPS" audio on --source mic.monitor --sink speakers --latency 50ms
	run "$LOOPS" audio status
else
	echo "(pulseaudio is not installed: make deps installs it)"
fi

title "4. all three together (the ISO is still mounted, the audio loopback on)"
run "$LOOPS" status
run "$LOOPS"
run "$LOOPS" umount "$TMP/mnt/iso"
[ -n "$PULSE" ] && run "$LOOPS" audio off

echo
echo "Done: the namespace, the images, the mounts and the sound server are gone; the host was only read."
