"""Drawing a :class:`~.compute.ProfileView` and writing it out (CSV, PNG, SVG, PDF).

No Qt: :func:`draw_view` draws on any matplotlib axes (the dock's canvas on the main thread,
or a fresh figure in the export worker), and the writers go through
:mod:`napari_specktrack.safety`: an existing file is refused unless ``overwrite`` (the dock
asks first), the file is written whole or not at all, and a layer's source file is never
written over.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ...errors import InputError, OutputError
from ...physics.profiles import plot_profiles
from ...safety import OutputSet
from .compute import ProfileView

#: file types the plot can be saved as (matplotlib formats)
PLOT_SUFFIXES = (".png", ".svg", ".pdf")


def draw_view(ax: Any, view: ProfileView, *, x_unit: str = "um", theory_color: str = "k") -> None:
    """Draw every curve of ``view`` (rad) against distance (µm or px), with the analysed
    curve's theory (dashed) and fit (dotted) — the drawing of ``specktrack profile``."""
    first, *others = view.results
    curve = view.analysed()
    fit = None if curve is None or curve.fit is None else curve.fit.fitted
    plot_profiles(ax, first.curves[0].distance_px,
                  {label: c.values_rad for label, c in zip(view.labels[0], first.curves)},
                  theory=None if curve is None else curve.theory_rad, fit=fit,
                  pixel_size_m=first.pixel_size_m, x_unit=x_unit, theory_color=theory_color)
    for result, labels in zip(others, view.labels[1:]):
        um = result.pixel_size_m * 1e6 if x_unit == "um" else 1.0
        for label, c in zip(labels, result.curves):
            ax.plot(c.distance_px * um, c.values_rad, lw=1.2, label=label)
    if others:
        ax.legend(fontsize="small", loc="best")


def check_export(view: ProfileView | None, path: str | Path, overwrite: bool) -> ProfileView:
    """Refuse an export with nothing to write, or onto an existing file unless ``overwrite``."""
    if view is None or not view.results:
        raise InputError("no profile to export yet; draw a line on an image first")
    if Path(path).expanduser().exists() and not overwrite:
        raise OutputError(f"{path} exists; choose another file name, or confirm replacing it")
    return view


def _target(path: str | Path, inputs: Iterable[str | Path]) -> OutputSet:
    """One file written whole through :class:`~napari_specktrack.safety.OutputSet` (checked:
    writable, not an input); :func:`check_export` has refused an unwanted replacement."""
    path = Path(path).expanduser()
    return OutputSet(path, files=[path.name], overwrite=True, inputs=inputs, flag="export")


def write_csv(view: ProfileView | None, path: str | Path, *, overwrite: bool = False,
              inputs: Iterable[str | Path] = ()) -> Path:
    """Write the profiles (and theory, fit) as CSV: ``distance_px``, ``distance_um``, then one
    ``<name>_rad`` column per curve, as the ``specktrack profile`` command writes them."""
    from ...physics.profiles import write_profiles_csv

    distance, columns = check_export(view, path, overwrite).table()
    with _target(path, inputs) as out:
        write_profiles_csv(out.path(out.files[0]), distance, columns,
                           pixel_size_m=view.pixel_size_m)
    return out.target


def write_plot(view: ProfileView | None, path: str | Path, *, x_unit: str = "um",
               overwrite: bool = False, inputs: Iterable[str | Path] = ()) -> Path:
    """Draw the profiles on a fresh figure (light background, 6.4 × 3.6 in, 150 dpi) and save
    it; the format follows the suffix (.png, .svg, .pdf)."""
    from matplotlib.figure import Figure

    view = check_export(view, path, overwrite)
    suffix = Path(path).suffix.lower()
    if suffix not in PLOT_SUFFIXES:
        raise OutputError(f"{path}: save the plot as {', '.join(PLOT_SUFFIXES)}; change the suffix")
    fig = Figure(figsize=(6.4, 3.6), layout="constrained")
    draw_view(fig.add_subplot(), view, x_unit=x_unit)
    buf = io.BytesIO()
    fig.savefig(buf, format=suffix.lstrip("."), dpi=150)
    with _target(path, inputs) as out:
        out.path(out.files[0]).write_bytes(buf.getvalue())
    return out.target
