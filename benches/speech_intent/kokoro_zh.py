#!/usr/bin/env python3
"""Mandarin speech for skylark's speech-to-intent bench: Kokoro-82M v1.0 (int8 ONNX) with the
Mandarin voice packs of kokoro-js and misaki[zh] phonemes (see kokoro_setup.sh, which fetches
them into DIR and makes the bench venv this runs in).

Usage: kokoro_zh.py DIR  — then one JSON request a line on stdin:
    {"text": "把空调调到二十二度", "voice": "zm_yunjian", "speed": 1.0, "out": "/path/x.f32"}
For each it writes the speech as raw little-endian float32 mono at 24 kHz (the model's own lead
and tail silence trimmed; the bench resamples and pads it like its other voices) and answers
one line on stdout: "ok" or "error: ...". The model loads once per process.
"""
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

SR = 24000


class KokoroZh:
    def __init__(self, root: Path, threads=2):
        from misaki import zh
        from pypinyin import load_single_dict

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(root / "kokoro-v1.0.int8.onnx"), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self.vocab = json.loads((root / "vocab.json").read_text(encoding="utf-8"))["vocab"]
        self.root = root
        self.g2p = zh.ZHG2P()  # version=None: the Kokoro v1.0 phoneme set
        # pypinyin reads a lone 调 as diào (调到 -> "掉到"); in cockpit commands it is tiáo
        # (调高/调低/调到/调小). Phrases with diào (声调, 音调, 调查) keep their phrase reading.
        load_single_dict({ord("调"): "tiáo,diào"})
        self.voices = {}

    def voice(self, name):
        if name not in self.voices:
            v = np.fromfile(self.root / "voices" / f"{name}.bin", dtype=np.float32)
            self.voices[name] = v.reshape(-1, 256)  # [510, 256]: one style per phoneme count
        return self.voices[name]

    def synthesize(self, text, voice, speed=1.0):
        ps, _ = self.g2p(text)
        tokens = [self.vocab[c] for c in ps if c in self.vocab][:510]
        if not tokens:
            raise ValueError(f"no phonemes for {text!r}")
        style = self.voice(voice)[len(tokens) - 1].reshape(1, 256)  # as hexgrad's KPipeline
        audio = self.session.run(
            None,
            {
                "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
                "style": style.astype(np.float32),
                "speed": np.array([speed], dtype=np.float32),
            },
        )[0]
        return np.asarray(audio, np.float32).ravel()


def trim(audio, thresh=0.01, keep=int(0.05 * SR)):
    """Cut the model's own ~0.4 s lead and ~1 s tail silence (the bench adds its own pads)."""
    idx = np.where(np.abs(audio) > thresh)[0]
    if len(idx) == 0:
        return audio
    return audio[max(0, idx[0] - keep): idx[-1] + keep]


def main():
    root = Path(sys.argv[1])
    tts = KokoroZh(root)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            audio = trim(tts.synthesize(req["text"], req["voice"], float(req.get("speed", 1.0))))
            np.clip(audio, -1, 1).astype("<f4").tofile(req["out"])
            print("ok", flush=True)
        except Exception as e:  # answer the bench rather than die: it reports and goes on
            print(f"error: {type(e).__name__}: {e}".replace("\n", " "), flush=True)


if __name__ == "__main__":
    main()
