#!/usr/bin/env bash
# `skylark bench` as the README's figures were made: when this machine has no audio device (no
# PulseAudio server, no ALSA card), a private PulseAudio server with null sinks stands in for
# the microphone (its `vmic.monitor`) and the speaker, so idle listening is measured too; it is
# stopped by its pid file at the end. Arguments go to `skylark bench`, e.g.
#   scripts/bench.sh --chart docs/bench.svg --out docs/bench.json
# Needs the release build and the models (scripts/setup.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bin=$SKYLARK_ROOT/target/release/skylark
[ -x "$bin" ] || die "no $bin: run scripts/setup.sh first"

has_audio() {
  local sock=${PULSE_SERVER:-}; sock=${sock#unix:}
  [ -n "${PULSE_SERVER:-}" ] && [ -S "$sock" ] && return 0
  [ -n "${XDG_RUNTIME_DIR:-}" ] && [ -S "$XDG_RUNTIME_DIR/pulse/native" ] && return 0
  grep -qv 'no soundcards' /proc/asound/cards 2>/dev/null && [ -s /proc/asound/cards ]
}

if ! has_audio; then
  # The models and the config stay where they are when HOME moves for PulseAudio.
  export SKYLARK_MODELS_DIR=${SKYLARK_MODELS_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/skylark/models}
  export XDG_CONFIG_HOME=${XDG_CONFIG_HOME:-$HOME/.config}
  dir=$(mktemp -d)
  run=$dir/run
  mkdir -p "$run" "$dir/home"
  chmod 700 "$run"
  export HOME=$dir/home XDG_RUNTIME_DIR=$run PULSE_RUNTIME_PATH=$run PULSE_SERVER=unix:$run/native
  stop_pulse() {
    [ -f "$run/pid" ] && kill "$(cat "$run/pid")" 2>/dev/null || true
    rm -rf "$dir"
  }
  trap stop_pulse EXIT
  pulseaudio -n --daemonize=yes --exit-idle-time=-1 --disallow-exit --use-pid-file=yes \
    -L "module-native-protocol-unix socket=$run/native auth-anonymous=1" \
    -L "module-null-sink sink_name=vmic rate=16000 channels=1" \
    -L "module-null-sink sink_name=speaker" \
    || die "pulseaudio did not start (apt-get install pulseaudio)"
  for _ in $(seq 50); do pactl info >/dev/null 2>&1 && break; sleep 0.1; done
  pactl set-default-sink speaker >/dev/null
  pactl set-default-source vmic.monitor >/dev/null
  say "no audio device: a private PulseAudio server (null sinks) stands in, at $PULSE_SERVER"
fi
say "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
nice "$bin" bench "$@"
