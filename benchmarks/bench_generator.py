"""Generator inference cost: float32 against the automatic fast pass, side by side, per frame.

For each preset and frame size: parameters, forward FLOPs (torch.utils.flop_counter, one
multiply-add = 2 FLOPs), and the time of one full-frame pass through the code path
``generate_inline`` uses (``learn.inference._run_model``: pad to the network multiple, run,
crop) in float32 — the pass every frame took before — and in the precision ``"auto"``
resolves to on the device (bfloat16 on oneDNN on a CPU with AMX / AVX512-BF16, float16 on
CUDA; ``learn/_fast.py``). The two alternate within one process (one warm-up each, then
``--repeats`` A/B rounds; medians), beside a baseline measured in the same run: one float32
3×3 convolution at the generator's widest full-resolution layer (ngf channels).

Quality: the fast output against the float32 output on a simulated foam frame (seed 900) —
SSIM (skimage, data range of the float32 image) and the largest difference in flat-field
units. ``lite`` uses the shipped weights; ``paper`` random ones (its cost does not depend on
them, and its SSIM then means little).

    python benchmarks/bench_generator.py [--sizes 1024 2048] [--presets lite paper]
                                         [--repeats 5] [--threads N] [--device cpu]

The machine is shared: the load average is printed before and after; compare the ratio.
The paper reports 200 ms per 1024×512 frame for `paper` on an RTX 2080 Ti.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import time

import numpy as np


def _input(size_px: int, norm: dict) -> np.ndarray:
    """A normalised network input (1, y, x) from a simulated foam frame."""
    from napari_specktrack.learn.pairs import normalise_input
    from napari_specktrack.simulate import simulate

    acq = simulate("foam", size_px, seed=900)
    return normalise_input((acq.sample - acq.reference)[None], norm)


def _model(preset: str, device: str):
    import torch

    from napari_specktrack.learn.inference import PRETRAINED, load_generator
    from napari_specktrack.learn.networks import PRESETS, GlobalGenerator

    if preset == "lite" and PRETRAINED.is_file():
        model, meta = load_generator("pretrained", device)
        return model, meta["normalisation"], "shipped"
    torch.manual_seed(0)
    norm = {"input_scale": 0.76, "target_min": 0.2, "target_max": 1.83}
    return GlobalGenerator(PRESETS[preset]).eval().to(device), norm, "random"


def _time(fn, repeats: int, sync) -> list[float]:
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync()
        out.append(time.perf_counter() - t)
    return out


def _row(model, norm: dict, preset: str, n: int, device: str, fast: str, repeats: int,
         sync) -> dict:
    """One preset at one frame size: FLOPs, float32 and fast times (A/B), baseline, quality."""
    import torch
    from skimage.metrics import structural_similarity
    from torch.utils.flop_counter import FlopCounterMode

    from napari_specktrack.learn.inference import _run_model
    from napari_specktrack.learn.networks import PRESETS
    from napari_specktrack.learn.pairs import denormalise_target

    ngf, multiple = PRESETS[preset].ngf, PRESETS[preset].multiple
    x = _input(n, norm)
    with torch.inference_mode(), FlopCounterMode(display=False) as fc:
        model(torch.from_numpy(x[None, :, :256, :256]).to(device))
    runs = {p: functools.partial(_run_model, model, x, multiple, device, 1, 1, p)
            for p in ("float32", fast)}
    outs = {p: f() for p, f in runs.items()}  # warm-up (and the outputs compared)
    times: dict[str, list[float]] = {p: [] for p in runs}
    for _ in range(repeats):  # alternate A/B so that load changes hit both
        for p, f in runs.items():
            times[p] += _time(f, 1, sync)
    conv = torch.nn.Conv2d(ngf, ngf, 3, padding=1).to(device)
    h = torch.randn(1, ngf, n, n, device=device)
    with torch.inference_mode():
        base = statistics.median(_time(functools.partial(conv, h), repeats, sync))
    ref = denormalise_target(outs["float32"][0], norm)
    got = denormalise_target(outs[fast][0], norm)
    return {"gflop": fc.get_total_flops() / 1e9 * (n * n) / (256 * 256),
            "fp32": statistics.median(times["float32"]), "fast": statistics.median(times[fast]),
            "conv": base, "ssim": structural_similarity(ref, got, data_range=float(np.ptp(ref))),
            "maxdiff": float(np.abs(got - ref).max())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048])
    ap.add_argument("--presets", nargs="+", default=["lite", "paper"])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    import torch

    from napari_specktrack.learn.inference import resolve_precision
    from napari_specktrack.learn.networks import count_parameters

    if args.threads:
        torch.set_num_threads(args.threads)
    fast = resolve_precision(args.device, "auto")
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    print(f"device {args.device}, {torch.get_num_threads()} threads, fast = {fast}, "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"{'preset':<7} {'size':>5} {'params':>11} {'GFLOP':>6} {'fp32 s':>7} {'fast s':>7} "
          f"{'speedup':>7} {'1 conv s':>8} {'fp32/conv':>9} {'SSIM':>7} {'max |d|':>8} weights")
    for preset in args.presets:
        model, norm, weights = _model(preset, args.device)
        for n in args.sizes:
            r = _row(model, norm, preset, n, args.device, fast, args.repeats, sync)
            print(f"{preset:<7} {n:>5} {count_parameters(model):>11,} {r['gflop']:>6.0f} "
                  f"{r['fp32']:>7.2f} {r['fast']:>7.2f} {r['fp32'] / r['fast']:>7.2f} "
                  f"{r['conv']:>8.3f} {r['fp32'] / r['conv']:>9.0f} {r['ssim']:>7.5f} "
                  f"{r['maxdiff']:>8.1e} {weights}", flush=True)
    print(f"load {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
