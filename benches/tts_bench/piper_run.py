"""piper-tts on the texts of `cargo bench --bench tts_vs_piper`: for each round and text, the
time to its first audio chunk, the whole synthesis and the audio's length. One JSON object on
stdout: {"results": [[first_s, total_s, audio_s] per text] per round}.

Usage: piper_run.py MODEL.onnx ROUNDS TEXT...
"""
import json
import sys
import time

from piper import PiperVoice


def main():
    model, rounds, texts = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    voice = PiperVoice.load(model)
    for _ in voice.synthesize("Warming up the voice."):  # first run allocates
        pass
    results = []
    for _ in range(rounds):
        row = []
        for text in texts:
            t0 = time.perf_counter()
            first = None
            samples = 0
            rate = 22050
            for chunk in voice.synthesize(text):
                if first is None:
                    first = time.perf_counter() - t0
                samples += len(chunk.audio_float_array)
                rate = chunk.sample_rate
            total = time.perf_counter() - t0
            row.append([first if first is not None else total, total, samples / rate])
        results.append(row)
    json.dump({"results": results}, sys.stdout)


if __name__ == "__main__":
    main()
