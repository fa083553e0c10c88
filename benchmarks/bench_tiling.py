"""Tiled vs full-frame generator inference: time, peak memory and agreement, side by side.

Each mode runs in its own fresh Python process (so the peak resident memory, ru_maxrss, is that
mode's alone) on the same random input and weights; the parent reports medians over
``--repeats`` passes, the ratio tiled / full, and the largest difference between the outputs.

    python benchmarks/bench_tiling.py [--preset lite] [--sizes 1024 2048] [--tile-px 256]

Measured on the 2-core CPU (lite, tile 256): tiled/full time 0.90 at 1024² and 0.93 at
2048², peak memory 0.48 vs 0.51 GB and 1.07 vs 1.20 GB, outputs equal to 4e-6. On the CPU the
activations live in host memory either way, so tiles change little; their purpose is a GPU
whose memory cannot hold a full frame: there only one tile per layer is on the device (see
learn/tiling.py).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, statistics, sys, time
import numpy as np, torch
from napari_specktrack.learn.networks import PRESETS, GlobalGenerator
from napari_specktrack.learn.tiling import forward_tiled
preset, n, tile, repeats, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
torch.manual_seed(0)
model = GlobalGenerator(PRESETS[preset]).eval()
x = torch.randn(1, 1, n, n)
def run():
    if tile:
        return forward_tiled(model, x, tile)
    with torch.inference_mode():
        return model(x)
times = []
for _ in range(repeats):
    t = time.perf_counter(); y = run(); times.append(time.perf_counter() - t)
np.save(out, y[0, 0].numpy())
print(json.dumps({"s": statistics.median(times),
                  "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="lite")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048])
    ap.add_argument("--tile-px", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    import numpy as np

    print("| preset | size | full s | tiled s | ratio | full peak GB | tiled peak GB | max diff |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            res = {}
            for tile in (0, args.tile_px):
                out = str(Path(tmp) / f"{n}_{tile}.npy")
                p = subprocess.run([sys.executable, "-c", CHILD, args.preset, str(n), str(tile),
                                    str(args.repeats), out], capture_output=True, text=True, check=True)
                res[tile] = json.loads(p.stdout.strip().splitlines()[-1])
                res[tile]["y"] = np.load(out)
            full, tiled = res[0], res[args.tile_px]
            diff = float(np.abs(full["y"] - tiled["y"]).max())
            print(f"| {args.preset} | {n} | {full['s']:.2f} | {tiled['s']:.2f} | "
                  f"{tiled['s'] / full['s']:.2f} | {full['peak_gb']:.2f} | {tiled['peak_gb']:.2f} | "
                  f"{diff:.1e} |", flush=True)


if __name__ == "__main__":
    main()
