"""Simulate a speckle-tracking acquisition with known truth.

Writes reference.tif, sample.tif, inline.tif, geometry.json, phantom.json, simulation.json and
the truth (truth_phase.tif in rad, truth_transmission.tif, truth_darkfield.tif, truth_dx.tif and
truth_dy.tif in pixels, truth_inline.tif: the in-line image before photon noise). With
--pairs N, writes a training pair folder instead (inputs/, targets/, references/, pairs.json)
from N acquisitions with seeds S … S+N−1; the targets are noise-free unless --noisy-targets;
--validation-fraction holds some out for validation; an existing pair folder is refused
unless --append or --overwrite. --append may add frames of another --size (each pair records
its shape); the command then names the sizes (training uses a frame smaller than --crop
whole, so its sides must be multiples of the generator's 2^n_downsampling).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--phantom",
        nargs="+",
        default=["spheres"],
        choices=("spheres", "spheres-varied", "foam", "foaming", "smooth", "rotation"),
        help="phantom (several only with --pairs, which cycles through them)",
    )
    parser.add_argument("--size", type=int, default=512, help="image side in pixels (default 512)")
    parser.add_argument(
        "--frames", type=int, default=10, help="frames of 'foaming' (20 frames/s) or angles of 'rotation'"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--geometry", type=Path, help="geometry.json (default: the paper's beamline)")
    parser.add_argument("--psf-sigma-px", type=float, help="detector PSF σ in pixels (default 2.0)")
    parser.add_argument("--photons", type=float, help="photons per pixel (default 1e4); 0 = no noise")
    parser.add_argument("--oversample", type=int, help="fine-grid factor (default 4)")
    parser.add_argument("--pairs", type=int, help="write N training pairs instead of one acquisition")
    parser.add_argument("--noisy-targets", action="store_true",
                        help="with --pairs: targets keep their photon noise, as measured ones would "
                             "(default: noise-free in-line images)")
    parser.add_argument("--append", action="store_true",
                        help="with --pairs: add the pairs to an existing pair folder")
    parser.add_argument("--validation-fraction", type=float, default=0.0,
                        help="with --pairs: fraction of the pairs held out for validation "
                             "(seeded by --seed; default 0)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing acquisition or pair folder whole (default: refuse)")


def _config(args: argparse.Namespace):
    from .imaging import SimulationConfig

    changes = {}
    if args.psf_sigma_px is not None:
        changes["detector_psf_sigma_px"] = args.psf_sigma_px
    if args.photons is not None:
        changes["photons_per_px"] = None if args.photons == 0 else args.photons
    if args.oversample is not None:
        changes["oversample"] = args.oversample
    return SimulationConfig(**changes)


def _progress(label: str):
    def report(done: int, total: int) -> None:
        width = 30
        filled = int(width * done / max(total, 1))
        print(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end="",
              file=sys.stderr, flush=True)
        if done == total:
            print(file=sys.stderr)

    return report


def _report_sizes(folder: Path) -> None:
    """Name the frame sizes of a pair folder that holds several (appended with another --size).

    ``specktrack train`` uses a frame smaller than its --crop whole (``check_crop``), so the
    message says which frames that will be rather than asking for a smaller crop."""
    from collections import Counter

    from ..learn.pairs import read_index

    sizes = Counter(tuple(r["shape"]) for r in read_index(folder)["pairs"] if r["shape"])
    if len(sizes) > 1:
        listed = ", ".join(f"{h}×{w} px ({k})" for (h, w), k in sorted(sizes.items()))
        h, w = min(h for h, _ in sizes), min(w for _, w in sizes)
        print(f"{folder} holds pairs of {len(sizes)} sizes: {listed}; specktrack train uses "
              f"frames smaller than its --crop whole (a crop of {h} {w} or less cuts every frame)")


def run(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from ..geometry import Geometry
    from .imaging import simulate

    geometry = Geometry.from_json(args.geometry) if args.geometry else Geometry()
    config = _config(args)
    if args.pairs is not None:
        from .pairs import write_simulated_pairs

        out = write_simulated_pairs(
            args.out, args.pairs, args.size, phantoms=args.phantom, seed=args.seed,
            geometry=geometry, config=config, progress=_progress("pairs"),
            clean_targets=not args.noisy_targets, append=args.append, overwrite=args.overwrite,
            validation_fraction=args.validation_fraction,
        )
        print(f"wrote {args.pairs} training pairs to {out}")
        _report_sizes(out)
        return 0
    if len(args.phantom) != 1:
        raise InputError("give one --phantom for an acquisition (several only with --pairs)")
    from ..safety import OutputSet
    from .acquisition import Acquisition

    outputs = OutputSet(args.out, inputs=[args.geometry], overwrite=args.overwrite,
                        known=Acquisition.FILES)
    acq = simulate(
        args.phantom[0], args.size, seed=args.seed, geometry=geometry, config=config,
        frames=args.frames, progress=_progress(args.phantom[0]),
    )
    acq.save(outputs)
    vis = float(acq.reference.std() / acq.reference.mean())
    print(
        f"wrote {args.phantom[0]} {acq.sample.shape} to {args.out} in {acq.info['seconds']:.1f} s; "
        f"reference visibility {vis:.3f}, phase {float(acq.truth_phase.min()):.1f}…"
        f"{float(acq.truth_phase.max()):.1f} rad"
    )
    return 0
