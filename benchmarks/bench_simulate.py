"""Time and peak memory of simulating one acquisition (reference + sample + in-line + truth).

Each size runs in a fresh subprocess (so peak RSS is that size's own), several times; the
median is reported next to a baseline measured in the same run on the same machine: one
complex64 FFT of the simulator's fine grid (the unavoidable unit of work; the chain needs
7 of them). Machines here are noisy: read the ratio, not the seconds.

    python benchmarks/bench_simulate.py [--sizes 1024 2048] [--repeats 3]

Goals (issue 2): 1024² < 5 s, 2048² < 20 s on 2 cores, peak memory < 3 GB at 2048².
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

CHILD = r"""
import json, sys
def hwm_gb():
    # peak resident memory of this process (VmHWM; unlike ru_maxrss it is reset by exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1e6
    return float("nan")
import time
import numpy as np, scipy.fft
from napari_specktrack.simulate import simulate, SimulationConfig
n, what = int(sys.argv[1]), sys.argv[2]
cfg = SimulationConfig()
if what == "fft":
    g = (n + 2 * cfg.margin_px) * cfg.oversample
    a = np.ones((g, g), np.complex64)
    t = time.perf_counter(); scipy.fft.fft2(a, workers=-1, overwrite_x=True); dt = time.perf_counter() - t
else:
    t = time.perf_counter(); simulate("spheres", n, seed=1, config=cfg); dt = time.perf_counter() - t
print(json.dumps({"seconds": dt, "peak_gb": hwm_gb()}))
"""


def measure(n: int, what: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(n), what], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print(f"{'size':>6} {'simulate s':>11} {'peak GB':>8} {'1 FFT s':>8} {'ratio':>6}")
    for n in args.sizes:
        sims = [measure(n, "sim") for _ in range(args.repeats)]
        ffts = [measure(n, "fft") for _ in range(args.repeats)]
        t_sim = statistics.median(r["seconds"] for r in sims)
        t_fft = statistics.median(r["seconds"] for r in ffts)
        peak = max(r["peak_gb"] for r in sims)
        print(f"{n:>6} {t_sim:>11.2f} {peak:>8.2f} {t_fft:>8.3f} {t_sim / t_fft:>6.1f}")


if __name__ == "__main__":
    main()
