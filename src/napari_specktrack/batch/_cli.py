"""Retrieve every frame of a sequence on a dask cluster into a resumable zarr store.

--sample is a TIFF stack, a glob or folder of TIFF frames (sorted by their numbers), an HDF5
dataset (file.h5[:/dataset]) or a zarr array. --out DIR.zarr becomes a group with arrays phase,
transmission, darkfield, dx, dy, quality ((n, y, x) float32, one chunk per frame) and the
geometry and provenance in its attributes; with the same options it equals `retrieve` on the
same frames. Without --scheduler a local cluster of --workers processes runs it (default one per
core; 0 runs in this process); with it, a running dask scheduler does. A killed run started
again with the same command computes only the frames not yet written. With --follow it keeps
processing frames as they land until Ctrl-C. A bad frame is reported by its index and the
others complete (exit status 1).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .._cli_options import add_inputs, add_overwrite, add_retrieval_options

    add_inputs(parser, sample_help="frames: a TIFF stack, 'frames/*.tif', a folder, file.h5[:/dataset] "
                                   "or a zarr array")
    add_retrieval_options(parser)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int,
                       help="local worker processes (default: one per core; 0: in this process)")
    where.add_argument("--scheduler", help="address of a running dask scheduler (tcp://host:8786)")
    parser.add_argument("--follow", action="store_true",
                        help="keep processing frames as they land in --sample until Ctrl-C")
    parser.add_argument("--poll-s", type=float, default=1.0,
                        help="with --follow: seconds between looks for new frames (default 1)")
    parser.add_argument("--out", required=True, help="the zarr store (DIR.zarr)")
    add_overwrite(parser, "store (the same command resumes without it)")


def _geometry(args: argparse.Namespace):
    from ..pipeline.files import load_geometry
    from .sources import open_frames

    if args.geometry is not None:
        return load_geometry(args.geometry, args.sample)
    seq = open_frames(args.sample, allow_empty=True)
    carrier = seq.files[0] if seq.kind == "tiff-files" and seq.files else seq.path
    return load_geometry(None, carrier)


def _stop_on_interrupt() -> tuple[dict, dict]:
    stop = {"now": False}

    def request(signum: int, _frame: object) -> None:
        if stop["now"]:
            raise KeyboardInterrupt
        stop["now"] = True
        print(f"\n{signal.Signals(signum).name}: stopping after the frames in flight (again to "
              f"stop at once)", file=sys.stderr, flush=True)

    previous = {s: signal.signal(s, request) for s in (signal.SIGINT, signal.SIGTERM)}
    return stop, previous


def run(args: argparse.Namespace) -> int:
    from .._cli_options import progress_bar, retrieval_params
    from ..errors import InputError
    from .run import plan_batch, run_batch

    if args.workers is not None and args.workers < 0:
        raise InputError(f"--workers must be ≥ 0, got {args.workers}")
    if args.poll_s <= 0:
        raise InputError(f"--poll-s must be positive, got {args.poll_s}")
    params = retrieval_params(args)
    cores = os.cpu_count() or 1
    threads = cores if args.workers == 0 else max(1, cores // (args.workers or cores))
    plan = plan_batch(args.sample, args.reference, params, _geometry(args), args.out,
                      inline=None if args.inline is None else str(args.inline), dark=args.dark,
                      flat=args.flat, background=args.background, overwrite=args.overwrite,
                      follow=args.follow, threads=threads,
                      regions=None if args.fusion_regions is None else str(args.fusion_regions))
    print(f"batch: {len(plan.todo)} of {len(plan.job.sample)} frames to do (window "
          f"{plan.job.params.window_px} px, search ±{plan.job.params.search_px} px)", file=sys.stderr)
    progress, close = progress_bar("batch")
    stop, previous = _stop_on_interrupt()
    try:
        report = run_batch(plan, workers=args.workers, scheduler=args.scheduler, progress=progress,
                           cancel=lambda: stop["now"], follow=args.follow, poll_s=args.poll_s)
    finally:
        close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    for i, message in report.bad:
        print(f"specktrack batch: frame {i}: {message}", file=sys.stderr)
    print(f"batch: {report.computed} frames computed ({report.frames_per_s:.2f} frames/s), "
          f"{report.skipped} already done, {len(report.bad)} bad; wrote {report.out}")
    return 1 if report.bad else 0
