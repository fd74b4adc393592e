#!/bin/bash
# Time `loops audio on`+`off` against `pactl load-module module-loopback`+
# `pactl unload-module` on a private PulseAudio and a private PipeWire
# (started here, own runtime dirs, stopped at exit), and append a section to
# docs/benchmarks.md. usage: docs/bench-audio.sh [path/to/loops] [runs]
set -eu
LOOPS=$(realpath "${1:-bin/loops}"); RUNS=${2:-30}
OUT=$(dirname "$0")/benchmarks.md
W=$(mktemp -d); trap 'kill $(cat $W/pids 2>/dev/null) 2>/dev/null; sleep 0.3; rm -rf $W' EXIT
start_pa() {
  D=$W/pa; mkdir -p $D/run $D/home/.config/pulse; echo 'autospawn = no' > $D/home/.config/pulse/client.conf
  export XDG_RUNTIME_DIR=$D/run HOME=$D/home XDG_CONFIG_HOME=$D/home/.config
  pulseaudio -n --daemonize=no --exit-idle-time=-1 --use-pid-file=no --load=module-native-protocol-unix \
    --load="module-null-sink sink_name=a" --load="module-null-sink sink_name=b" >$D/log 2>&1 & echo $! >> $W/pids
  until pactl info >/dev/null 2>&1; do sleep 0.02; done
}
start_pw() {
  D=$W/pw; mkdir -p $D/run $D/state $D/config/wireplumber/main.lua.d $D/config/wireplumber/bluetooth.lua.d $D/config/pulse
  printf 'alsa_monitor.enabled = false\ndefault_access.properties["enable-flatpak-portal"] = false\n' > $D/config/wireplumber/main.lua.d/51-headless.lua
  echo 'bluez_monitor.enabled = false' > $D/config/wireplumber/bluetooth.lua.d/51-headless.lua
  echo 'autospawn = no' > $D/config/pulse/client.conf
  export XDG_RUNTIME_DIR=$D/run XDG_STATE_HOME=$D/state XDG_CONFIG_HOME=$D/config HOME=$D; unset DBUS_SESSION_BUS_ADDRESS
  pipewire >$D/pw.log 2>&1 & echo $! >> $W/pids
  while [ ! -S $D/run/pipewire-0 ]; do sleep 0.02; done
  wireplumber >$D/wp.log 2>&1 & echo $! >> $W/pids
  pipewire-pulse >$D/pp.log 2>&1 & echo $! >> $W/pids
  until pactl info >/dev/null 2>&1; do sleep 0.02; done
  pactl load-module module-null-sink sink_name=a >/dev/null; pactl load-module module-null-sink sink_name=b >/dev/null
}
bench() {
  hyperfine -N -w 3 -r "$RUNS" --export-markdown $W/$1.md \
    -n "loops audio on + off" "sh -c '$LOOPS audio on --source a.monitor --sink b --latency 50ms 2>/dev/null && $LOOPS audio off 2>/dev/null'" \
    -n "pactl load-module + unload-module" "sh -c 'pactl unload-module \$(pactl load-module module-loopback source=a.monitor sink=b latency_msec=50)'" >/dev/null
  echo "### $2"; echo; cat $W/$1.md; echo
}
{
  echo; echo "## loops audio on+off vs pactl (module-loopback)"; echo
  echo "$(date -u +%F), $(nproc) CPUs; private servers with two null sinks; each run loads a.monitor→b at 50 ms and unloads it (\`sh -c\` wraps both tools alike)."; echo
  start_pa; bench pa "PulseAudio $(pulseaudio --version | cut -d' ' -f2)"
  kill $(cat $W/pids); sleep 0.3; : > $W/pids
  start_pw; bench pw "PipeWire $(pipewire --version | sed -n 's/.*libpipewire //p' | head -1)"
} | tee -a "$OUT"
