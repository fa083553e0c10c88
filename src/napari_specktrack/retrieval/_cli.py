"""Retrieve phase, transmission and dark-field from a reference and sample speckle image.

Writes phase.tif (rad), transmission.tif, darkfield.tif, dx.tif and dy.tif (detector pixels),
quality.tif (peak ZNCC) and provenance.json into the folder --out; with --generator, also
inline_generated.tif. A sample stack (n, y, x) gives stacks. Raw frames are corrected with
--dark/--flat as (I − dark) / (flat − dark). Geometry comes from --geometry, or from the sample
TIFF's metadata when it carries one (files written by this plugin do). An existing result
folder is refused unless --overwrite is given (the new set then replaces it whole; a folder
that holds other files than a result's is never replaced). A progress bar on stderr moves
band by band through each frame.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .._cli_options import add_inputs, add_overwrite, add_retrieval_options

    add_inputs(parser, sample_help="sample speckle image or stack (TIFF, or file.h5[:/dataset])")
    add_retrieval_options(parser)
    parser.add_argument("--out", required=True, help="output folder")
    add_overwrite(parser, "result folder")


def run(args: argparse.Namespace) -> int:
    from .._cli_options import progress_bar, retrieval_params
    from ..io import read_tiff
    from ..pipeline import INLINE_FIELD, UNITS_PER_FRAME, retrieve
    from ..pipeline.files import RESULT_FILES, load_frames, load_geometry, write_result
    from ..provenance import file_input
    from ..safety import OutputSet

    params = retrieval_params(args)
    frames, inputs, paths = load_frames(args.reference, args.sample, inline=args.inline,
                                        dark=args.dark, flat=args.flat)
    background = None
    if args.background is not None:
        background = read_tiff(args.background) != 0
        inputs["background"] = file_input(args.background)
        paths.append(args.background)
    regions = None
    if args.fusion_regions is not None:
        regions = read_tiff(args.fusion_regions)
        inputs["fusion_regions"] = file_input(args.fusion_regions)
        paths.append(args.fusion_regions)
    geometry = load_geometry(args.geometry, args.sample)
    if args.geometry is not None:
        paths.append(args.geometry)
    outputs = OutputSet(args.out, inputs=paths, overwrite=args.overwrite,
                        known=(*RESULT_FILES, INLINE_FIELD.file))
    progress, close = progress_bar("retrieve", scale=UNITS_PER_FRAME)
    try:
        result = retrieve(frames, geometry, params, background=background, regions=regions,
                          inputs=inputs,
                          progress=progress, band_progress=True)
    finally:
        close()
    with outputs:
        write_result(result, outputs)
    for message in result.warnings:
        print(f"specktrack retrieve: warning: {message}", file=sys.stderr)
    p = result.params
    flagged = 100.0 * (1 - float(result.retrieval.valid.mean()))
    files = ", ".join(RESULT_FILES[:3]) + ", …"
    print(f"{p.method}: window {p.window_px} px, search ±{p.search_px} px, {flagged:.1f} % pixels "
          f"in-painted; wrote {outputs.target} ({files})")
    return 0
