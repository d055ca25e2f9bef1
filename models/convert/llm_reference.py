#!/usr/bin/env python3
"""Python onnxruntime reference for skylark's Rust LLM decoder.

Default: print JSON {"prompt", "token_ids", "logits"} where `logits` are the first-step logits
(last prompt position) for the chat-templated prompt. The Rust parity test compares its own
first-step logits to these.

With --generate N: greedy-decode up to N tokens and print JSON with the answer, decode
tokens/s and the process's peak RSS, so the README figures can be rerun.

Usage: llm_reference.py --model DIR --prompt TEXT [--generate N] [--threads T]
"""

import argparse
import json
import os
import resource
import sys
import time

import numpy as np
import onnxruntime as ort
from jinja2.sandbox import ImmutableSandboxedEnvironment
from tokenizers import Tokenizer


def render_prompt(model_dir, prompt):
    with open(os.path.join(model_dir, "tokenizer_config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    tmpl = env.from_string(cfg["chat_template"])
    return tmpl.render(messages=[{"role": "user", "content": prompt}], add_generation_prompt=True,
                       bos_token=cfg.get("bos_token", ""), eos_token=cfg.get("eos_token", ""))


class Decoder:
    def __init__(self, model_dir, threads):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.sess = ort.InferenceSession(os.path.join(model_dir, "model.onnx"), opts,
                                         providers=["CPUExecutionProvider"])
        with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
            self.cfg = json.load(f)
        self.past_names = [i.name for i in self.sess.get_inputs() if i.name.startswith("past_key_values.")]
        self.out_names = [o.name for o in self.sess.get_outputs()]

    def empty_past(self):
        shape = (1, self.cfg["num_key_value_heads"], 0, self.cfg["head_dim"])
        return {n: np.zeros(shape, dtype=np.float32) for n in self.past_names}

    def step(self, ids, past, past_len):
        s = len(ids)
        feeds = {
            "input_ids": np.array([ids], dtype=np.int64),
            "attention_mask": np.ones((1, past_len + s), dtype=np.int64),
            "position_ids": np.arange(past_len, past_len + s, dtype=np.int64)[None, :],
        }
        feeds.update(past)
        outs = dict(zip(self.out_names, self.sess.run(self.out_names, feeds)))
        new_past = {n: outs[n.replace("past_key_values.", "present.")] for n in self.past_names}
        return outs["logits"][0, -1], new_past


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--prompt", required=True)
    ap.add_argument("--generate", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    tok = Tokenizer.from_file(os.path.join(args.model, "tokenizer.json"))
    text = render_prompt(args.model, args.prompt)
    ids = tok.encode(text, add_special_tokens=False).ids
    dec = Decoder(args.model, args.threads)
    logits, past = dec.step(ids, dec.empty_past(), 0)

    if not args.generate:
        json.dump({"prompt": text, "token_ids": ids, "logits": [float(x) for x in logits]},
                  sys.stdout, separators=(",", ":"))
        sys.stdout.write("\n")
        return

    stop = {tok.token_to_id("<|im_end|>"), tok.token_to_id("<|endoftext|>"), dec.cfg.get("eos_token_id")}
    out = []
    pos = len(ids)
    nxt = int(np.argmax(logits))
    t0 = time.perf_counter()
    while nxt not in stop and len(out) < args.generate:
        out.append(nxt)
        logits, past = dec.step([nxt], past, pos)
        pos += 1
        nxt = int(np.argmax(logits))
    dt = time.perf_counter() - t0
    json.dump({
        "prompt": text,
        "answer": tok.decode(out, skip_special_tokens=True),
        "new_tokens": len(out),
        "generated_ids": out,
        "decode_tokens_per_s": round(len(out) / dt, 2) if dt > 0 else None,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "threads": args.threads,
    }, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
