"""How much measured data is enough? Fine-tuning the shipped generator vs training from scratch.

A simulated "new set-up" the shipped weights never saw — 20 keV instead of 15, membrane grains of
15 µm instead of 8.6 µm, detector blur σ 3 px instead of 1–2 px (the rest as ``Geometry()`` and
``SimulationConfig()``) — stands in for a user's own beamline. For each number of training
pairs (default 10 and 50, spheres and foam alternating, 256² px, seeds 5000+) the lite generator
is trained twice with one recipe, once from the shipped weights (``init_weights="pretrained"``)
and once from random weights, and evaluated after each number of steps (default 100, 300 and
1000; the run is resumed from one to the next) on held-out acquisitions of the new set-up
(seeds 6000–6003, two of each phantom, 256² px):

- SSIM of the generated in-line image against the noise-free true one (dimensionless);
- the phase error of the paper's plain double-exposure method (``fuse_inline=False``) with the
  generated in-line image over the error with the true (noisy) one, in the edge ring (≤ 6 px
  from an interface) — the shipped card's goal is ≤ 1.5 — and in the interior;
- step 0 of the fine-tuned runs is the shipped generator as it is.

Recipe (both arms): crops 128 × 128 (a quarter of the area of the shipped training's crops:
about three times the steps per CPU-hour, measured 0.42 vs 1.3 s per step under load), Adam lr
1e-4, L1 weight 100, LSGAN, discriminator ndf 32, weight average 0.999, batch 1, seed 0 — the
shipped model's final recipe.

Budget: the default run took 43 min wall-clock (17 min of CPU time) on one thread of the
shared 2-core machine at a load of 6–9 (``--threads 1``; four runs of 1000 steps at 0.5–0.6 s
per step with exports and per-epoch validation, plus 1 min of simulation and the evaluations);
``--quick`` (10 pairs, 20 and 60 steps, 2 held-out acquisitions) checks the script in 1–2 min.
The table and its reading are in docs/training.md.

    python benchmarks/finetune_study.py --threads 1 --out runs/finetune_study [--json study.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

SETUP = {"energy_keV": 20.0, "grain_diameter_m": 15e-6, "detector_psf_sigma_px": 3.0}
RECIPE = {"lr": 1e-4, "l1_weight": 100.0, "lsgan": True, "ndf": 32, "ema_decay": 0.999,
          "seed": 0, "checkpoint_every_steps": 400}
TRAIN_SEED, EVAL_SEED = 5000, 6000


def new_setup():
    """(geometry, simulation config) of the unseen set-up."""
    from napari_specktrack.geometry import Geometry
    from napari_specktrack.simulate import SimulationConfig

    geometry = Geometry(energy_keV=SETUP["energy_keV"])
    config = SimulationConfig(grain_diameter_m=SETUP["grain_diameter_m"],
                              detector_psf_sigma_px=SETUP["detector_psf_sigma_px"])
    return geometry, config


def make_pair_folders(out: Path, counts: list[int], size_px: int) -> dict[int, Path]:
    """One pair folder per count; the smaller sets are the first pairs of the largest."""
    from napari_specktrack.learn.pairs import write_pairs
    from napari_specktrack.simulate.pairs import iter_pairs

    geometry, config = new_setup()
    pairs = list(iter_pairs(max(counts), size_px, seed=TRAIN_SEED, geometry=geometry,
                            config=config, vary_detector=False))
    folders = {}
    for n in counts:
        folder = out / f"pairs_{n}"
        if not (folder / "pairs.json").is_file():
            inputs, targets, records = zip(*pairs[:n], strict=True)
            write_pairs(folder, inputs, targets, records, geometry)
        folders[n] = folder
    return folders


def held_out(n_acq: int, size_px: int):
    from napari_specktrack.simulate import simulate

    geometry, config = new_setup()
    return [simulate(("spheres", "foam")[i % 2], size_px, seed=EVAL_SEED + i, geometry=geometry,
                     config=config) for i in range(n_acq)]


def evaluate(weights, acqs, truth_errors) -> dict[str, float]:
    """Mean SSIM and ring / interior phase error ratios (generated / true in-line image)."""
    from skimage.metrics import structural_similarity

    from napari_specktrack.learn.inference import generate_inline, load_generator
    from napari_specktrack.retrieval import double_exposure

    model = load_generator(weights, "cpu")
    ssim, ring_r, int_r = [], [], []
    for acq, (ring_true, int_true) in zip(acqs, truth_errors, strict=True):
        gen = generate_inline(acq.sample, acq.reference, device="cpu", _model=model)
        clean = acq.truth_inline
        ssim.append(structural_similarity(clean, gen, data_range=float(np.ptp(clean))))
        ring, interior = phase_errors(acq, double_exposure(acq.sample, acq.reference, gen,
                                                           acq.geometry, fuse_inline=False))
        ring_r.append(ring / ring_true)
        int_r.append(interior / int_true)
    return {"ssim": float(np.mean(ssim)), "ring_ratio": float(np.mean(ring_r)),
            "interior_ratio": float(np.mean(int_r))}


def phase_errors(acq, result) -> tuple[float, float]:
    """RMS phase error (rad) in the edge ring and the interior, offset removed in the core."""
    ring, interior, core = acq.regions()
    e = result.phase_rad - acq.truth_phase
    e = e - e[core].mean()
    return float(np.sqrt(np.mean(e[ring] ** 2))), float(np.sqrt(np.mean(e[interior] ** 2)))


def run_arm(folder: Path, run: Path, init: str | None, steps: list[int], crop: int, n: int,
            evaluate_at) -> list[dict]:
    """Train one arm, resuming to each step count; evaluate the exported generator there."""
    from napari_specktrack.learn.train import TrainConfig, train

    rows = []
    if init == "pretrained":
        rows.append({"step": 0, **evaluate_at("pretrained"), "seconds": 0.0})
    seconds = 0.0  # training time only (steps, checkpoints, per-epoch validation)
    for i, limit in enumerate(steps):
        t0 = time.perf_counter()
        if i == 0 and not (run / "checkpoint.pt").is_file():
            config = TrainConfig(preset="lite", epochs=-(-max(steps) // n),
                                 crop_yx_px=(crop, crop), max_steps=limit, init_weights=init,
                                 **RECIPE)
            train(folder, run, config, register=False)
        else:
            train(folder, run, resume=True, max_steps=limit, register=False)
        seconds += time.perf_counter() - t0
        rows.append({"step": limit, **evaluate_at(run / "generator.safetensors"),
                     "seconds": seconds})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, nargs="+", default=[10, 50])
    ap.add_argument("--steps", type=int, nargs="+", default=[100, 300, 1000])
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--held-out", type=int, default=4, help="held-out acquisitions (alternating)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("runs/finetune_study"))
    ap.add_argument("--json", type=Path, help="also write the table to this JSON file")
    ap.add_argument("--quick", action="store_true", help="a 3-minute check of the script")
    args = ap.parse_args()
    if args.quick:
        args.pairs, args.steps, args.held_out = [10], [20, 60], 2
    import torch

    from napari_specktrack.retrieval import double_exposure

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    folders = make_pair_folders(args.out, args.pairs, args.size)
    acqs = held_out(args.held_out, args.size)
    truth = [phase_errors(a, double_exposure(a.sample, a.reference, a.inline, a.geometry,
                                             fuse_inline=False)) for a in acqs]
    print(f"set-up {SETUP}; pairs and held-out data ready in {time.perf_counter() - t0:.0f} s")
    table = []
    for n in args.pairs:
        for arm, init in (("fine-tune", "pretrained"), ("scratch", None)):
            run = args.out / f"{arm}_{n}"
            for row in run_arm(folders[n], run, init, sorted(args.steps), args.crop, n,
                               lambda w: evaluate(w, acqs, truth)):
                table.append({"pairs": n, "start": arm, **row})
                r = table[-1]
                print(f"| {n} | {arm} | {r['step']} | {r['ssim']:.3f} | {r['ring_ratio']:.2f} | "
                      f"{r['interior_ratio']:.2f} | {r['seconds']:.0f} |", flush=True)
    print(f"total {time.perf_counter() - t0:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"setup": SETUP, "recipe": RECIPE, "crop_px": args.crop,
                                         "size_px": args.size, "table": table}, indent=2))


if __name__ == "__main__":
    main()
