"""Retrieve phase, transmission and dark-field from a reference and sample speckle image.

Writes phase.tif (rad), transmission.tif, darkfield.tif, dx.tif and dy.tif (detector pixels),
quality.tif (peak ZNCC) and provenance.json into --out; with --generator and no --inline, also
inline_generated.tif. A sample stack (n, y, x) gives stacks. Geometry comes from --geometry, or
from the sample TIFF's metadata when it carries one (files written by this plugin do).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .integrate import INTEGRATION_METHODS

    parser.add_argument("--reference", type=Path, required=True, help="speckle-only reference TIFF")
    parser.add_argument("--sample", type=Path, required=True, help="sample speckle image or stack TIFF")
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--inline", type=Path, help="measured in-line image(s) of the sample (no membrane)")
    src.add_argument(
        "--generator", help="'pretrained' or a weights file: generate the in-line image with the network"
    )
    parser.add_argument("--average-orientations", action="store_true",
                        help="with --generator: average the network's outputs over all 8 flips and "
                             "quarter turns (8x the time, a more accurate in-line image)")
    parser.add_argument(
        "--method",
        choices=("conventional", "double-exposure"),
        help="default: double-exposure when --inline/--generator is given, else conventional",
    )
    parser.add_argument("--geometry", type=Path, help="geometry.json (energy keV, lengths in metres)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--window-px", type=int, help="correlation window (odd; default: suggested)")
    parser.add_argument("--search-px", type=int, help="search range ± px (default: suggested)")
    parser.add_argument("--integration", choices=INTEGRATION_METHODS, default="frankot-chellappa")
    parser.add_argument("--background", type=Path, help="TIFF mask (non-zero = empty beam) for phase 0")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")


def _progress(done: int, total: int) -> None:
    print(f"\rretrieve: frame {done}/{total}", end="" if done < total else "\n", file=sys.stderr,
          flush=True)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..errors import GeometryError, InputError
    from ..geometry import Geometry
    from ..io import read_tiff, read_tiff_metadata, write_json, write_tiff
    from .methods import conventional, double_exposure
    from .tracking import suggest_parameters

    reference = read_tiff(args.reference)
    sample = read_tiff(args.sample)
    if args.geometry is not None:
        geometry = Geometry.from_json(args.geometry)
    else:
        meta = read_tiff_metadata(args.sample).get("geometry")
        if meta is None:
            raise GeometryError(
                f"no geometry: {args.sample} carries none; pass --geometry geometry.json "
                f"(energy_keV, pixel_size_m, distance_m, source_distance_m, source_size_m)"
            )
        geometry = Geometry.from_dict(meta)
    method = args.method or ("double-exposure" if (args.inline or args.generator) else "conventional")
    inputs = [args.reference, args.sample]
    inline = None
    generated = False
    if args.inline is not None:
        inline = read_tiff(args.inline)
        inputs.append(args.inline)
    elif args.generator is not None:
        try:
            from ..learn.inference import generate_inline
        except ImportError as exc:
            raise InputError(
                f"the generator is not available in this installation ({exc}); pass a measured "
                f"--inline image instead"
            ) from exc
        inline = generate_inline(sample, reference, generator=args.generator, device=args.device,
                                 average_orientations=args.average_orientations)
        generated = True
    if method == "double-exposure" and inline is None:
        raise InputError("--method double-exposure needs --inline I.tif or --generator pretrained")
    if method == "conventional" and inline is not None:
        raise InputError("--inline/--generator are only used by --method double-exposure; drop one")

    window, search = args.window_px, args.search_px
    suggestion = None
    if window is None or search is None:
        suggestion = suggest_parameters(reference, sample)
        window = window or int(suggestion["window_px"])
        search = search or int(suggestion["search_px"])
    background = None
    if args.background is not None:
        background = read_tiff(args.background) != 0
    kwargs = dict(window_px=window, search_px=search, integration=args.integration,
                  background=background, device=args.device, progress=_progress)
    if method == "conventional":
        result = conventional(sample, reference, geometry, **kwargs)
    else:
        result = double_exposure(sample, reference, inline, geometry, **kwargs)

    out = args.out
    provenance = {
        "step": "retrieve",
        "params": result.params,
        "suggestion": suggestion,
        "inputs": {"reference": str(args.reference), "sample": str(args.sample),
                   "inline": str(args.inline) if args.inline else None,
                   "generator": args.generator,
                   "average_orientations": bool(args.generator and args.average_orientations)},
    }
    meta = {"geometry": geometry.to_dict(), "provenance": provenance}
    units = {"phase": "rad", "transmission": "1", "darkfield": "1", "dx": "px", "dy": "px",
             "quality": "ZNCC"}
    arrays = {"phase": result.phase_rad, "transmission": result.transmission,
              "darkfield": result.darkfield, "dx": result.dx_px, "dy": result.dy_px,
              "quality": result.quality}
    for name, arr in arrays.items():
        write_tiff(out / f"{name}.tif", np.asarray(arr, np.float32),
                   metadata={**meta, "unit": units[name]}, inputs=inputs)
    if generated:
        write_tiff(out / "inline_generated.tif", np.asarray(inline, np.float32), metadata=meta,
                   inputs=inputs)
    write_json(out / "provenance.json", {**provenance, "geometry": geometry.to_dict()})
    flagged = 100.0 * (1 - float(np.mean(result.valid)))
    print(f"{method}: window {window} px, search ±{search} px, {flagged:.1f} % pixels in-painted; "
          f"wrote {out}")
    return 0
