# Shared by the project's scripts: logging and the project's folders. Source it; do not run it.

SKYLARK_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Everything the scripts cache (downloads, converters' venv, bus and audio-server state) lives
# here; deleting it is always safe.
SKYLARK_CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/skylark
export SKYLARK_ROOT SKYLARK_CACHE

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else die "need root to run: $* (install sudo or run as root)"; fi
}

# Is this address a D-Bus bus we can talk to?
bus_alive() {
  [ -n "${1:-}" ] && DBUS_SESSION_BUS_ADDRESS=$1 dbus-send --session --dest=org.freedesktop.DBus \
    --type=method_call --print-reply / org.freedesktop.DBus.GetId >/dev/null 2>&1
}

# Make sure a session bus is reachable: keep a working $DBUS_SESSION_BUS_ADDRESS, else reuse or
# start the project's own bus (pid and address under $SKYLARK_CACHE/run). Exports the address.
ensure_session_bus() {
  if bus_alive "${DBUS_SESSION_BUS_ADDRESS:-}"; then return 0; fi
  local run=$SKYLARK_CACHE/run
  mkdir -p "$run"
  if [ -f "$run/session-bus.address" ] && bus_alive "$(cat "$run/session-bus.address")"; then
    export DBUS_SESSION_BUS_ADDRESS=$(cat "$run/session-bus.address")
    return 0
  fi
  local out
  out=$(dbus-daemon --session --fork --print-address=1 --print-pid=1) || die "could not start dbus-daemon"
  printf '%s\n' "$out" | sed -n 1p > "$run/session-bus.address"
  printf '%s\n' "$out" | sed -n 2p > "$run/session-bus.pid"
  export DBUS_SESSION_BUS_ADDRESS=$(cat "$run/session-bus.address")
  say "started a D-Bus session bus (pid $(cat "$run/session-bus.pid")): $DBUS_SESSION_BUS_ADDRESS"
}
