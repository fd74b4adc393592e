#!/bin/sh
# A tour of loops in a fresh network namespace: nothing on the host changes.
# Usage: docs/demo.sh bin/loops   (as root; `make demo` runs it)
set -eu
LOOPS=$(realpath "${1:-bin/loops}")
if [ "$(id -u)" != 0 ]; then
	echo "The demo makes its own network namespace, which needs root: sudo make demo" >&2
	exit 1
fi
NS=loops-demo-$$
TMP=$(mktemp -d)
SERVER=
cleanup() {
	[ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true
	ip netns del "$NS" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM PIPE HUP
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { step "$*"; "$@" || true; }

ip netns add "$NS"
cp /etc/hosts "$TMP/hosts"
export LOOPS_FORCE_TTY=1

echo "== loops net: the network loopback interface lo, in a fresh namespace ($NS) =="
echo "A new network namespace starts with lo DOWN and no address at all."
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
run "$LOOPS" net status --netns "$NS"
run "$LOOPS" net listeners --netns "$NS"
run "$LOOPS" net check --netns "$NS" --hosts-file "$TMP/hosts"
echo
echo "Now a hosts file that puts ::1 first, as many distributions do: libc programs try ::1"
echo "first, and a client that does not fall back (Node before 20) gets ECONNREFUSED ::1:8631."
printf '::1\tlocalhost ip6-localhost\n127.0.0.1\tlocalhost\n' > "$TMP/hosts6"
run "$LOOPS" net check --netns "$NS" --hosts-file "$TMP/hosts6"
run "$LOOPS" net listeners --netns "$NS" --json
echo
echo "Done: namespace $NS and its lo are removed; the host's lo was only read."
