#!/usr/bin/env python3
"""Run hassil (PyPI, the Home Assistant reference matcher) on a grammar and sentences, with
`recognize_best` (what Home Assistant uses: literal text beats wildcards).

Called by `cargo bench --bench nlu_vs_hassil`, which runs skylark on the same input in the
same run. Prints one JSON object: hassil's version, load time, per-sentence match times and
results (intent and slots, or null).

    python benches/hassil_run.py --language en --intents models/intents/en --sentences FILE.json [--rounds N]
"""
import argparse
import json
import sys
import time
from pathlib import Path

import hassil
from hassil import Intents, recognize_best
from hassil.intents import TextSlotList
from importlib.metadata import version


def load(paths):
    files = []
    for p in paths:
        p = Path(p)
        files.extend(sorted(p.glob("*.yaml")) if p.is_dir() else [p])
    return Intents.from_files(files)


def value(v):
    # hassil gives ints for ranges and whatever the list's `out` is otherwise.
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return float(v)
    return v


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--intents", action="append", required=True)
    ap.add_argument("--sentences", required=True, help="a JSON array of sentences")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--load-rounds", type=int, default=3)
    ap.add_argument("--list", action="append", default=[],
                    help="NAME=FILE.json: a dynamic slot list of [spoken, value] pairs (contacts)")
    args = ap.parse_args()
    slot_lists = {}
    for spec in args.list:
        name, path = spec.split("=", 1)
        pairs = json.loads(Path(path).read_text(encoding="utf-8"))
        slot_lists[name] = TextSlotList.from_tuples([(s, v) for s, v in pairs])

    sentences = json.loads(Path(args.sentences).read_text(encoding="utf-8"))

    load_s = []
    intents = None
    for _ in range(args.load_rounds):
        t = time.perf_counter()
        intents = load(args.intents)
        load_s.append(time.perf_counter() - t)

    results = []
    match_s = []
    for r in range(args.rounds):
        for text in sentences:
            t = time.perf_counter()
            try:
                res = recognize_best(text, intents, slot_lists=slot_lists or None)
                err = None
            except Exception as e:  # hassil raises on e.g. lists it cannot expand
                res, err = None, f"{type(e).__name__}: {e}"
            match_s.append(time.perf_counter() - t)
            if r == 0:
                if res is None:
                    results.append({"text": text, "intent": None, "error": err})
                else:
                    slots = {name: value(e.value) for name, e in res.entities.items()}
                    results.append({"text": text, "intent": res.intent.name, "slots": slots})
    json.dump(
        {
            "hassil": version("hassil"),
            "load_s": load_s,
            "match_s": match_s,
            "results": results,
        },
        sys.stdout,
        ensure_ascii=False,
    )


if __name__ == "__main__":
    main()
