"""Starting values of a profile fit, found from the profile itself.

The least-squares fit only polishes: it needs every sphere near its dip and the tube near its
walls. Two spheres that overlap in projection (they sit at different depths) make one broad
dip, so picking the deepest local minima fails. Instead, with the material known, the depth
of the profile below the background in units of 2|φ per px| is a sum of semicircles
√(a² − (s − c)²) of the half-chords a the line cuts — the data and the templates share one
unit (pixels). Objects are placed one at a time where a template explains the most of what
is left, with an asymmetric cost: a template may not dig deeper than the data (weight
:data:`OVERSHOOT_WEIGHT`), since the other objects only add depth.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from ...errors import InputError
from ..theory import tube_chord
from .model import ProfileComponent, ProfileModel

#: Weight of a template deeper than the data against one shallower (dimensionless).
OVERSHOOT_WEIGHT = 20.0
#: The smallest half-chord (px) taken for a sphere: below it, pixel averaging at an edge
#: leaves residuals of that size, and a fit cannot tell a sphere from them.
MIN_HALF_CHORD_PX = 2.0


@dataclass(frozen=True)
class TubeSpec:
    """A tube (hollow cylinder) the line crosses, for :func:`initial_model`.

    ``phase_per_px`` in rad per pixel of wall (:func:`phase_per_px` of the tube's material);
    radii in pixels; ``center_px`` the nominal axis crossing as a distance along the line
    (None: the middle of the profile's support); ``stretch`` as :class:`ProfileComponent`.
    Where its walls are on the segment, :func:`initial_model` finds the crossing from them.
    """

    phase_per_px: float
    outer_radius_px: float
    inner_radius_px: float
    center_px: float | None = None
    stretch: float = 1.0


def _asym(r: np.ndarray) -> np.ndarray:
    return np.where(r < 0, OVERSHOOT_WEIGHT * r * r, r * r)


def _background(q: np.ndarray, iterations: int = 15) -> np.ndarray:
    """Background level of rows of depth ``q``: the value b minimising the asymmetric cost of
    q − b (an expectile near the bottom: objects only add depth above it)."""
    b = np.median(q, axis=-1)
    for _ in range(iterations):
        w = np.where(q < b[..., None], OVERSHOOT_WEIGHT, 1.0)
        b = (w * q).sum(-1) / w.sum(-1)
    return b


def _rims_on(c: np.ndarray, tube: TubeSpec, span: tuple[float, float]) -> np.ndarray:
    lo, hi = span[0] + 1.0, span[1] - 1.0
    rims = [c + k * r / tube.stretch for r in (tube.outer_radius_px, tube.inner_radius_px) for k in (-1, 1)]
    return np.any([(x >= lo) & (x <= hi) for x in rims], axis=0)


def _tube_hypotheses(s: np.ndarray, v: np.ndarray, tube: TubeSpec, sign: float, c0: float) -> list[float]:
    """Axis crossings (px along the line) worth trying: the nominal ``c0`` and, where its walls
    could be on the segment, the crossing whose walls best explain the profile."""
    span = (float(s[0]), float(s[-1]))
    reach = tube.outer_radius_px / tube.stretch
    cands = np.arange(span[0] - reach, span[1] + reach + 1.0, 1.0)  # the fit refines to 1e-3 px
    cands = cands[_rims_on(cands, tube, span)]
    if not cands.size:
        return [c0]
    q = _tube_depth(s, v, tube, sign, cands)
    cost = _asym(q - _background(q)[:, None]).sum(-1)
    best = float(cands[int(np.argmin(cost))])
    return [c0] if abs(best - c0) < 0.5 else [c0, best]


def _tube_depth(s: np.ndarray, v: np.ndarray, tube: TubeSpec, sign: float, c: np.ndarray,
                oversample: int = 1) -> np.ndarray:
    """Depth (rad, positive inside matter) of the profile left after a tube at each crossing c,
    its chord averaged over ``oversample`` sub-samples per pixel (as the image integrates it)."""
    sub = (np.arange(oversample) + 0.5) / oversample - 0.5
    r = tube.stretch * (s[None, :, None] + sub - c[:, None, None])
    chord = tube_chord(r, tube.outer_radius_px, tube.inner_radius_px).mean(axis=-1)
    return sign * (v[None, :] - tube.phase_per_px * chord)


def _semicircles(s: np.ndarray, spheres) -> np.ndarray:
    out = np.zeros_like(s)
    for c, a in spheres:
        out += np.sqrt(np.clip(a * a - (s - c) ** 2, 0.0, None))
    return out


def _greedy_semicircles(
    s: np.ndarray, depth: np.ndarray, n: int, max_radius: float
) -> list[tuple[float, float]]:
    """Place up to ``n`` semicircles (centre, radius in px) under ``depth`` (px), one by one,
    each where it lowers the asymmetric cost most (and explains at least half its own area)."""
    step = float(np.median(np.diff(s))) if s.size > 1 else 1.0
    radii = np.geomspace(MIN_HALF_CHORD_PX, max(max_radius, MIN_HALF_CHORD_PX + 0.5), 40)
    rest = depth.copy()
    found: list[tuple[float, float]] = []
    for _ in range(n):
        best = (0.0, None)
        for a in radii:
            k = math.ceil(a / step)
            u = np.arange(-k, k + 1) * step
            t = np.sqrt(np.clip(a * a - u * u, 0.0, None))
            padded = np.pad(rest, k, constant_values=np.nan)
            stride = max(1, k // 16)
            win = np.lib.stride_tricks.sliding_window_view(padded, 2 * k + 1)[::stride]
            inside = np.isfinite(win)
            w = np.where(inside, win, 0.0)
            delta = np.where(inside, _asym(w - t) - _asym(w), 0.0).sum(-1)
            energy = np.where(inside, t * t, 0.0).sum(-1)
            delta = np.where(delta < -0.5 * energy, delta, 0.0)
            i = int(np.argmin(delta))
            if delta[i] < best[0]:
                best = (float(delta[i]), (float(s[i * stride]), float(a)))
        if best[1] is None:
            break
        found.append(best[1])
        rest = rest - _semicircles(s, [best[1]])
    return found


def _rim_pairs(s: np.ndarray, depth: np.ndarray, n: int, keep: int = 3,
               max_combinations: int = 200_000) -> list[list[tuple[float, float]]]:
    """Spheres from the edges of the profile: a sphere's rim is a √-singularity, a peak of the
    depth's slope (rising at its left rim, falling at its right one). The ``keep`` sets of ``n``
    (left, right) pairs that together fit the depth best (least squares, exhaustive over the
    strongest edges; two spheres may share an edge, as nested ones whose edges merge), best
    first; none if too few edges are found."""
    from scipy.signal import find_peaks

    slope = np.gradient(depth, s)
    # a rim of half-chord a rises by ~√a px in its first pixel: ≥ 1.7 for a ≥ 3 px
    height = max(0.8, 0.2 * float(np.max(np.abs(slope))))
    rims = []
    for sgn in (1.0, -1.0):
        peaks, props = find_peaks(sgn * slope, height=height)
        rims.append(s[peaks[np.argsort(props["peak_heights"])[::-1][: n + 3]]])
    pairs = [(i, j, 0.5 * (lo + hi), 0.5 * (hi - lo)) for i, lo in enumerate(rims[0])
             for j, hi in enumerate(rims[1]) if hi - lo >= 2.0 * MIN_HALF_CHORD_PX]
    if len(pairs) < n or math.comb(len(pairs), n) > max_combinations:
        return []
    t = np.array([_semicircles(s, [(c, a)]) for *_, c, a in pairs])
    gram, proj = t @ t.T, t @ depth
    scored = []
    for combo in itertools.combinations(range(len(pairs)), n):  # nested spheres may share a blurred edge
        idx = np.array(combo)
        scored.append((float(gram[np.ix_(idx, idx)].sum() - 2.0 * proj[idx].sum()), combo))
    scored.sort()
    return [[(pairs[m][2], pairs[m][3]) for m in combo] for _, combo in scored[:keep]]


def _place_spheres(s: np.ndarray, depth: np.ndarray, n: int, max_radius: float):
    """Candidate sets of up to ``n`` spheres (centre, half-chord in px) under ``depth`` (px):
    the one-by-one placement and the best edge pairings, as (squared residual, spheres),
    those with the most spheres first, then by residual."""
    options = [_greedy_semicircles(s, depth, n, max_radius)]
    if n:
        options += _rim_pairs(s, depth, n)
    scored = [(float(np.sum((depth - _semicircles(s, o)) ** 2)), sorted(o)) for o in options]
    return sorted(scored, key=lambda x: (-len(x[1]), x[0]))


def _support_middle(s: np.ndarray, depth: np.ndarray) -> float:
    support = s[depth > 0.1 * max(float(depth.max()), 1e-12)]
    return float(0.5 * (support[0] + support[-1])) if support.size else float(0.5 * (s[0] + s[-1]))


def _width_scale(s: np.ndarray, depth: np.ndarray) -> float:
    """Factor that turns the deepest dip into a semicircle of its own half-width (unknown
    contrast): half-width at 10 % of the peak / peak depth."""
    i = int(np.argmax(depth))
    peak = max(float(depth[i]), 1e-12)
    low = np.flatnonzero(depth < 0.1 * peak)
    left = low[low < i]
    right = low[low > i]
    a = 0.5 * (s[right[0] if right.size else -1] - s[left[-1] if left.size else 0])
    return max(float(a), 1.0) / peak


def initial_models(
    distance_px: np.ndarray,
    values: np.ndarray,
    *,
    sphere_phase_per_px: float,
    n_spheres: int = 1,
    nominal_radius_px: float | None = None,
    tube: TubeSpec | None = None,
    use_amplitude: bool = True,
    max_candidates: int = 3,
) -> tuple[list[ProfileModel], list[str]]:
    """Up to ``max_candidates`` starting models for :func:`fit_profile`, most plausible first:
    background, tube and ``n_spheres`` spheres.

    A tube is placed where its walls explain the profile (its nominal crossing when no wall is
    on the segment); spheres are semicircles of the remaining depth, placed one by one or from
    pairs of edges (module docstring). Nested or touching spheres can be paired more than one
    way, so several candidates are returned: fit each and keep the best. A sphere's starting
    radius is the half-chord the line cuts, R when the line passes through its centre. With
    ``use_amplitude=False`` (material uncertain, the contrast to be fitted) the depth is first
    rescaled so the deepest dip is as deep as it is wide. ``nominal_radius_px`` widens the
    search to spheres that large.

    Returns the models and notes (e.g. fewer spheres found than asked for).
    """
    s = np.asarray(distance_px, dtype=float)
    v = np.asarray(values, dtype=float)
    ok = np.isfinite(v)
    if ok.sum() < 5:
        raise InputError("the profile has fewer than 5 finite samples; draw a longer line inside the image")
    if sphere_phase_per_px == 0 or not math.isfinite(sphere_phase_per_px):
        raise InputError("sphere material has no phase contrast against the medium; check material/medium")
    if int(n_spheres) < 0:
        raise InputError(f"number of spheres must be ≥ 0, got {n_spheres}")
    sign = -1.0 if sphere_phase_per_px < 0 else 1.0
    s, v = s[ok], v[ok]
    n = int(n_spheres)
    hypotheses: list[float | None] = [None]
    if tube is not None:
        base0 = float(_background(sign * v[None, :])[0])
        c0 = tube.center_px if tube.center_px is not None else _support_middle(s, sign * v - base0)
        hypotheses = _tube_hypotheses(s, v, tube, sign, float(c0))
    candidates = []
    for c, background in itertools.product(hypotheses, ("lowest", "expectile")):
        q = sign * v if c is None else _tube_depth(s, v, tube, sign, np.array([c]), oversample=4)[0]
        # the background, below which objects never reach: the lowest samples (exact where a
        # few samples see no object), or the asymmetric mean (robust to a retrieval's dips)
        base = float(np.percentile(q, 2) if background == "lowest" else _background(q[None, :])[0])
        depth = (q - base) / (2.0 * abs(sphere_phase_per_px))
        if not use_amplitude and depth.max() > 0:
            depth = depth * _width_scale(s, depth)
        limit = min(0.75 * (s[-1] - s[0]), max(1.3 * float(depth.max()), 1.5 * (nominal_radius_px or 0)))
        candidates += [(-len(spheres), cost, c, base, spheres)
                       for cost, spheres in _place_spheres(s, depth, n, limit)]
    candidates.sort(key=lambda x: x[:2])
    found = -candidates[0][0]
    notes: list[str] = []
    if n and found < n:
        notes.append(f"found {found} sphere-like dip(s) in the profile, {n} asked for")
    if n and not found:
        raise InputError(
            "no sphere found along the line: draw it across a sphere, or check the material "
            "(its phase must have the sign of the profile's dips)"
        )
    models: list[ProfileModel] = []
    for _, _, c, base, spheres in candidates:
        comps = [] if tube is None else [ProfileComponent(
            "tube", c, tube.outer_radius_px, tube.phase_per_px, inner_radius_px=tube.inner_radius_px,
            stretch=tube.stretch, label="tube")]
        comps += [ProfileComponent("sphere", sc, a, sphere_phase_per_px, label=f"sphere {k + 1}")
                  for k, (sc, a) in enumerate(spheres)]
        model = ProfileModel(tuple(comps), sign * base)
        if len(spheres) == found and model not in models:
            models.append(model)
    return models[:max_candidates], notes


def initial_model(distance_px: np.ndarray, values: np.ndarray, **kwargs) -> tuple[ProfileModel, list[str]]:
    """The most plausible starting model of :func:`initial_models` (same arguments)."""
    models, notes = initial_models(distance_px, values, max_candidates=1, **kwargs)
    return models[0], notes
