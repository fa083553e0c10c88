"""Generate the in-line image(s) from a sample speckle image (or stack) and its reference.

Writes the in-line image(s) to --out (a TIFF, float32, flat-field units) with the provenance
in its metadata and in a JSON sidecar (same name, .json). Raw frames are corrected with
--dark/--flat first, as `retrieve` does. An existing --out is refused unless --overwrite.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .._cli_options import add_generator_options, add_inputs, add_overwrite

    add_inputs(parser, sample_help="sample speckle image or stack")
    parser.add_argument("--generator", default="pretrained",
                        help="a shipped model ('pretrained', the default; 'lite-instance', the "
                             "earlier default) or a weights file")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    add_generator_options(parser)
    parser.add_argument("--out", type=Path, required=True, help="output TIFF (inline.tif)")
    add_overwrite(parser, "output file")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from .._cli_options import generator_spec, progress_bar
    from ..errors import InputError
    from ..io import read_tiff_metadata, write_json, write_tiff
    from ..pipeline import UNITS_PER_FRAME, generate
    from ..pipeline.files import load_frames
    from ..safety import OutputSet

    out = Path(args.out)
    if out.suffix.lower() not in (".tif", ".tiff"):
        raise InputError(f"--out {out} must name a .tif file")
    spec = generator_spec(args, args.generator, args.device)
    frames, inputs, paths = load_frames(args.reference, args.sample, dark=args.dark, flat=args.flat)
    sidecar = out.with_suffix(".json").name
    outputs = OutputSet(out, inputs=paths, overwrite=args.overwrite, files=[out.name, sidecar])
    geometry = None
    if str(args.sample).lower().endswith((".tif", ".tiff")):
        from ..geometry import Geometry

        g = read_tiff_metadata(args.sample).get("geometry")
        geometry = Geometry.from_dict(g) if isinstance(g, dict) else None
    progress, close = progress_bar("generate", scale=UNITS_PER_FRAME)
    try:
        result = generate(frames, spec, geometry=geometry, inputs=inputs, progress=progress)
    finally:
        close()
    meta = {"geometry": result.provenance["geometry"], "provenance": result.provenance, "unit": "1"}
    with outputs:
        write_tiff(outputs.path(out.name), np.asarray(result.inline, np.float32), metadata=meta)
        write_json(outputs.path(sidecar), meta)
    print(f"wrote {out} ({result.meta.get('preset')} generator on {result.device})")
    return 0
