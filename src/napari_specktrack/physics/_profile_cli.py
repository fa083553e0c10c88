"""Line profile of a phase image against the theoretical phase of spheres (Yu et al., Fig. 6).

Samples the image along a line (pixel coordinates Y0 X0 Y1 X1, pixel centres at integers),
compares it with the theory — spheres of a known material and radius (--sphere, optionally in
a --tube), or the exact phantom of a simulation (--phantom phantom.json) — fits centres, radii
and offset, prints the metrics, and writes the profiles as CSV, the plot as PNG/SVG and the
metrics as JSON. For a stack, --frame picks one frame, or --every-ms overlays one profile per
time node (e.g. every 50 ms at --frame-rate-hz 20). Existing output files are refused unless
--overwrite; no output may be an input.

Only what the line can see is fitted: a radius needs its sphere's (or the tube's) edges on the
line; the others are held at their nominal values and listed as "held". Every fitted value is
printed with its 1σ uncertainty. A sphere's radius is its physical size in metres, or for a
simulation phantom.json's radius_px times the object-plane pixel p/M (geometry.json). On a
retrieved phase add --fit-contrast: retrieval underestimates the phase near the rims.

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
    theory.add_argument("--tube-center", type=float, metavar="PX",
                        help="where the tube axis is: its column (axis y) or row (axis x) in pixels "
                             "(default: the image centre; fitted from the walls the line crosses)")
    theory.add_argument("--phantom",
                        help="phantom.json of a simulation: the exact theory (instead of --sphere)")
    fit = parser.add_argument_group("fit")
    fit.add_argument("--no-fit", action="store_true", help="compare with the theory only")
    fit.add_argument("--fit-slope", action="store_true", help="also fit a linear background")
    fit.add_argument("--fit-contrast", action="store_true",
                     help="also fit a factor on the spheres' δ (material uncertain, or a retrieved "
                          "phase, which underestimates the contrast)")
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
    out.add_argument("--overwrite", action="store_true",
                     help="replace existing output files (default: refuse)")


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
                "tube_axis": args.tube_axis, "tube_center_px": args.tube_center}
    return SphereTheory(material=_material(args.sphere[0]), radius_m=_metres(args.sphere[1], "radius"),
                        n_spheres=args.n_spheres, medium=_material(args.medium), **tube)


def _fmt(m: dict[str, float] | None) -> str:
    if not m:
        return "-"
    return (f"RMSE {m['rmse_rad']:.4g} rad, max error {m['max_error_rad']:.4g} rad, "
            f"correlation {m['correlation']:.5f}")


def _pm(value: float, sigma: float | None, unit: str, digits: int = 2) -> str:
    text = f"{value:.{digits}f}"
    return f"{text} {unit}" if sigma is None else f"{text} ± {sigma:.{digits}f} {unit}"


def _image_input(args: argparse.Namespace, image):
    from ..errors import InputError
    from .profiles import ProfileImage

    if image.ndim == 2:
        if args.every_ms is not None:
            raise InputError("--every-ms needs a stack (n, y, x); this image is 2-D")
        if args.frame != 0:
            raise InputError(f"--frame {args.frame} needs a stack (n, y, x); {args.image} is one "
                             f"2-D image — drop --frame")
        return ProfileImage("phase", image)
    if image.ndim != 3:
        raise InputError(f"{args.image} has shape {image.shape}; expected (y, x) or (n, y, x)")
    n = image.shape[0]
    if args.every_ms is not None:
        return ProfileImage.time_series("phase", image, args.frame_rate_hz, args.every_ms)
    if not 0 <= args.frame < n:
        raise InputError(f"--frame {args.frame} is outside the stack's {n} frames (0–{n - 1})")
    return ProfileImage("phase", image, frames=(args.frame,))


#: the formats the plot can be written in
PLOT_SUFFIXES = (".png", ".svg", ".pdf")


def _outputs(args: argparse.Namespace) -> dict[str, Path | None]:
    """The output paths, each checked before anything is computed: not an input, writable, a
    known plot format, and not an existing file unless --overwrite."""
    from ..errors import InputError, OutputError
    from ..safety import OutputSet

    out_dir = Path(args.out) if args.out else None
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"--out {out_dir} is a file; give a folder for profile.csv, profile.png "
                          f"and profile.json")
    paths = {"csv": args.csv or (out_dir / "profile.csv" if out_dir else None),
             "plot": args.plot or (out_dir / "profile.png" if out_dir else None),
             "json": args.json or (out_dir / "profile.json" if out_dir else None)}
    plot = paths["plot"]
    if plot is not None and Path(plot).suffix.lower() not in PLOT_SUFFIXES:
        raise InputError(f"--plot {plot}: the plot is written as {', '.join(PLOT_SUFFIXES)}; "
                         f"give one of these extensions")
    inputs = [p for p in (args.image, args.geometry, args.phantom) if p]
    given = {k: Path(v) for k, v in paths.items() if v is not None}
    if len({p.expanduser().resolve() for p in given.values()}) < len(given):
        raise InputError("--csv, --plot and --json must name different files")
    for key, path in given.items():
        flag = f"--{key}" if getattr(args, key) else "--out"
        OutputSet(path, inputs=inputs, overwrite=args.overwrite, files=[path.name], flag=flag)
    return {k: given.get(k) for k in paths}


def _write(path: Path, inputs: list, overwrite: bool, write) -> None:
    """Write one output file through the output policy (staged, then moved into place)."""
    from ..safety import OutputSet

    with OutputSet(path, inputs=inputs, overwrite=overwrite, files=[path.name]) as outputs:
        write(outputs.path(path.name))


def _print(result, width_px: int) -> None:
    p_m = result.pixel_size_m
    length_px = float(result.curves[0].distance_px[-1])
    print(f"profile: {result.curves[0].distance_px.size} samples over {length_px:.1f} px = "
          f"{length_px * p_m * 1e6:.1f} µm, width {width_px} px")
    for curve in result.curves:
        label = f"{curve.stem}_rad"
        if curve.analysis.theory_metrics is not None:
            print(f"{label}: theory vs measured (offset removed): {_fmt(curve.analysis.theory_metrics)}")
        fit = curve.fit
        if fit is None:
            continue
        summary = fit.summary(p_m)
        prefix = "fit" if len(result.curves) == 1 else f"{label} fit"
        offset = _pm(fit.model.offset_rad, summary["offset_sigma_rad"], "rad", 3)
        print(f"{prefix}: {_fmt(summary)}, offset {offset}")
        for row in summary["components"]:
            extra = ""
            if row["radius_error_rel"] is not None:
                extra = (f" (nominal {row['nominal_radius_px'] * p_m * 1e6:.2f} µm, "
                         f"{100 * row['radius_error_rel']:+.2f} %)")
            held = f"; held: {', '.join(row['held'])}" if row["held"] else ""
            centre = _pm(row["center_px"], row["center_sigma_px"], "px")
            radius = _pm(row["radius_px"], row["radius_sigma_px"], "px")
            print(f"  {row['label'] or row['kind']}: centre {centre}, radius {radius} = "
                  f"{_pm(row['radius_um'], row['radius_sigma_um'], 'µm')}{extra}{held}")
    for note in dict.fromkeys(n for c in result.curves for n in c.analysis.notes):
        print(f"note: {note}")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..errors import InputError
    from ..io import read_json, read_tiff, write_json
    from .profiles import ProfileLine, ProfileSet

    paths = _outputs(args)
    image = np.asarray(read_tiff(args.image))
    geometry = _geometry(args)
    theory = _theory(args)
    if args.phantom and theory is not None:
        raise InputError("give either --phantom or --sphere, not both")
    if args.phantom:
        theory = read_json(args.phantom)
    line = ProfileLine(tuple(args.line[:2]), tuple(args.line[2:]), "line")
    profile_set = ProfileSet([line], [_image_input(args, image)], geometry, theory=theory,
                             width_px=args.width, fit=not args.no_fit, fit_slope=args.fit_slope,
                             fit_contrast=args.fit_contrast, robust=args.robust)
    result = profile_set.compute()
    _print(result, args.width)
    inputs = [p for p in (args.image, args.geometry, args.phantom) if p]
    if paths["csv"]:
        _write(paths["csv"], inputs, args.overwrite, result.write_csv)
        print(f"wrote {paths['csv']}")
    if paths["json"]:
        report = result.report()
        record = {
            "image": str(args.image), "line_yx_px": [list(line.start_yx_px), list(line.end_yx_px)],
            "width_px": args.width, "geometry": geometry.to_dict(), "theory": report["theory"],
            "profiles": {c["column"]: c for c in report["curves"]}}
        _write(paths["json"], inputs, args.overwrite, lambda p: write_json(p, record))
        print(f"wrote {paths['json']}")
    if paths["plot"]:
        _write(paths["plot"], inputs, args.overwrite, lambda p: _plot(p, result, args.x_unit))
        print(f"wrote {paths['plot']}")
    return 0


def _plot(path: Path, result, x_unit: str) -> None:
    import io

    from matplotlib.figure import Figure

    from ..io import write_bytes_atomic

    fig = Figure(figsize=(6.4, 3.6), layout="constrained")
    result.plot(fig.add_subplot(), x_unit=x_unit)
    buf = io.BytesIO()
    fig.savefig(buf, format=path.suffix.lstrip(".").lower() or "png", dpi=150)
    write_bytes_atomic(path, buf.getvalue())
