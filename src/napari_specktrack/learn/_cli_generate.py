"""Generate the in-line image(s) from a sample speckle image (or stack) and its reference."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reference", type=Path, required=True)
    parser.add_argument("--sample", type=Path, required=True)
    parser.add_argument("--generator", default="pretrained", help="'pretrained' or a weights file")
    parser.add_argument("--out", type=Path, required=True, help="output TIFF (inline.tif)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--tile-px", type=int,
                        help="run layer by layer in tiles of this side, pixels (same result as a "
                             "full frame, bounded device memory; default: full frames)")
    parser.add_argument("--average-orientations", action="store_true",
                        help="average the outputs for all 8 flips and quarter turns (8x the time, "
                             "a more accurate image)")
    parser.add_argument("--batch-size", type=int, default=1,
                        help="frames per full-frame pass (more keeps a GPU busier)")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..io import read_tiff, read_tiff_metadata, write_tiff
    from .inference import generate_inline, load_generator, resolve_device

    reference = read_tiff(args.reference)
    sample = read_tiff(args.sample)
    device = resolve_device(args.device)
    model = load_generator(args.generator, device)
    out = generate_inline(sample, reference, args.generator, device=device, tile_px=args.tile_px,
                          batch_size=args.batch_size,
                          average_orientations=args.average_orientations, _model=model)
    meta = {"geometry": read_tiff_metadata(args.sample).get("geometry"),
            "provenance": {"step": "generate", "generator": model[1].get("path"),
                           "preset": model[1].get("preset"),
                           "tile_px": args.tile_px, "batch_size": args.batch_size,
                           "average_orientations": args.average_orientations,
                           "inputs": [str(args.reference), str(args.sample)]}}
    write_tiff(args.out, np.asarray(out, np.float32), metadata=meta,
               inputs=[args.reference, args.sample])
    print(f"wrote {args.out} ({model[1].get('preset')} generator on {device})")
    return 0
