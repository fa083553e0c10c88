"""The ``specktrack`` command line (DESIGN.md "Command line": a stable contract).

Each sub-command lives in the module of the code it drives and exposes two functions::

    def add_arguments(parser: argparse.ArgumentParser) -> None: ...
    def run(args: argparse.Namespace) -> int: ...

Those modules must be cheap to import (no torch, no Qt at module level) so that
``specktrack --help`` is instant. Exit status: 0 on success; 2 for every error a user can
cause — a :class:`SpecktrackError`, printed as one line naming the fix, or a usage mistake
that argparse reports (unknown option, a word where a number belongs) — with no traceback;
130 when interrupted (Ctrl-C). Anything else is a bug of this package: it propagates with its
traceback, so it can be reported.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from . import __version__
from .errors import SpecktrackError

#: sub-command name → (module implementing it, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("napari_specktrack._demo", "napari with simulated data and all widgets"),
    "simulate": (
        "napari_specktrack.simulate._cli",
        "simulate a speckle-tracking acquisition with known truth",
    ),
    "retrieve": (
        "napari_specktrack.retrieval._cli",
        "phase, transmission and dark-field from speckle images",
    ),
    "generate": (
        "napari_specktrack.learn._cli_generate",
        "generate the in-line image with the trained network",
    ),
    "train": ("napari_specktrack.learn._cli_train", "train the generator on a pair folder"),
    "pairs": ("napari_specktrack.learn._cli_pairs", "cut training pairs from measured stacks"),
    "reconstruct": (
        "napari_specktrack.tomo._cli",
        "CT slices from phase projections by filtered back-projection",
    ),
    "batch": (
        "napari_specktrack.batch._cli",
        "retrieve every frame of a sequence on a dask cluster into a resumable zarr store",
    ),
    "profile": (
        "napari_specktrack.physics._profile_cli",
        "line profile against the theoretical sphere phase",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered sub-command."""
    parser = argparse.ArgumentParser(
        prog="specktrack",
        description="Single-shot X-ray speckle-tracking imaging with deep-learning phase correction.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=help_text, description=module.__doc__)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``specktrack`` console script; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse printed the usage error (2), or --help/--version (0)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    try:
        return int(args._run(args) or 0)
    except SpecktrackError as exc:
        line = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
        print(f"specktrack {args.command}: error: {line}", file=sys.stderr)  # always one line
        return 2
    except KeyboardInterrupt:
        print(f"specktrack {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
