#!/usr/bin/env python3
"""Calls io.skylark.Assistant1.Transcribe with a real file descriptor (jeepney), and prints the
reply as one JSON object: {"text": ..., "seconds": ...} or {"error": NAME, "message": ..., "seconds": ...}.

Usage: python transcribe.py FILE [--format raw] [--language L] [--via file|pipe|dir|socket]
  --via file    (default) an open regular file
  --via pipe    the file's bytes written into a pipe by a thread of this client
  --via dir     FILE is a directory, passed opened (O_DIRECTORY)
  --via socket  one end of a socketpair whose other end stays open and silent
The bus is $DBUS_SESSION_BUS_ADDRESS."""
import json
import os
import socket
import sys
import threading
import time

from jeepney import DBusAddress, HeaderFields, MessageType, new_method_call
from jeepney.io.blocking import open_dbus_connection

ASSISTANT = DBusAddress("/io/skylark/Assistant1", bus_name="io.skylark.Assistant1", interface="io.skylark.Assistant1")


def arg(name, default=None):
    if name in sys.argv:
        return sys.argv[sys.argv.index(name) + 1]
    return default


def main():
    path = sys.argv[1]
    options = {}
    if arg("--format"):
        options["format"] = ("s", arg("--format"))
    if arg("--language"):
        options["language"] = ("s", arg("--language"))
    via = arg("--via", "file")
    conn = open_dbus_connection(bus="SESSION", enable_fds=True)
    keep = []
    if via == "file":
        fd = os.open(path, os.O_RDONLY)
    elif via == "dir":
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    elif via == "socket":
        a, b = socket.socketpair()
        keep.append(b)
        fd = os.dup(a.fileno())
        a.close()
    elif via == "pipe":
        r, w = os.pipe()
        data = open(path, "rb").read()

        def feed():
            with os.fdopen(w, "wb") as f:
                f.write(data)

        threading.Thread(target=feed, daemon=True).start()
        fd = r
    else:
        raise SystemExit(f"unknown --via {via}")
    started = time.monotonic()
    reply = conn.send_and_get_reply(new_method_call(ASSISTANT, "Transcribe", "ha{sv}", (fd, options)))
    seconds = round(time.monotonic() - started, 3)
    os.close(fd)
    if reply.header.message_type == MessageType.error:
        print(json.dumps({"error": reply.header.fields.get(HeaderFields.error_name), "message": reply.body[0] if reply.body else "", "seconds": seconds}, ensure_ascii=False))
    else:
        print(json.dumps({"text": reply.body[0], "seconds": seconds}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
