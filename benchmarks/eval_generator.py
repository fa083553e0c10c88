"""Held-out quality of a trained generator (issue 4's acceptance figures).

On simulated phantoms with seeds never used in training (default 900–903; the shipped training
set uses 1000+), for each of spheres and foam:

- SSIM of the generated in-line image against the true in-line image without photon noise
  (``Acquisition.truth_inline``; skimage.metrics.structural_similarity, data range of the true
  image) — against the noisy one SSIM mostly scores the noise in flat areas,
  which a denoising generator cannot and should not reproduce;
- the double-exposure phase error with the *generated* in-line image divided by the error with
  the *true* one, in the interior and in the edge ring (goal ≤ 1.5);
- for scale, the conventional method's error ratio to the true-in-line result.

    python benchmarks/eval_generator.py --generator runs/lite/generator.safetensors [--size 256]
                                        [--average-orientations] [--quarter-turn]

Several ``--size`` values (e.g. ``--size 128 256 512 1024``) end with the by-size table of a
model card (means over the seeds); ``--json`` then holds one entry per size.

Four seeds resolve the SSIM (±0.01) but not the phase ratios: per seed they scatter by
±0.2–0.4, so compare or choose models on 32 (``--seeds $(seq 800 831)`` for validation,
``$(seq 900 931)`` held out; ≈ 2.5 min at 128²–512² on one thread).
"""

from __future__ import annotations

import argparse

import numpy as np


def _quarter_turn(acq):
    """The acquisition turned by 90° (np.rot90): images turned, displacement turned with them.

    A point at (y, x) moves to (N − 1 − x, y), so a displacement (dy, dx) becomes (−dx, dy).
    """
    from dataclasses import replace

    t = np.rot90
    return replace(acq, reference=t(acq.reference).copy(), sample=t(acq.sample).copy(),
                   inline=t(acq.inline).copy(), truth_inline=t(acq.truth_inline).copy(),
                   truth_phase=t(acq.truth_phase).copy(),
                   truth_transmission=t(acq.truth_transmission).copy(),
                   truth_darkfield=t(acq.truth_darkfield).copy(),
                   truth_dx=t(acq.truth_dy).copy(), truth_dy=-t(acq.truth_dx).copy())


def _phase_errors(acq, gen) -> dict[str, tuple[float, float]]:
    """RMS phase error (rad; ring, interior) of double exposure with the true and the generated
    in-line image and of the conventional method, the mean over the core removed."""
    from napari_specktrack.retrieval import conventional, double_exposure

    ring, interior, core = acq.regions()
    errs = {}
    for name, res in (
        ("true", double_exposure(acq.sample, acq.reference, acq.inline, acq.geometry,
                                 fuse_inline=False)),
        ("gen", double_exposure(acq.sample, acq.reference, gen, acq.geometry, fuse_inline=False)),
        ("conv", conventional(acq.sample, acq.reference, acq.geometry)),
    ):
        e = res.phase_rad - acq.truth_phase
        e = e - e[core].mean()
        errs[name] = (float(np.sqrt(np.mean(e[ring] ** 2))), float(np.sqrt(np.mean(e[interior] ** 2))))
    return errs


def _generate(acq, args, model) -> np.ndarray:
    """The generated in-line image; with ``--input-pad-px P`` the speckle images are first
    reflect-padded by P px on every side and the output cropped back (a study of the frame
    border's share; ``generate_inline`` itself pads only to the network's multiple)."""
    from napari_specktrack.learn.inference import generate_inline

    p = args.input_pad_px
    sample, reference = acq.sample, acq.reference
    if p:
        sample, reference = (np.pad(a, p, mode="reflect") for a in (sample, reference))
    gen = generate_inline(sample, reference, args.generator, device="cpu", _model=model,
                          average_orientations=args.average_orientations)
    return gen[p:-p, p:-p] if p else gen


