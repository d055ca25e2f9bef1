#!/usr/bin/env bash
# Resident memory of `skylark daemon` on its first start (fresh cache directory) against later
# starts on the same cache, and with parts of the cache removed: where the quick bench's RSS
# (a first start) and the full bench's (a third start) part ways (README, "Start-up and
# memory"). Private session bus, no audio device; each start: wait for the name, 25 s for the
# background loads, three `Recognize` calls, then VmRSS / RssAnon / RssFile.
# Needs the release build and the models (scripts/setup.sh).
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/target/release/skylark
[ -x "$bin" ] || { echo "no $bin: run scripts/setup.sh first" >&2; exit 1; }
w=$(mktemp -d)
export XDG_CACHE_HOME=$w/cache XDG_STATE_HOME=$w/state
read -r addr buspid < <(dbus-daemon --session --print-address=1 --print-pid=1 --fork | tr '\n' ' ')
export DBUS_SESSION_BUS_ADDRESS=$addr
trap 'kill "$buspid" 2>/dev/null; rm -rf "$w"' EXIT
one() {
  "$bin" daemon >"$w/log" 2>&1 &
  local pid=$!
  for _ in $(seq 600); do busctl --user status io.skylark.Assistant1 >/dev/null 2>&1 && break; sleep 0.1; done
  sleep 25
  for q in "turn on the air conditioning" "I'm starving, anything good to eat around" "who wrote hamlet"; do
    busctl --user call io.skylark.Assistant1 /io/skylark/Assistant1 io.skylark.Assistant1 \
      Recognize "sa{sv}" "$q" 1 language s en >/dev/null 2>&1
  done
  sleep 3
  echo "$1: $(grep -E 'VmRSS|RssAnon|RssFile' "/proc/$pid/status" | tr -s ' \t\n' ' ')"
  kill "$pid"; wait "$pid" 2>/dev/null
}
one "cold cache"
one "warm cache"
rm -rf "$XDG_CACHE_HOME/skylark/semantic"; one "semantic embeddings cold, rest warm"
rm -rf "$XDG_CACHE_HOME/skylark/onnx" "$XDG_CACHE_HOME/skylark/llm"; one "ONNX copies and KV probe cold, semantic warm"
