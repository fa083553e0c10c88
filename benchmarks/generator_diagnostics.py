"""Two diagnoses of the generated in-line image (docs/generator-size.md, last section).

``edges``: where on the `rotation` phantom's CT projections a generator's in-line image is
wrong — the mean |generated − noise-free true| (flat-field units) in the outer ``--edge-px``
columns on either side, where the PE tube's walls lie (outer radius 0.46 × the side), against
the columns between; and SSIM over the frame. Projections every 30° over [0°, 180°), 256², seed 0.

``bands``: which spatial frequencies of a generated image cost the double-exposure phase. The
RMS phase error (ring, interior) of double exposure with five in-line images — the measured
(noisy) one, the noise-free truth, the generated one, the generated high-pass over the truth's
low-pass, and the truth's high-pass over the generated low-pass (a Gaussian of ``--sigma-px``
splits the bands) — each over the error with the measured image. Spheres, validation seeds.

    python benchmarks/generator_diagnostics.py edges --generators pretrained lite-instance
    python benchmarks/generator_diagnostics.py bands --generator pretrained [--sizes 256 512]
"""

from __future__ import annotations

import argparse

import numpy as np


def edges(args) -> None:
    from skimage.metrics import structural_similarity

    from napari_specktrack.learn.inference import generate_inline, load_generator
    from napari_specktrack.simulate import simulate

    acq = simulate("rotation", args.size, seed=args.seed, angles_deg=np.arange(0, 180, 30.0))
    e = args.edge_px
    print(f"{acq.sample.shape[0]} projections of {args.size}² px; |error| in flat-field units")
    print(f"| generator | SSIM | mean |error|, outer {e} columns | mean |error|, between |")
    print("|---|---|---|---|")
    for name in args.generators:
        model = load_generator(name, "cpu")
        rows = []
        for sample, truth in zip(acq.sample, acq.truth_inline):
            gen = generate_inline(sample, acq.reference, name, device="cpu", _model=model)
            err = np.abs(gen - truth)
            outer = np.r_[0:e, truth.shape[1] - e:truth.shape[1]]
            rows.append((structural_similarity(truth, gen, data_range=float(np.ptp(truth))),
                         err[:, outer].mean(), err[:, e:-e].mean()))
        ssim, out, inner = np.mean(rows, axis=0)
        print(f"| {name} | {ssim:.3f} | {out:.4f} | {inner:.4f} |", flush=True)


def _phase_error(acq, inline) -> tuple[float, float]:
    """RMS phase error (rad; ring, interior) of plain double exposure with ``inline``."""
    from napari_specktrack.retrieval import double_exposure

    ring, interior, core = acq.regions()
    e = double_exposure(acq.sample, acq.reference, inline, acq.geometry,
                        fuse_inline=False).phase_rad - acq.truth_phase
    e = e - e[core].mean()
    return float(np.sqrt(np.mean(e[ring] ** 2))), float(np.sqrt(np.mean(e[interior] ** 2)))


def bands(args) -> None:
    from scipy.ndimage import gaussian_filter

    from napari_specktrack.learn.inference import generate_inline, load_generator
    from napari_specktrack.simulate import simulate

    model = load_generator(args.generator, "cpu")
    s = args.sigma_px
    print(f"ring / interior phase error over the measured in-line image's; bands split at σ {s} px")
    print("| size | seed | noise-free truth | generated | generated high + true low "
          "| true high + generated low |")
    print("|---|---|---|---|---|---|")
    for size in args.sizes:
        for seed in args.seeds:
            acq = simulate("spheres", size, seed=seed)
            gen = generate_inline(acq.sample, acq.reference, args.generator, device="cpu",
                                  _model=model)
            truth = acq.truth_inline
            base = _phase_error(acq, acq.inline)
            cases = (truth, gen, gen - gaussian_filter(gen, s) + gaussian_filter(truth, s),
                     truth - gaussian_filter(truth, s) + gaussian_filter(gen, s))
            cells = [f"{r / base[0]:.2f} / {i / base[1]:.2f}"
                     for r, i in (_phase_error(acq, inline) for inline in cases)]
            print(f"| {size}² | {seed} | " + " | ".join(cells) + " |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    e = sub.add_parser("edges", help="error next to the frame's edges on CT projections")
    e.add_argument("--generators", nargs="+", default=["pretrained", "lite-instance"])
    e.add_argument("--size", type=int, default=256)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--edge-px", type=int, default=40)
    b = sub.add_parser("bands", help="which frequencies of the generated image cost the phase")
    b.add_argument("--generator", default="pretrained")
    b.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    b.add_argument("--seeds", type=int, nargs="+", default=[800, 801])
    b.add_argument("--sigma-px", type=float, default=4.0)
    args = ap.parse_args()
    (edges if args.what == "edges" else bands)(args)


if __name__ == "__main__":
    main()
