"""Reconstruct CT slices from a stack of phase projections by filtered back-projection.

--projections is (angles, rows, columns): a TIFF stack, an HDF5 dataset (file.h5:/dataset) or a
zarr array (DIR.zarr:phase, e.g. a `specktrack batch` store of a rotation series). The angles are
evenly spaced from START (included) to STOP (excluded) degrees: 360 projections over 0 180 are 0,
0.5, …, 179.5°. Without --center-px the rotation axis is found automatically (the 0° projection
registered with the mirrored 180° one, refined by a sharpness metric, sub-pixel). SLICES.tif is
(rows, N, N) float32 with N = columns, written slab by slab; SLICES.json beside it holds the
provenance record plus center_px (the centre used, in columns, 0-based), angles_deg, filter and
quantity. --quantity delta (with --geometry) gives the refractive-index decrement δ per voxel,
δ = −f / (k · p/M) for f the FBP result in radians per detector pixel; phase (the default) gives f.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .._cli_options import add_overwrite
    from .filters import DEFAULT_FILTER, FILTERS
    from .units import QUANTITIES

    parser.add_argument("--projections", required=True,
                        help="(angles, rows, columns) stack: P.tif, file.h5:/dataset or DIR.zarr:phase")
    parser.add_argument("--angles-deg", type=float, nargs=2, required=True, metavar=("START", "STOP"),
                        help="first angle (included) and last (excluded), degrees")
    parser.add_argument("--center-px", type=float,
                        help="rotation axis as a detector column, 0-based, sub-pixel (default: found)")
    parser.add_argument("--filter", choices=FILTERS, default=DEFAULT_FILTER)
    parser.add_argument("--rows", type=int, nargs=2, metavar=("R0", "R1"),
                        help="rows (= slices) R0 … R1−1 only (default: all)")
    parser.add_argument("--geometry", type=Path, help="geometry.json (needed for --quantity delta)")
    parser.add_argument("--quantity", choices=QUANTITIES, default="phase",
                        help="phase: radians per detector pixel (default); delta: δ per voxel")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    parser.add_argument("--out", type=Path, required=True, help="output TIFF (SLICES.tif)")
    add_overwrite(parser, "output files")


def read_projections(spec: str):
    """The (angles, rows, columns) stack of ``--projections``, sliceable without loading it."""
    from ..errors import FileFormatError
    from ..pipeline.files import read_image

    text = str(spec)
    if ".zarr" in text:
        import zarr

        head, _, tail = text.partition(".zarr")
        store = Path(head + ".zarr")
        if not store.exists():
            raise FileFormatError(f"{store} does not exist; check --projections")
        try:
            node = zarr.open(str(store), mode="r")
            return node[tail.lstrip(":/") or "phase"] if hasattr(node, "keys") else node
        except (KeyError, ValueError, OSError) as exc:
            raise FileFormatError(f"{text} is not a readable zarr array ({exc}); give "
                                  f"DIR.zarr:phase") from exc
    return read_image(text)


def run(args: argparse.Namespace) -> int:
    import sys

    from .._cli_options import progress_bar
    from ..errors import InputError
    from ..geometry import Geometry
    from ..pipeline.files import split_dataset
    from ..provenance import file_input
    from ..safety import OutputSet
    from .run import plan_reconstruction, write_slices

    out = Path(args.out)
    if out.suffix.lower() not in (".tif", ".tiff"):
        raise InputError(f"--out {out} must name a .tif file (SLICES.tif)")
    if args.quantity == "delta" and args.geometry is None:
        raise InputError("--quantity delta needs --geometry geometry.json (δ = −f / (k · p/M))")
    geometry = Geometry.from_json(args.geometry) if args.geometry is not None else None
    projections = read_projections(args.projections)
    source = split_dataset(str(args.projections).split(".zarr")[0] + ".zarr"
                           if ".zarr" in str(args.projections) else args.projections)[0]
    inputs = {"projections": file_input(source) if source.is_file()
              else {"sequence": {"kind": "zarr", "path": str(source.resolve())}}}
    paths = [p for p in (source, args.geometry) if p is not None]
    sidecar = out.with_suffix(".json").name
    outputs = OutputSet(out, inputs=paths, overwrite=args.overwrite, files=[out.name, sidecar])
    plan = plan_reconstruction(projections, args.angles_deg, center_px=args.center_px,
                               filter_name=args.filter, rows=args.rows, quantity=args.quantity,
                               geometry=geometry, device=args.device, inputs=inputs)
    how = "found" if args.center_px is None else "given"
    print(f"reconstruct: centre {plan.center_px:.2f} px ({how}), {plan.setup.n_angles} angles, "
          f"{plan.n_slices} slices of {plan.setup.n_columns}² px", file=sys.stderr)
    progress, close = progress_bar("reconstruct", unit="slice")
    try:
        with outputs:
            write_slices(plan, projections, outputs.path(out.name), outputs.path(sidecar),
                         progress=progress)
    finally:
        close()
    print(f"wrote {out} and {out.with_suffix('.json')} (centre {plan.center_px:.2f} px, "
          f"{args.quantity})")
    return 0
