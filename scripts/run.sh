#!/usr/bin/env bash
# Set everything up (see setup.sh), make sure a D-Bus session bus is there, and run the
# daemon on the default models in the foreground. Ctrl-C stops it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
"$SKYLARK_ROOT/scripts/setup.sh"
ensure_session_bus
say "starting skylark daemon on $DBUS_SESSION_BUS_ADDRESS"
exec "$SKYLARK_ROOT/target/release/skylark" daemon "$@"
