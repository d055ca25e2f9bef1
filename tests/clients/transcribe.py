#!/usr/bin/env python3
"""Calls io.skylark.Assistant1.Transcribe with a real file descriptor (jeepney), and prints the
reply as one JSON object: {"text": ...} or {"error": NAME, "message": ...}.
Usage: python transcribe.py FILE.wav [--format raw]. The bus is $DBUS_SESSION_BUS_ADDRESS."""
import json
import sys

from jeepney import DBusAddress, HeaderFields, MessageType, new_method_call
from jeepney.io.blocking import open_dbus_connection

ASSISTANT = DBusAddress("/io/skylark/Assistant1", bus_name="io.skylark.Assistant1", interface="io.skylark.Assistant1")


def main():
    path = sys.argv[1]
    options = {}
    if "--format" in sys.argv:
        options["format"] = ("s", sys.argv[sys.argv.index("--format") + 1])
    conn = open_dbus_connection(bus="SESSION", enable_fds=True)
    with open(path, "rb") as f:
        reply = conn.send_and_get_reply(new_method_call(ASSISTANT, "Transcribe", "ha{sv}", (f, options)))
    if reply.header.message_type == MessageType.error:
        print(json.dumps({"error": reply.header.fields.get(HeaderFields.error_name), "message": reply.body[0] if reply.body else ""}))
    else:
        print(json.dumps({"text": reply.body[0]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
