"""Phantoms with analytic truth, described as ``phantom.json`` mappings (DESIGN.md schema).

Positions and sizes are in pixels of the written images (0-based, y = row, x = column);
materials are preset names. Every phantom is a plain dict, so the truth images can be
recomputed from the JSON alone with :func:`napari_specktrack.physics.theory.projected_maps`.

``spheres``  POM spheres packed (non-overlapping in 3-D) in a PE tube whose axis runs along y:
             the calibration phantom of Yu et al. (their spheres are 0.2–1 mm across; here the
             sizes scale with the field so that a 2048² frame holds 0.4–1 mm radii).
``spheres-varied``  POM spheres of radii 8–160 px whatever the frame size, as many as cover
             10–40 % of the frame, in an optional PE tube (⅔ of frames) of random radius, wall
             and axis position: training data whose features do not scale with the frame
             (docs/generator-size.md).
``foam``     a polyurethane slab with non-overlapping air bubbles (closed-cell foam: many sharp
             polymer–air interfaces with thin walls between bubbles), bubble radii 15–80 µm.
``smooth``   a few Gaussian PMMA bumps: a phase object without sharp edges (|u| < 2 px), for
             absolute-accuracy checks of the tracking.
``foaming``  a time series of ``foam`` in which bubbles nucleate and grow, at 20 frames/s.
``rotation`` a 3-D spheres-in-tube phantom; :func:`rotate_spheres` projects it at any angle
             about the tube axis (y) for parallel-beam CT.

Bubbles carry ``"void": true`` and the slab's material, so their chord is subtracted from the
slab (``center_z_px`` records the depth that keeps them apart in 3-D; the projection does not
need it). Because the bubbles do not overlap and lie inside the slab, the projected polymer
thickness slab − Σ chords is never negative.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import InputError
from ..geometry import Geometry
from ..physics.materials import optical_constants

FRAME_RATE_HZ = 20.0  # the paper's dynamic imaging rate


def _check_size(size_px: int) -> int:
    if isinstance(size_px, bool) or int(size_px) != size_px or size_px < 32:
        raise InputError(f"phantom size must be an integer ≥ 32 pixels, got {size_px!r}")
    return int(size_px)


def _sphere(y: float, x: float, z: float, r: float, material: str, void: bool = False) -> dict:
    """One ``phantom.json`` sphere (pixels; ``center_z_px`` along the beam from the mid-plane)."""
    obj: dict[str, Any] = {
        "shape": "sphere",
        "center_yx_px": [round(y, 3), round(x, 3)],
        "center_z_px": round(z, 3),
        "radius_px": round(r, 3),
        "material": material,
    }
    if void:
        obj["void"] = True
    return obj


def spheres_phantom(size_px: int, rng: np.random.Generator, *, n_spheres: int = 6) -> dict:
    """POM spheres in a PE tube (axis along y) filling a ``size_px`` × ``size_px`` image."""
    n = _check_size(size_px)
    c = (n - 1) / 2.0
    outer = 0.46 * n
    inner = 0.42 * n
    objects: list[dict[str, Any]] = [
        {
            "shape": "tube",
            "axis": "y",
            "center_x_px": c,
            "outer_radius_px": outer,
            "inner_radius_px": inner,
            "material": "PE",
        }
    ]
    placed: list[tuple[float, float, float, float]] = []  # (y, x, z, r)
    radii = np.sort(rng.uniform(0.07 * n, 0.17 * n, n_spheres))[::-1]
    gap = 0.01 * n
    for r in radii:
        for _ in range(2000):
            x = rng.uniform(c - inner + r + gap, c + inner - r - gap)
            zmax = math.sqrt(max((inner - r - gap) ** 2 - (x - c) ** 2, 0.0))
            z = rng.uniform(-zmax, zmax)
            y = rng.uniform(r + gap, n - 1 - r - gap)
            if all((y - py) ** 2 + (x - px) ** 2 + (z - pz) ** 2 > (r + pr + gap) ** 2
                   for py, px, pz, pr in placed):
                placed.append((y, x, z, float(r)))
                break
    objects += [_sphere(y, x, z, r, "POM") for y, x, z, r in placed]
    return {"name": "spheres", "medium": "air", "objects": objects}


#: ``spheres-varied``: sphere radii (px), drawn log-uniform, the same at every frame size
VARIED_RADIUS_RANGE_PX = (8.0, 160.0)
#: largest sphere radius as a fraction of the frame side (a sphere always fits the frame)
VARIED_MAX_RADIUS_FRACTION = 0.45
#: projected area coverage (fraction of the frame's pixels inside a sphere's disc): the target
#: is drawn uniformly in this range, and no sphere is drawn larger than takes it past the top
VARIED_COVERAGE_RANGE = (0.10, 0.40)
#: fraction of frames with a PE tube
VARIED_TUBE_PROBABILITY = 2.0 / 3.0
#: tube outer radius as a fraction of the frame side (uniform)
VARIED_TUBE_OUTER_FRACTION = (0.3, 0.7)
#: tube wall thickness (px, uniform; at most half the outer radius)
VARIED_TUBE_WALL_PX = (5.0, 40.0)
#: smallest 3-D gap between spheres and between a sphere and the tube wall (px)
VARIED_GAP_PX = 2.0
_VARIED_TRIES_PER_SPHERE = 200  # placement attempts of one sphere (bore, then anywhere)
_VARIED_MAX_FAILURES = 20  # consecutive spheres that find no place: the frame is full


def _disc_mask(mask: np.ndarray, y: float, x: float, r: float) -> None:
    """Set the pixels of ``mask`` whose centres lie in the disc (y, x, r) (pixels)."""
    n_y, n_x = mask.shape
    y0, y1 = max(math.floor(y - r), 0), min(math.ceil(y + r) + 1, n_y)
    x0, x1 = max(math.floor(x - r), 0), min(math.ceil(x + r) + 1, n_x)
    if y0 >= y1 or x0 >= x1:
        return
    yy = np.arange(y0, y1, dtype=float)[:, None] - y
    xx = np.arange(x0, x1, dtype=float)[None, :] - x
    mask[y0:y1, x0:x1] |= yy * yy + xx * xx <= r * r


def spheres_varied_phantom(size_px: int, rng: np.random.Generator) -> dict:
    """POM spheres whose sizes do not scale with the frame, in an optional off-centre PE tube.

    Training data for a generator that must work at every frame size: the ``spheres`` phantom
    scales every feature with the side (radii 0.07–0.17 × side, a centred tube of 0.46 × side),
    so a network trained at 256² sees other rims, radii and wall positions at 128² or 1024²
    (docs/generator-size.md, "A retraining that would fix it", item 2). Here, all in pixels of
    the ``size_px`` × ``size_px`` frame:

    - **tube** in ``VARIED_TUBE_PROBABILITY`` = ⅔ of frames: PE, axis along y at a column drawn
      uniformly over the frame (0 … side − 1 px, so a wall may lie anywhere, partly or wholly
      outside the frame), outer radius uniform in 0.3–0.7 × side, wall thickness uniform in
      5–40 px (at most half the outer radius);
    - **spheres**: POM, radii log-uniform in 8–160 px *independently of the side*, clipped to
      0.45 × side (so a sphere fits the frame) and to the radius whose disc would take the
      coverage past 40 % (but never below 8 px); each lies wholly inside the frame, in the
      tube's bore where its radius fits the part of the bore inside the frame (a 2 px gap to
      the wall), else anywhere in the frame outside the tube (in front of or behind it along
      the beam); no two closer than 2 px in 3-D;
    - **coverage**: a target drawn uniformly in 10–40 % of the frame's area; spheres are added
      until the union of their projected discs covers it (final coverage between the target
      and 40 % plus at most one 8 px disc), or until 20 spheres in a row find no place.

    Depth ``center_z_px`` is measured from the tube axis (from the mid-plane without a tube);
    spheres outside the bore lie within ±max(side / 2, outer radius + 2 r + 2 px) of it. The
    dict adds ``coverage_target`` and ``coverage`` (fractions of the frame's pixels whose
    centres lie in a sphere's disc) to the ``phantom.json`` schema. Deterministic given ``rng``.
    """
    n = _check_size(size_px)
    gap = VARIED_GAP_PX
    objects: list[dict[str, Any]] = []
    tube: tuple[float, float, float] | None = None  # (axis column, outer, inner) in px
    if rng.random() < VARIED_TUBE_PROBABILITY:
        outer = float(rng.uniform(*VARIED_TUBE_OUTER_FRACTION)) * n
        wall = min(float(rng.uniform(*VARIED_TUBE_WALL_PX)), 0.5 * outer)
        cx = float(rng.uniform(0.0, n - 1.0))
        tube = (cx, outer, outer - wall)
        objects.append({"shape": "tube", "axis": "y", "center_x_px": round(cx, 3),
                        "outer_radius_px": round(outer, 3), "inner_radius_px": round(outer - wall, 3),
                        "material": "PE"})
    c_max = VARIED_COVERAGE_RANGE[1]
    target = float(rng.uniform(*VARIED_COVERAGE_RANGE))
    r_min, r_max = VARIED_RADIUS_RANGE_PX
    r_cap = min(r_max, VARIED_MAX_RADIUS_FRACTION * n)
    log_lo, log_hi = math.log(r_min), math.log(r_max)
    mask = np.zeros((n, n), bool)
    covered = 0.0
    placed: list[tuple[float, float, float, float]] = []  # (y, x, z, r)

    def free(y: float, x: float, z: float, r: float) -> bool:
        return all((y - py) ** 2 + (x - px) ** 2 + (z - pz) ** 2 > (r + pr + gap) ** 2
                   for py, px, pz, pr in placed)

    def place(r: float) -> tuple[float, float, float] | None:
        lo, hi = r, n - 1.0 - r  # the sphere lies wholly inside the frame
        if tube is not None:
            cx, outer, inner = tube
            room = inner - r - gap  # distance of the centre from the axis in the bore
            bx0, bx1 = max(lo, cx - room), min(hi, cx + room)
            if room > 0 and bx0 <= bx1:
                for _ in range(_VARIED_TRIES_PER_SPHERE // 2):
                    x = float(rng.uniform(bx0, bx1))
                    zmax = math.sqrt(max(room * room - (x - cx) ** 2, 0.0))
                    z, y = float(rng.uniform(-zmax, zmax)), float(rng.uniform(lo, hi))
                    if free(y, x, z, r):
                        return y, x, z
            depth = max(n / 2.0, outer + 2.0 * r + gap)
            for _ in range(_VARIED_TRIES_PER_SPHERE):
                y, x = (float(v) for v in rng.uniform(lo, hi, 2))
                z = float(rng.uniform(-depth + r, depth - r))
                if math.hypot(x - cx, z) >= outer + r + gap and free(y, x, z, r):
                    return y, x, z
            return None
        for _ in range(_VARIED_TRIES_PER_SPHERE):
            y, x = (float(v) for v in rng.uniform(lo, hi, 2))
            z = float(rng.uniform(-n / 2.0 + r, n / 2.0 - r))
            if free(y, x, z, r):
                return y, x, z
        return None

    failures = 0
    while covered < target and failures < _VARIED_MAX_FAILURES:
        r = math.exp(rng.uniform(log_lo, log_hi))
        budget = math.sqrt(max(c_max - covered, 0.0) * n * n / math.pi)  # disc area ≤ the rest
        r = max(min(r, r_cap, budget), r_min)
        spot = place(r)
        if spot is None:
            failures += 1
            continue
        failures = 0
        y, x, z = spot
        placed.append((y, x, z, r))
        _disc_mask(mask, y, x, r)
        covered = float(mask.mean())
    objects += [_sphere(y, x, z, r, "POM") for y, x, z, r in placed]
    return {"name": "spheres-varied", "medium": "air", "objects": objects,
            "coverage_target": round(target, 4), "coverage": round(covered, 4)}


def smooth_phantom(
    size_px: int, rng: np.random.Generator, geometry: Geometry, *, max_shift_px: float = 1.5
) -> dict:
    """Two broad Gaussian PMMA bumps; the largest speckle displacement is ``max_shift_px``.

    The bumps are wide (σ = 0.2 and 0.15 of the field) so that the displacement varies
    slowly across a tracking window: window-averaging bias stays well under 0.05 px for
    windows up to ~15 px on a 256² image.
    """
    n = _check_size(size_px)
    delta = optical_constants("PMMA", geometry.energy_keV).delta
    # |∇φ|max = k δ p t0 / σ · e^{-1/2} rad/px  →  |u|max = that / phase_gradient_per_shift
    kdp = geometry.wavenumber_per_m * delta * geometry.object_pixel_size_m
    objects = []
    for cy, cx, rel_sigma, rel_shift in ((0.5, 0.45, 0.2, 1.0), (0.3, 0.75, 0.15, 0.5)):
        sigma = rel_sigma * n
        t0 = rel_shift * max_shift_px * geometry.phase_gradient_per_shift * sigma / (
            kdp * math.exp(-0.5)
        )
        jitter = rng.uniform(-0.03, 0.03, 2) * n
        objects.append(
            {
                "shape": "gaussian",
                "center_yx_px": [round(cy * n + jitter[0], 3), round(cx * n + jitter[1], 3)],
                "sigma_px": round(sigma, 3),
                "peak_thickness_px": round(t0, 3),
                "material": "PMMA",
            }
        )
    return {"name": "smooth", "medium": "air", "objects": objects}


def _pack_bubbles(
    size_px: int,
    geometry: Geometry,
    rng: np.random.Generator,
    *,
    slab_thickness_m: float,
    radius_range_m: tuple[float, float],
    gap_range_m: tuple[float, float],
    porosity: float,
    max_attempts: int,
) -> tuple[float, list[tuple[float, float, float, float]]]:
    """Random sequential addition of non-overlapping spheres in a slab (pixel units).

    Returns the slab thickness in pixels and bubbles (y, x, z, r) with z measured from the
    slab's mid-plane. Bubbles may extend laterally past the image (the slab is unbounded).
    """
    p = geometry.object_pixel_size_m
    t_px = slab_thickness_m / p
    rmin, rmax = (r / p for r in radius_range_m)
    gmin, gmax = (g / p for g in gap_range_m)
    margin = rmax
    lo, hi = -margin, size_px - 1 + margin
    volume = (hi - lo) ** 2 * t_px
    # draw radii until the target porosity, largest first (denser packing)
    radii: list[float] = []
    vol = 0.0
    while vol < porosity * volume and len(radii) < 200_000:
        r = float(rmin * (rmax / rmin) ** rng.uniform())  # log-uniform radii
        if 2 * r + 2 * gmin > t_px:
            r = t_px / 2 - gmin
        radii.append(r)
        vol += 4.0 / 3.0 * math.pi * r**3
    radii.sort(reverse=True)
    cell = 2 * rmax + gmax
    grid: dict[tuple[int, int, int], list[int]] = {}
    bubbles: list[tuple[float, float, float, float]] = []
    attempts = 0
    for r in radii:
        for _ in range(30):
            attempts += 1
            if attempts > max_attempts:
                return t_px, bubbles
            y, x = rng.uniform(lo, hi, 2)
            z = rng.uniform(-t_px / 2 + r + gmin, t_px / 2 - r - gmin)
            gap = rng.uniform(gmin, gmax)
            key = (int(y // cell), int(x // cell), int(z // cell))
            ok = True
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    for dz in (-1, 0, 1):
                        for j in grid.get((key[0] + dy, key[1] + dx, key[2] + dz), ()):
                            by, bx, bz, br = bubbles[j]
                            if (y - by) ** 2 + (x - bx) ** 2 + (z - bz) ** 2 < (r + br + gap) ** 2:
                                ok = False
                                break
                        if not ok:
                            break
                    if not ok:
                        break
                if not ok:
                    break
            if ok:
                grid.setdefault(key, []).append(len(bubbles))
                bubbles.append((float(y), float(x), float(z), float(r)))
                break
    return t_px, bubbles


FOAM_DEFAULTS: dict[str, Any] = {
    "slab_thickness_m": 0.3e-3,
    "radius_range_m": (15e-6, 80e-6),
    "gap_range_m": (2e-6, 8e-6),
    "porosity": 0.5,
}


def foam_phantom(size_px: int, rng: np.random.Generator, geometry: Geometry, **kw: Any) -> dict:
    """A polyurethane slab full of non-overlapping air bubbles (closed-cell foam)."""
    n = _check_size(size_px)
    opts = {**FOAM_DEFAULTS, **kw}
    t_px, bubbles = _pack_bubbles(n, geometry, rng, max_attempts=400_000, **opts)
    objects: list[dict[str, Any]] = [
        {"shape": "slab", "thickness_px": round(t_px, 3), "material": "polyurethane"}
    ]
    objects += [_sphere(y, x, z, r, "polyurethane", void=True) for y, x, z, r in bubbles]
    return {"name": "foam", "medium": "air", "objects": objects}


def foaming_phantoms(
    size_px: int,
    frames: int,
    rng: np.random.Generator,
    geometry: Geometry,
    *,
    frame_rate_hz: float = FRAME_RATE_HZ,
    **kw: Any,
) -> dict:
    """A foaming sequence: bubbles nucleate at random times and grow to their final size.

    Growth law r(t) = r_final · √(clip((t − t_nucleation) / t_growth, 0, 1)), so radii only
    grow and the final (non-overlapping) packing keeps every frame non-overlapping. Returns a
    phantom dict with ``frame_rate_hz``, the per-bubble growth parameters, and ``frames``: one
    ``{"index", "time_s", "objects"}`` entry per frame (each frame's objects are exactly what
    its truth images are computed from).
    """
    if int(frames) != frames or frames < 1:
        raise InputError(f"frames must be a positive integer, got {frames!r}")
    final = foam_phantom(size_px, rng, geometry, **kw)
    slab, bubbles = final["objects"][0], final["objects"][1:]
    duration = frames / frame_rate_hz
    growth = []
    for b in bubbles:
        growth.append(
            {
                **b,
                "radius_px_final": b["radius_px"],
                "nucleation_time_s": round(float(rng.uniform(-0.5 * duration, duration)), 5),
                "growth_time_s": round(float(rng.uniform(0.3, 1.0) * duration), 5),
            }
        )
    frame_list = []
    for i in range(int(frames)):
        t = i / frame_rate_hz
        objs: list[dict[str, Any]] = [slab]
        for g in growth:
            frac = (t - g["nucleation_time_s"]) / g["growth_time_s"]
            r = g["radius_px_final"] * math.sqrt(min(max(frac, 0.0), 1.0))
            if r > 0.5:
                objs.append(
                    {
                        "shape": "sphere",
                        "center_yx_px": g["center_yx_px"],
                        "radius_px": round(r, 4),
                        "material": g["material"],
                        "void": True,
                    }
                )
        frame_list.append({"index": i, "time_s": round(t, 6), "objects": objs})
    return {
        "name": "foaming",
        "medium": "air",
        "frame_rate_hz": frame_rate_hz,
        "growth_law": (
            "r(t) = radius_px_final * sqrt(clip((t - nucleation_time_s) / growth_time_s, 0, 1))"
        ),
        "objects": frame_list[-1]["objects"],
        "bubbles": growth,
        "frames": frame_list,
    }


def rotate_spheres(phantom: dict, angle_deg: float, size_px: int) -> dict:
    """Project the 3-D spheres-in-tube phantom at ``angle_deg`` about the tube axis (y).

    Sphere centres (x, z) relative to the axis at x = (size−1)/2 rotate as
    x' = x cos θ + z sin θ; the tube is invariant. Parallel beam along z.
    """
    c = (size_px - 1) / 2.0
    th = math.radians(angle_deg)
    out = []
    for obj in phantom["objects"]:
        if obj["shape"] == "sphere":
            y, x = obj["center_yx_px"]
            z = obj.get("center_z_px", 0.0)
            xr = c + (x - c) * math.cos(th) + z * math.sin(th)
            out.append({**obj, "center_yx_px": [y, round(xr, 4)]})
        else:
            out.append(obj)
    return {**phantom, "objects": out}


def delta_slice(phantom: dict, row_px: float, size_px: int, energy_keV: float) -> np.ndarray:
    """Truth δ − δ_medium on the (x, z) plane of image row ``row_px``: a CT slice, (z, x) pixels.

    The slice is size × size pixels centred on the rotation axis, z (rows of the slice) along
    the beam at angle 0. Pixel centres are sampled (no sub-pixel averaging).
    """
    c = (size_px - 1) / 2.0
    zz, xx = np.mgrid[0:size_px, 0:size_px].astype(float)
    z = zz - c
    x = xx
    medium = optical_constants(phantom.get("medium", "air"), energy_keV).delta
    out = np.zeros((size_px, size_px))
    for obj in phantom["objects"]:
        d = optical_constants(obj["material"], energy_keV).delta - medium
        if obj["shape"] == "tube":
            r = np.hypot(x - obj["center_x_px"], z)
            out += d * ((r < obj["outer_radius_px"]) & (r >= obj["inner_radius_px"]))
        elif obj["shape"] == "sphere":
            y0, x0 = obj["center_yx_px"]
            z0 = obj.get("center_z_px", 0.0)
            r2 = (x - x0) ** 2 + (z - z0) ** 2 + (row_px - y0) ** 2
            out += d * (r2 < obj["radius_px"] ** 2)
    return out.astype(np.float32)
