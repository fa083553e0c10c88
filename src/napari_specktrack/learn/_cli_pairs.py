"""Cut training pairs from measured stacks: input = sample − reference, target = in-line image.

Frame i of --sample and frame i of --inline (taken without the membrane) make the pairs of
frame i; every crop box cuts input, target and reference alike. --random N places N boxes
per frame at seeded random positions, --grid a regular grid of non-overlapping boxes. Each
crop is flagged (edge, saturated, dead, empty, no_speckle); crops with an --exclude flag are
left out. The target's shift from the input is measured per frame (warned above 1 px;
--register correct applies it). Writes the pair folder (inputs/, targets/, references/,
pairs.json with source files and SHA-256, frame, crop box, shift, split, flags); an
existing folder is refused unless --overwrite (replaced whole) or --append.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .._cli_options import add_inputs, add_overwrite
    from .curation import DEFAULT_CROP_YX_PX, FLAGS, NETWORK_MULTIPLE
    from .curation_io import DEFAULT_EXCLUDE, REGISTER_MODES

    add_inputs(parser, sample_help="sample speckle stack (n, y, x) or image")
    parser.add_argument("--inline", type=Path, required=True,
                        help="in-line stack (no membrane) matching --sample frame for frame")
    parser.add_argument("--geometry", type=Path,
                        help="geometry.json (default: the one the sample TIFF carries)")
    parser.add_argument("--crop", type=int, nargs=2, default=DEFAULT_CROP_YX_PX, metavar=("H", "W"),
                        help=f"crop size in pixels (default {DEFAULT_CROP_YX_PX[0]} "
                             f"{DEFAULT_CROP_YX_PX[1]}, the paper's)")
    place = parser.add_mutually_exclusive_group(required=True)
    place.add_argument("--random", type=int, metavar="N", help="N random crops per frame")
    place.add_argument("--grid", action="store_true", help="a regular grid of crops per frame")
    parser.add_argument("--seed", type=int, default=0, help="seed of positions and split (0)")
    parser.add_argument("--validation-fraction", type=float, default=0.1,
                        help="fraction of the pairs held out for validation (default 0.1)")
    parser.add_argument("--register", choices=REGISTER_MODES, default="warn",
                        help="target shift: measure and warn above 1 px (default), also correct "
                             "it (sub-pixel, recorded), or off")
    parser.add_argument("--exclude", nargs="*", choices=FLAGS, default=list(DEFAULT_EXCLUDE),
                        metavar="FLAG", help=f"leave out crops with these flags (default "
                                             f"{' '.join(DEFAULT_EXCLUDE)}; of {', '.join(FLAGS)})")
    parser.add_argument("--saturation-level", type=float,
                        help="raw counts at which a pixel is saturated (default 0.98 × the "
                             "integer dtype's maximum)")
    parser.add_argument("--multiple", type=int, default=NETWORK_MULTIPLE,
                        help=f"crop sides must be multiples of this (default {NETWORK_MULTIPLE}: "
                             f"2^4 down-samplings of the paper preset; lite needs 8)")
    parser.add_argument("--out", type=Path, required=True, help="pair folder to write")
    add_overwrite(parser, "pair folder")
    parser.add_argument("--append", action="store_true",
                        help="add the pairs to an existing pair folder (same geometry)")


def _check_args(args: argparse.Namespace) -> str:
    """Every number and path checked before anything is read; returns the write mode."""
    from ..errors import FileFormatError, InputError
    from ..pipeline.files import split_dataset
    from .curation import check_crop

    if args.multiple < 1:
        raise InputError(f"--multiple {args.multiple} must be ≥ 1")
    check_crop(args.crop, multiple=args.multiple)
    if args.random is not None and args.random < 1:
        raise InputError(f"--random {args.random}: the number of crops per frame must be ≥ 1")
    if not 0.0 <= args.validation_fraction < 1.0:
        raise InputError(f"--validation-fraction {args.validation_fraction} must be in [0, 1)")
    if args.saturation_level is not None and not args.saturation_level > 0:
        raise InputError(f"--saturation-level {args.saturation_level} must be positive counts")
    if args.overwrite and args.append:
        raise InputError("--overwrite and --append exclude each other: replace the folder, or "
                         "add to it")
    for flag in ("reference", "sample", "inline", "dark", "flat", "geometry"):
        value = getattr(args, flag)
        if value is not None and not split_dataset(value)[0].is_file():
            raise FileFormatError(f"--{flag} {value} does not exist; check the path")
    return "append" if args.append else ("overwrite" if args.overwrite else "new")


def run(args: argparse.Namespace) -> int:
    from .._cli_options import progress_bar
    from ..pipeline.files import load_frames, load_geometry, split_dataset
    from .curation import CurationSession
    from .curation_io import auto_review, export_pairs, propose
    from .pair_writer import PairWriter
    from .review import Review

    mode = _check_args(args)
    geometry = load_geometry(args.geometry, split_dataset(args.sample)[0])
    files = [split_dataset(p)[0] for p in (args.reference, args.sample, args.inline, args.dark,
                                            args.flat) if p is not None]
    PairWriter(args.out, geometry, mode=mode, inputs=files)  # refuses a bad --out before reading
    frames, inputs, _paths = load_frames(args.reference, args.sample, inline=args.inline,
                                         dark=args.dark, flat=args.flat)
    session = CurationSession(frames, crop_yx_px=args.crop, multiple=args.multiple,
                              inputs=inputs, geometry=geometry,
                              saturation_level=args.saturation_level)
    review = Review(propose(session, random=args.random, grid=args.grid, seed=args.seed))
    if mode == "append" and (args.out / "pairs.json").exists():
        _check_new_names(review, args.out)
    progress, close = progress_bar("review", unit="frame")
    try:
        report = auto_review(session, review, exclude=args.exclude, register=args.register,
                             progress=progress)
    finally:
        close()
    for line in report.warnings:
        print(f"specktrack pairs: warning: {line}", file=sys.stderr)
    progress, close = progress_bar("write", unit="pair")
    params = {"crop_yx_px": list(args.crop), "random": args.random, "grid": bool(args.grid),
              "register": args.register, "exclude": list(args.exclude),
              "multiple": args.multiple, "saturation_level": args.saturation_level}
    try:
        result = export_pairs(session, review, args.out, validation_fraction=args.validation_fraction,
                              seed=args.seed, mode=mode, params=params, progress=progress)
    finally:
        close()
    flagged = ", ".join(f"{k} {v}" for k, v in sorted(report.flag_counts.items())) or "none"
    shifts = [max(abs(a), abs(b)) for a, b in report.shifts.values()]
    shift = f"; largest target shift {max(shifts):.2f} px" if shifts else ""
    total = f" (now {result.total})" if result.total != len(result.names) else ""
    print(f"wrote {len(result.names)} pairs from {session.n_frames} frame(s) to {result.path}"
          f"{total}, {result.n_validation} for validation; left out {report.rejected} "
          f"crop(s); flags: {flagged}{shift}")
    return 0


def _check_new_names(review, out: Path) -> None:
    """Refuse, before computing, to append crops the folder already holds."""
    from ..errors import InputError
    from .pairs import read_index

    have = {r["name"] for r in read_index(out)["pairs"]}
    clash = [c.pair_name() for c in review.items if c.pair_name() in have]
    if clash:
        raise InputError(f"{out} already holds {len(clash)} of these crops (e.g. {clash[0]}); "
                         f"append with another --seed or crop placement")
