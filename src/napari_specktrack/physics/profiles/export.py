"""Profiles out: CSV files and matplotlib drawings."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InputError


def write_profiles_csv(
    path: str | Path,
    distance_px: np.ndarray,
    columns: Mapping[str, np.ndarray],
    *,
    pixel_size_m: float | None = None,
) -> Path:
    """Write profiles as CSV (atomic): ``distance_px``, ``distance_um`` (when ``pixel_size_m``
    is given), then one column per entry of ``columns`` (name → values, e.g. ``phase_rad``,
    ``theory_rad``). Missing values (outside the image) are written empty."""
    from ...io import write_text_atomic

    d = np.asarray(distance_px, dtype=float)
    header = ["distance_px"]
    cols = [d]
    if pixel_size_m:
        header.append("distance_um")
        cols.append(d * pixel_size_m * 1e6)
    for name, vals in columns.items():
        arr = np.asarray(vals, dtype=float)
        if arr.shape != d.shape:
            raise InputError(f"CSV column {name!r} has {arr.shape[0]} values for {d.shape[0]} distances")
        header.append(str(name).replace(",", ";"))
        cols.append(arr)
    lines = [",".join(header)]
    for row in zip(*cols):
        lines.append(",".join("" if not np.isfinite(x) else f"{x:.9g}" for x in row))
    return write_text_atomic(path, "\n".join(lines) + "\n")


def plot_profiles(
    ax: Any,
    distance_px: np.ndarray,
    curves: Mapping[str, np.ndarray],
    *,
    theory: np.ndarray | None = None,
    fit: np.ndarray | None = None,
    pixel_size_m: float | None = None,
    x_unit: str = "um",
    theory_label: str = "theory",
    fit_label: str = "fit",
    theory_color: str = "k",
) -> None:
    """Draw profiles (rad) on a matplotlib axes: the measured curves, theory (dashed black),
    fit (dotted red). ``x_unit`` "um" uses ``pixel_size_m`` for the x axis, "px" pixels;
    ``theory_color`` suits dark themes (e.g. white)."""
    d = np.asarray(distance_px, dtype=float)
    if x_unit == "um" and pixel_size_m:
        x, xlabel = d * pixel_size_m * 1e6, "distance along line (µm)"
    else:
        x, xlabel = d, "distance along line (px)"
    for label, vals in curves.items():
        ax.plot(x, vals, lw=1.2, label=label)
    if theory is not None:
        ax.plot(x, theory, "--", color=theory_color, lw=1.2, label=theory_label)
    if fit is not None:
        ax.plot(x, fit, "r:", lw=1.5, label=fit_label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("phase (rad)")
    if curves or theory is not None or fit is not None:
        ax.legend(fontsize="small", loc="best")
