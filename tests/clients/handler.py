#!/usr/bin/env python3
"""An independent D-Bus client of skylark, written with jeepney (pure Python, no GLib).

It serves io.skylark.Assistant1.Handler at /test/Handler, registers it for --intent, optionally
asks the daemon a sentence (Ask), answers the daemon's Handle call as --mode says, and prints
one JSON object a line on stdout for each thing that happens:

  {"event": "registered", "unique": ":1.5"}
  {"event": "asked", "turn": "/io/skylark/Assistant1/turn/1"}
  {"event": "intent_recognized", "turn": ..., "intent": ..., "slots": {...}, "confidence": ..., "source": ...}
  {"event": "handle", "intent": ..., "slots": {...}, "context": {...}}
  {"event": "turn_finished", "turn": ..., "status": ..., "response": ...}
  {"event": "error", "name": ..., "message": ...}

--mode reply: answer Handle with ("ok", --speech); with --results JSON (a list of places, each
{"name", "id", "distance_m", ...}) the reply is ("ok", --speech, {"results": aa{sv}}) for
navigation.search_nearby. never: do not answer; exit: leave the bus (the process exits) as soon
as Handle arrives. --ask may be given several times: the turns run one after the other, each
after the previous one's TurnFinished (--turns repeats the last one); the script exits after
the last. Without --ask it serves until killed.
Usage: python handler.py --intent climate.set_temperature [--ask TEXT]... [--mode reply] [--speech TEXT] [--results JSON] [--language L] [--speech-repeat N]
The bus is $DBUS_SESSION_BUS_ADDRESS.
"""
import argparse
import json
import os
import sys

from jeepney import (DBusAddress, HeaderFields, MatchRule, MessageType,
                     new_method_call, new_method_return)
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

NAME = "io.skylark.Assistant1"
PATH = "/io/skylark/Assistant1"
IFACE = "io.skylark.Assistant1"
HANDLER_IFACE = "io.skylark.Assistant1.Handler"
OBJECT = "/test/Handler"
ASSISTANT = DBusAddress(PATH, bus_name=NAME, interface=IFACE)


def emit(**event):
    print(json.dumps(event, ensure_ascii=False), flush=True)


def plain(variants):
    """a{sv} as jeepney gives it ({key: (signature, value)}) → plain JSON values."""
    out = {}
    for k, (sig, v) in variants.items():
        out[k] = plain(v) if sig == "a{sv}" else v
    return out


def variants(place):
    """A place as a{sv}: numbers as d, text as s."""
    return {k: ("d", float(v)) if isinstance(v, (int, float)) else ("s", str(v)) for k, v in place.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--intent", action="append", default=[])
    ap.add_argument("--ask", action="append", default=[])
    ap.add_argument("--turns", type=int, default=0, help="how many Ask turns to run, one after the other (default: one per --ask)")
    ap.add_argument("--results", help="JSON list of places to answer navigation.search_nearby with")
    ap.add_argument("--language", help="the Ask option `language`")
    ap.add_argument("--mode", choices=["reply", "never", "exit"], default="reply")
    ap.add_argument("--speech", default="The test handler set it.")
    ap.add_argument("--speech-repeat", type=int, default=1, help="reply with --speech this many times over (a huge reply)")
    args = ap.parse_args()
    turns = args.turns or len(args.ask)
    results = json.loads(args.results) if args.results else None

    conn = open_dbus_connection(bus="SESSION")
    for member in ("TurnFinished", "IntentRecognized"):
        rule = MatchRule(type="signal", interface=IFACE, member=member, path=PATH)
        conn.send_and_get_reply(message_bus.AddMatch(rule))

    if args.intent:
        reply = conn.send_and_get_reply(new_method_call(ASSISTANT, "RegisterHandler", "oas", (OBJECT, args.intent)))
        if reply.header.message_type == MessageType.error:
            emit(event="error", name=reply.header.fields.get(HeaderFields.error_name), message=reply.body[0] if reply.body else "")
            return 1
        emit(event="registered", unique=conn.unique_name)

    my_turns = set()
    finished = 0
    pending_ask = None

    def ask():
        serial = next(conn.outgoing_serial)
        options = {"speak": ("b", False)}
        if args.language:
            options["language"] = ("s", args.language)
        text = args.ask[min(finished, len(args.ask) - 1)]
        conn.send(new_method_call(ASSISTANT, "Ask", "sa{sv}", (text, options)), serial=serial)
        return serial

    if args.ask:
        pending_ask = ask()

    while True:
        msg = conn.receive()
        h = msg.header
        kind = h.message_type
        if kind in (MessageType.method_return, MessageType.error):
            if h.fields.get(HeaderFields.reply_serial) == pending_ask:
                pending_ask = None
                if kind == MessageType.error:
                    emit(event="error", name=h.fields.get(HeaderFields.error_name), message=msg.body[0] if msg.body else "")
                    return 1
                my_turns.add(msg.body[0])
                emit(event="asked", turn=msg.body[0])
        elif kind == MessageType.method_call:
            member = h.fields.get(HeaderFields.member)
            iface = h.fields.get(HeaderFields.interface)
            if iface == HANDLER_IFACE and member == "Handle":
                intent, slots, context = msg.body
                emit(event="handle", intent=intent, slots=plain(slots), context=plain(context))
                if args.mode == "exit":
                    os._exit(0)
                if args.mode == "reply" and results is not None and intent == "navigation.search_nearby":
                    data = {"results": ("aa{sv}", [variants(r) for r in results])}
                    conn.send(new_method_return(msg, "ssa{sv}", ("ok", args.speech, data)))
                elif args.mode == "reply":
                    conn.send(new_method_return(msg, "ss", ("ok", args.speech * args.speech_repeat)))
        elif kind == MessageType.signal:
            member = h.fields.get(HeaderFields.member)
            if member == "IntentRecognized":
                turn, intent, slots, confidence, source = msg.body
                emit(event="intent_recognized", turn=turn, intent=intent, slots=plain(slots), confidence=confidence, source=source)
            elif member == "TurnFinished":
                turn, status, response = msg.body
                emit(event="turn_finished", turn=turn, status=status, response=response)
                if turn in my_turns:
                    finished += 1
                    if finished >= turns:
                        return 0
                    pending_ask = ask()


if __name__ == "__main__":
    sys.exit(main())
