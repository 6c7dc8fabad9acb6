"""Memory layouts and graph passes for the default network on the CPU, timed pair by pair.

Interleaves one forward pass (a batch of two 64³ windows, two threads) of each variant, ten
rounds, and prints each variant's median and its paired speed-up over the contiguous model:
channels-last 3-D (weights and input), a frozen graph, and a frozen graph through
optimize_for_inference (oneDNN's blocked layouts). Debian's python3-torch is the PyTorch that
libtorch-dev ships, so the ratios carry over to `run`. Results: docs/BENCHMARKS.md.

usage: /usr/bin/python3 bench/layout_trials.py [MODEL.pt]
"""
import os
import statistics
import sys
import time

import torch

MODEL = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models",
                                                           "default", "resunet333.pt")
torch.set_num_threads(2)


def load():
    return torch.jit.load(MODEL).eval()


window = torch.full((2, 1, 64, 64, 64), 0.5)
variants = {
    "contiguous": (load(), window),
    "channels_last_3d": (load().to(memory_format=torch.channels_last_3d),
                         window.contiguous(memory_format=torch.channels_last_3d)),
    "frozen": (torch.jit.freeze(load()), window),
    "frozen_optimized": (torch.jit.optimize_for_inference(torch.jit.freeze(load())), window),
}
seconds = {name: [] for name in variants}
with torch.no_grad():
    for model, batch in variants.values():  # the first passes at a shape include the JIT's work
        model(batch)
        model(batch)
    for _ in range(10):
        for name, (model, batch) in variants.items():
            start = time.perf_counter()
            model(batch)
            seconds[name].append((time.perf_counter() - start) / batch.shape[0])
for name, times in seconds.items():
    ratios = [base / t for base, t in zip(seconds["contiguous"], times)]
    print(f"{name:>18}: median {statistics.median(times) * 1e3:.0f} ms per window, paired speed-up over contiguous "
          f"{statistics.median(ratios):.3f} (range {min(ratios):.2f}-{max(ratios):.2f})")
