"""Generator inference cost: parameters, FLOPs and CPU time per frame for the presets.

For each preset (random weights: the cost does not depend on their values) and frame size,
counts parameters and forward FLOPs (torch.utils.flop_counter, one multiply-add = 2 FLOPs) and
times a full-frame forward pass on the CPU (median of ``--repeats`` after one warm-up), beside
a baseline measured in the same run: one 3×3 convolution at the generator's widest full-
resolution layer (ngf channels), i.e. the cheapest layer the network cannot avoid.

    python benchmarks/bench_generator.py [--sizes 1024 2048] [--presets lite paper] [--repeats 3]

The paper reports 200 ms per 1024×512 frame for the `paper` preset on an RTX 2080 Ti; on a
CUDA machine pass --device cuda (fp16) to compare.
"""

from __future__ import annotations

import argparse
import statistics
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048])
    ap.add_argument("--presets", nargs="+", default=["lite", "paper"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from napari_specktrack.learn.networks import PRESETS, GlobalGenerator, count_parameters

    print(f"{'preset':<7} {'size':>6} {'params':>12} {'GFLOP':>8} {'s/frame':>8} "
          f"{'1 conv s':>9} {'ratio':>6}")
    for preset in args.presets:
        model = GlobalGenerator(PRESETS[preset]).eval().to(args.device)
        params = count_parameters(model)
        conv = torch.nn.Conv2d(PRESETS[preset].ngf, PRESETS[preset].ngf, 3, padding=1).to(args.device)
        for n in args.sizes:
            x = torch.randn(1, 1, n, n, device=args.device)
            with torch.inference_mode():
                with FlopCounterMode(display=False) as fc:
                    model(x[..., :256, :256])
                gflop = fc.get_total_flops() / 1e9 * (n * n) / (256 * 256)
                times, base = [], []
                half = args.device.startswith("cuda")
                with torch.autocast("cuda", dtype=torch.float16, enabled=half):
                    model(x)
                    for _ in range(args.repeats):
                        t = time.perf_counter()
                        model(x)
                        if half:
                            torch.cuda.synchronize()
                        times.append(time.perf_counter() - t)
                    h = torch.randn(1, PRESETS[preset].ngf, n, n, device=args.device)
                    for _ in range(args.repeats):
                        t = time.perf_counter()
                        conv(h)
                        if half:
                            torch.cuda.synchronize()
                        base.append(time.perf_counter() - t)
            ts, tb = statistics.median(times), statistics.median(base)
            print(f"{preset:<7} {n:>6} {params:>12,} {gflop:>8.0f} {ts:>8.2f} {tb:>9.3f} {ts / tb:>6.0f}",
                  flush=True)


if __name__ == "__main__":
    main()