def _evaluate_size(args, model, size: int) -> dict:
    """The per-seed table and the means of one frame size (px), for spheres and foam."""
    from skimage.metrics import structural_similarity

    from napari_specktrack.simulate import simulate

    results = {}
    print(f"\n{size}² px\n| phantom | seed | SSIM | ring error gen / true "
          "| interior error gen / true | ring conv / true |")
    print("|---|---|---|---|---|---|")
    for phantom in ("spheres", "foam"):
        rows = []
        for seed in args.seeds:
            acq = simulate(phantom, size, seed=seed)
            if args.quarter_turn:
                acq = _quarter_turn(acq)
            clean = acq.truth_inline  # the same in-line image before photon noise
            gen = _generate(acq, args, model)
            ssim = structural_similarity(clean, gen, data_range=float(np.ptp(clean)))
            errs = _phase_errors(acq, gen)
            row = (float(ssim), errs["gen"][0] / errs["true"][0], errs["gen"][1] / errs["true"][1],
                   errs["conv"][0] / errs["true"][0])
            rows.append(row)
            print(f"| {phantom} | {seed} | {row[0]:.3f} | {row[1]:.2f} | {row[2]:.2f} | "
                  f"{row[3]:.2f} |", flush=True)
        m, med = np.mean(rows, axis=0), np.median(rows, axis=0)
        results[phantom] = {"ssim": m[0], "ring_ratio_gen_true": m[1],
                            "interior_ratio_gen_true": m[2], "ring_ratio_conv_true": m[3],
                            "seeds": args.seeds, "size": size,
                            "average_orientations": args.average_orientations,
                            "quarter_turn": args.quarter_turn, "input_pad_px": args.input_pad_px}
        print(f"| {phantom} | mean | {m[0]:.3f} | {m[1]:.2f} | {m[2]:.2f} | {m[3]:.2f} |")
        print(f"| {phantom} | median | {med[0]:.3f} | {med[1]:.2f} | {med[2]:.2f} | {med[3]:.2f} |")
        results[phantom]["ring_ratio_gen_true_median"] = float(med[1])
        results[phantom]["interior_ratio_gen_true_median"] = float(med[2])
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generator", default="pretrained")
    ap.add_argument("--size", type=int, nargs="+", default=[256],
                    help="frame side(s) in pixels (default 256)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[900, 901, 902, 903])
    ap.add_argument("--json", help="also write the figures to this JSON file")
    ap.add_argument("--quarter-turn", action="store_true",
                    help="evaluate on every acquisition turned by 90° (robustness to orientation)")
    ap.add_argument("--average-orientations", action="store_true",
                    help="generate with the 8-orientation average (generate_inline's option)")
    ap.add_argument("--input-pad-px", type=int, default=0,
                    help="reflect-pad the speckle images by this many px before the network and "
                         "crop the output back (a study of the border; default 0)")
    args = ap.parse_args()

    from napari_specktrack.learn.inference import load_generator

    model = load_generator(args.generator, "cpu")
    by_size = {size: _evaluate_size(args, model, size) for size in args.size}
    if len(by_size) > 1:
        print("\n| frame | spheres SSIM | spheres ring / interior (gen / true) | foam SSIM "
              "| foam ring / interior |")
        print("|---|---|---|---|---|")
        for size, r in by_size.items():
            sp, fo = r["spheres"], r["foam"]
            print(f"| {size}² | {sp['ssim']:.3f} | {sp['ring_ratio_gen_true']:.2f} / "
                  f"{sp['interior_ratio_gen_true']:.2f} | {fo['ssim']:.3f} | "
                  f"{fo['ring_ratio_gen_true']:.2f} / {fo['interior_ratio_gen_true']:.2f} |")
    if args.json:
        from napari_specktrack.io import write_json

        write_json(args.json, by_size[args.size[0]] if len(by_size) == 1
                   else {str(k): v for k, v in by_size.items()})


if __name__ == "__main__":
    main()
