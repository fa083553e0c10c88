"""Line profile of a phase image against the theoretical phase of spheres (Yu et al., Fig. 6).

Samples the image along a line (pixel coordinates Y0 X0 Y1 X1, pixel centres at integers),
compares it with the theory — spheres of a known material and radius (--sphere, optionally in
a --tube), or the exact phantom of a simulation (--phantom phantom.json) — fits centres, radii
and offset, prints the metrics, and writes the profiles as CSV, the plot as PNG/SVG and the
metrics as JSON. For a stack, --frame picks one frame, or --every-ms overlays one profile per
time node (e.g. every 50 ms at --frame-rate-hz 20).

Example:
  specktrack profile --image out/phase.tif --line 128 0 128 255 --sphere POM 1.3e-4 \\
      --n-spheres 2 --geometry out/geometry.json --out profile/
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--image", required=True, help="phase image (TIFF, rad): (y, x) or a stack (n, y, x)")
    parser.add_argument("--line", required=True, nargs=4, type=float, metavar=("Y0", "X0", "Y1", "X1"),
                        help="line end points in pixels (row, column)")
    parser.add_argument("--geometry", help="geometry.json (default: the geometry in the image's metadata)")
    parser.add_argument("--width", type=int, default=1, metavar="PX",
                        help="average this many parallel lines 1 px apart (default 1)")
    theory = parser.add_argument_group("theory")
    theory.add_argument("--sphere", nargs=2, metavar=("MATERIAL", "RADIUS_M"),
                        help="sphere material (preset such as POM, or FORMULA:DENSITY_G_CM3 such as "
                             "CH2O:1.41) and nominal radius in metres")
    theory.add_argument("--n-spheres", type=int, default=1, help="spheres the line crosses (default 1)")
    theory.add_argument("--medium", default="air", help="surrounding medium (default air)")
    theory.add_argument("--tube", nargs=3, metavar=("MATERIAL", "OUTER_M", "INNER_M"),
                        help="a tube around the spheres: material, outer and inner radius in metres")
    theory.add_argument("--tube-axis", choices=("y", "x"), default="y", help="tube axis (default y)")
    theory.add_argument("--phantom",
                        help="phantom.json of a simulation: the exact theory (instead of --sphere)")
    fit = parser.add_argument_group("fit")
    fit.add_argument("--no-fit", action="store_true", help="compare with the theory only")
    fit.add_argument("--fit-slope", action="store_true", help="also fit a linear background")
    fit.add_argument("--fit-contrast", action="store_true",
                     help="also fit a factor on the spheres' δ (material uncertain)")
    fit.add_argument("--robust", action="store_true", help="soft-L1 loss (tolerates edge artefacts)")
    stack = parser.add_argument_group("stacks (n, y, x)")
    stack.add_argument("--frame", type=int, default=0, help="frame of a stack to profile (default 0)")
    stack.add_argument("--every-ms", type=float, help="overlay one profile every MS milliseconds")
    stack.add_argument("--frame-rate-hz", type=float, default=20.0,
                       help="frames per second of the stack (default 20, the paper's)")
    out = parser.add_argument_group("output")
    out.add_argument("--out", help="folder for profile.csv, profile.png and profile.json")
    out.add_argument("--csv", help="write the profiles (and theory, fit) here")
    out.add_argument("--plot", help="write the plot here (.png, .svg or .pdf)")
    out.add_argument("--json", help="write the metrics here")
    out.add_argument("--x-unit", choices=("um", "px"), default="um", help="plot x axis unit (default µm)")


def _material(text: str) -> Any:
    """``POM`` → "POM"; ``CH2O:1.41`` → {"formula": "CH2O", "density_g_cm3": 1.41}."""
    from ..errors import MaterialError

    if ":" not in text:
        return text
    formula, _, density = text.partition(":")
    try:
        return {"formula": formula, "density_g_cm3": float(density)}
    except ValueError as exc:
        raise MaterialError(f"material {text!r}: write FORMULA:DENSITY_G_CM3, e.g. CH2O:1.41") from exc


def _metres(text: str, what: str) -> float:
    from ..errors import InputError

    try:
        return float(text)
    except ValueError as exc:
        raise InputError(f"{what} {text!r} is not a number in metres (e.g. 1.3e-4)") from exc


def _geometry(args: argparse.Namespace):
    from ..errors import GeometryError
    from ..geometry import Geometry
    from ..io import read_tiff_metadata

    if args.geometry:
        return Geometry.from_json(args.geometry)
    meta = read_tiff_metadata(args.image).get("geometry")
    if not meta:
        raise GeometryError(
            f"{args.image} carries no geometry; pass --geometry geometry.json "
            "(the one written by specktrack simulate/retrieve)"
        )
    return Geometry.from_dict(meta)


def _theory(args: argparse.Namespace):
    from ..errors import InputError
    from .profiles import SphereTheory

    if args.sphere is None:
        if args.tube:
            raise InputError("--tube needs --sphere MATERIAL RADIUS_M too")
        return None
    tube: dict[str, Any] = {}
    if args.tube:
        tube = {"tube_material": _material(args.tube[0]),
                "tube_outer_radius_m": _metres(args.tube[1], "tube outer radius"),
                "tube_inner_radius_m": _metres(args.tube[2], "tube inner radius"),
                "tube_axis": args.tube_axis}
    return SphereTheory(material=_material(args.sphere[0]), radius_m=_metres(args.sphere[1], "radius"),
                        n_spheres=args.n_spheres, medium=_material(args.medium), **tube)


def _fmt(m: dict[str, float] | None) -> str:
    if not m:
        return "-"
    return (f"RMSE {m['rmse_rad']:.4g} rad, max error {m['max_error_rad']:.4g} rad, "
            f"correlation {m['correlation']:.5f}")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..errors import InputError
    from ..io import check_not_input, read_json, read_tiff, write_json
    from . import profiles as pr

    image = np.asarray(read_tiff(args.image))
    geometry = _geometry(args)
    theory = _theory(args)
    phantom = read_json(args.phantom) if args.phantom else None
    if phantom is not None and theory is not None:
        raise InputError("give either --phantom or --sphere, not both")
    p0, p1 = tuple(args.line[:2]), tuple(args.line[2:])
    p_m = geometry.object_pixel_size_m
    frames: list[tuple[int, float | None]]
    if image.ndim == 2:
        if args.every_ms is not None:
            raise InputError("--every-ms needs a stack (n, y, x); this image is 2-D")
        frames = [(0, None)]
    elif image.ndim == 3:
        n = image.shape[0]
        if args.every_ms is not None:
            frames = [(i, t) for i, t in pr.time_nodes(n, args.frame_rate_hz, args.every_ms)]
        elif not 0 <= args.frame < n:
            raise InputError(f"--frame {args.frame} is outside the stack's {n} frames (0–{n - 1})")
        else:
            frames = [(args.frame, None)]
    else:
        raise InputError(f"{args.image} has shape {image.shape}; expected (y, x) or (n, y, x)")

    out_dir = Path(args.out) if args.out else None
    csv_path = args.csv or (out_dir / "profile.csv" if out_dir else None)
    plot_path = args.plot or (out_dir / "profile.png" if out_dir else None)
    json_path = args.json or (out_dir / "profile.json" if out_dir else None)
    for path in (csv_path, plot_path, json_path):
        if path is not None:
            check_not_input(path, [args.image])
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)

    curves: dict[str, np.ndarray] = {}
    reports: dict[str, Any] = {}
    analysis = None
    distance = None
    for i, t_ms in frames:
        frame = image if image.ndim == 2 else image[i]
        distance, values = pr.sample_line(frame, p0, p1, width_px=args.width)
        label = "phase_rad" if t_ms is None else f"phase_t{t_ms:g}ms_rad"
        curves[label] = values
        analysis = pr.analyse_profile(
            distance, values, geometry, theory=theory, phantom=phantom, line=(p0, p1),
            width_px=args.width, fit=not args.no_fit and len(frames) == 1,
            fit_slope=args.fit_slope, fit_contrast=args.fit_contrast, robust=args.robust,
        )
        reports[label] = analysis.report()
    assert analysis is not None and distance is not None
    length_px = float(distance[-1])
    print(f"profile: {distance.size} samples over {length_px:.1f} px = {length_px * p_m * 1e6:.1f} µm, "
          f"width {args.width} px")
    for label, rep in reports.items():
        if rep["theory"] is not None:
            print(f"{label}: theory vs measured (offset removed): {_fmt(rep['theory'])}")
    fit = analysis.fit
    if fit is not None:
        metrics = {"rmse_rad": fit.rmse_rad, "max_error_rad": fit.max_error_rad,
                   "correlation": fit.correlation}
        print(f"fit: {_fmt(metrics)}, offset {fit.model.offset_rad:.4g} rad")
        for row in fit.summary(p_m)["components"]:
            nom = row["nominal_radius_px"]
            extra = ""
            if nom is not None:
                extra = f" (nominal {nom * p_m * 1e6:.2f} µm, {100 * row['radius_error_rel']:+.2f} %)"
            print(f"  {row['label'] or row['kind']}: centre {row['center_px']:.2f} px, "
                  f"radius {row['radius_px']:.2f} px = {row['radius_um']:.2f} µm{extra}")
    for note in analysis.notes:
        print(f"note: {note}")

    columns = dict(curves)
    if analysis.theory is not None:
        columns["theory_rad"] = analysis.theory
    if fit is not None:
        columns["fit_rad"] = fit.fitted
    if csv_path:
        pr.write_profiles_csv(csv_path, distance, columns, pixel_size_m=p_m)
        print(f"wrote {csv_path}")
    if json_path:
        write_json(json_path, {"image": str(args.image), "line_yx_px": [list(p0), list(p1)],
                               "width_px": args.width, "geometry": geometry.to_dict(),
                               "profiles": reports})
        print(f"wrote {json_path}")
    if plot_path:
        _plot(plot_path, distance, curves, analysis, p_m, args.x_unit)
        print(f"wrote {plot_path}")
    return 0


def _plot(path, distance, curves, analysis, pixel_size_m: float, x_unit: str) -> None:
    import io

    from matplotlib.figure import Figure

    from ..io import write_bytes_atomic
    from .profiles import plot_profiles

    fig = Figure(figsize=(6.4, 3.6), layout="constrained")
    ax = fig.add_subplot()
    theory = analysis.theory
    plot_profiles(ax, distance, {k.removesuffix("_rad"): v for k, v in curves.items()}, theory=theory,
                  fit=None if analysis.fit is None else analysis.fit.fitted,
                  pixel_size_m=pixel_size_m, x_unit=x_unit)
    buf = io.BytesIO()
    fmt = Path(path).suffix.lstrip(".").lower() or "png"
    fig.savefig(buf, format=fmt, dpi=150)
    write_bytes_atomic(path, buf.getvalue())
