"""Options shared by several sub-commands, declared once: every command that retrieves
(``retrieve``, ``batch``) takes the same retrieval options and builds the same
:class:`~napari_specktrack.pipeline.RetrievalParams` from them; every command that writes
takes ``--overwrite``; every long step shows a progress bar on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .pipeline.params import (
    INTEGRATIONS,
    METHODS,
    TRACKING_ENGINES,
    GeneratorSpec,
    RetrievalParams,
    parse_region_materials,
)


def add_overwrite(parser: argparse.ArgumentParser, what: str = "result") -> None:
    parser.add_argument("--overwrite", action="store_true",
                        help=f"replace an existing {what} whole (default: refuse)")


def add_inputs(parser: argparse.ArgumentParser, *, sample_help: str) -> None:
    """--reference, --sample, --dark, --flat (TIFF, or HDF5 as file.h5[:/dataset])."""
    parser.add_argument("--reference", type=Path, required=True,
                        help="speckle-only reference image or stack (averaged)")
    parser.add_argument("--sample", type=Path, required=True, help=sample_help)
    parser.add_argument("--dark", type=Path, help="dark frame(s) (averaged): frames become I − dark")
    parser.add_argument("--flat", type=Path,
                        help="open-beam flat frame(s) without membrane (averaged): frames become "
                             "(I − dark) / (flat − dark)")


def add_generator_options(parser: argparse.ArgumentParser, *, device_default: str = "auto") -> None:
    """The fields of :class:`GeneratorSpec` (weights, device, tiles, batch, orientations)."""
    parser.add_argument("--tile-px", type=int,
                        help="run the network layer by layer in tiles of this side, pixels (same "
                             "result as whole frames, bounded device memory)")
    parser.add_argument("--batch-size", type=int, default=1,
                        help="frames per network pass (more keeps a GPU busier)")
    parser.add_argument("--average-orientations", action="store_true",
                        help="average the network's outputs over all 8 flips and quarter turns "
                             "(8x the time, a more accurate in-line image)")
    parser.add_argument("--precision", choices=("auto", "float32", "bfloat16", "float16"),
                        default="auto",
                        help="the network's arithmetic (default auto: float16 on CUDA, bfloat16 on "
                             "a CPU with hardware bf16, ~4x faster; else float32)")


def generator_spec(args: argparse.Namespace, weights: str, device: str) -> GeneratorSpec:
    return GeneratorSpec(weights=str(weights), device=device, tile_px=args.tile_px,
                         batch_size=args.batch_size,
                         average_orientations=bool(args.average_orientations),
                         precision=args.precision).validate()


def add_retrieval_options(parser: argparse.ArgumentParser) -> None:
    """Every option of a retrieval run (shared by ``retrieve`` and ``batch``)."""
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--inline", type=Path,
                     help="measured in-line image(s) of the sample (no membrane), frame for frame")
    src.add_argument("--generator",
                     help="a shipped model ('pretrained'; 'lite-instance', the earlier default) or a "
                          "weights file: generate the in-line image with the network")
    parser.add_argument("--method", choices=METHODS,
                        help="default: double-exposure when --inline/--generator is given, else "
                             "conventional")
    parser.add_argument("--geometry", type=Path,
                        help="geometry.json (energy keV, lengths in metres); default: the one the "
                             "sample TIFF carries")
    parser.add_argument("--window-px", type=int,
                        help="correlation window in detector pixels, odd (default: suggested from "
                             "the speckle size)")
    parser.add_argument("--search-px", type=int,
                        help="search range, ± detector pixels (default: suggested)")
    parser.add_argument("--integration", choices=INTEGRATIONS, default="frankot-chellappa")
    parser.add_argument("--background", type=Path,
                        help="TIFF mask (non-zero = empty beam) where the phase averages 0")
    parser.add_argument("--hot-pixel-threshold", type=float, default=10.0,
                        help="replace isolated pixels beyond this many robust σ (default 10; 0: off)")
    parser.add_argument("--device", default="cpu",
                        help="tracking device: cpu, cuda, cuda:N, mps or auto (default cpu); the "
                             "network runs on --generator-device")
    parser.add_argument("--tracking-engine", choices=TRACKING_ENGINES, default="auto",
                        help="implementation of the correlation search: auto (compiled on the CPU, "
                             "torch on a GPU), compiled or torch; same values to float32 round-off")
    parser.add_argument("--generator-device", default="auto",
                        help="device of the network (default auto: a GPU if present)")
    parser.add_argument("--fuse-inline", action=argparse.BooleanOptionalAction, default=True,
                        help="double exposure: fuse the tracked phase with the in-line image's own "
                             "phase (default; beyond the paper, docs/fusion.md); --no-fuse-inline "
                             "gives the paper's plain method")
    parser.add_argument("--fusion-material",
                        help="material of a one-material sample (e.g. POM) for the fusion's "
                             "absorption model (default: a pure phase object)")
    parser.add_argument("--fusion-regions", type=Path, metavar="LABELS.tif",
                        help="several materials: a TIFF of integer labels (0 = --fusion-material) "
                             "painted where another material's edges lie, e.g. a tube's walls; "
                             "give each label's material with --region-material")
    parser.add_argument("--region-material", action="append", metavar="LABEL=MATERIAL",
                        help="material of one label of --fusion-regions, e.g. 1=PE (repeat for "
                             "more labels)")
    parser.add_argument("--psf-sigma-px", type=float, default=2.0,
                        help="detector PSF σ in detector pixels, for the fusion (default 2.0)")
    add_generator_options(parser)


def retrieval_params(args: argparse.Namespace) -> RetrievalParams:
    """The :class:`RetrievalParams` of parsed :func:`add_retrieval_options` arguments."""
    if args.generator is not None:
        inline: Any = generator_spec(args, args.generator, args.generator_device)
    else:
        inline = "measured" if args.inline is not None else None
    method = args.method or ("double-exposure" if inline is not None else "conventional")
    threshold = args.hot_pixel_threshold or None
    return RetrievalParams(method=method, inline=inline, window_px=args.window_px,
                           search_px=args.search_px, integration=args.integration,
                           device=args.device, hot_pixel_threshold=threshold,
                           fuse_inline=args.fuse_inline, fusion_material=args.fusion_material,
                           fusion_region_materials=parse_region_materials(args.region_material),
                           detector_psf_sigma_px=args.psf_sigma_px,
                           tracking_engine=args.tracking_engine).validate()


def progress_bar(desc: str, unit: str = "frame", scale: int = 1) -> tuple[Callable, Callable]:
    """(progress(done, total), close()) drawing a tqdm bar on stderr; ``scale`` progress steps
    make one ``unit``."""
    from tqdm import tqdm

    bar: dict[str, Any] = {}

    def progress(done: int, total: int) -> None:
        if "bar" not in bar:
            bar["bar"] = tqdm(total=total / scale, desc=desc, unit=unit, file=sys.stderr,
                              mininterval=0.5, leave=True,
                              bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.2f}/{total:.0f} "
                                         "{unit} [{elapsed}<{remaining}]")
        b = bar["bar"]
        b.n = done / scale
        b.refresh()

    def close() -> None:
        if "bar" in bar:
            bar["bar"].close()

    return progress, close
