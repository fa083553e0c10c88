"""Reproduce the idea of Yu et al.'s Fig. 5 from simulation: CT slices of a rotation series.

The simulator's ``rotation`` phantom (POM spheres in a PE tube, axis along y, at 15 keV) is
imaged at ``--angles`` angles evenly spaced over [0°, 180°), one speckle exposure (and one
measured, noisy in-line exposure) per angle. The phase of every projection is retrieved frame
by frame through :func:`napari_specktrack.pipeline.retrieve` by

- conventional single-shot speckle tracking,
- double exposure with the *measured* in-line image (``acq.inline``): the paper's plain method
  and the project default (the in-line phase fused in, POM as the material),
- the learned pipeline: the shipped ``pretrained`` generator makes each in-line image from the
  speckle frame alone, then double exposure, plain and fused (the network runs once; the fused
  run reuses its images),

and the simulator's true phase projections are kept as the FBP-only reference. Every phase
stack is referenced to air the same way (:func:`reference_to_air`), reconstructed by FBP
(Shepp-Logan, known axis (N−1)/2, :func:`napari_specktrack.tomo.reconstruct`), converted to δ
(:func:`napari_specktrack.tomo.phase_to_delta`) and compared with the true δ volume
(:func:`true_delta_volume`) in the regions of :func:`regions`: the field of view, the air
outside the tube (the streak measure), the air in the tube's bore between the spheres, a band
along the tube wall, and the cores of the POM spheres (mean δ against xraydb's).

    python docs/make_fig5.py [--size 256] [--angles 360] [--seed 0] [--cache PHASES.npz]

``--cache`` keeps the retrieved phase stacks (re-running the metrics and the figure then skips
the retrieval). Writes ``docs/images/fig5_ct.png`` and ``docs/images/fig5_ct.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TRUTH = "FBP of true phase"
#: (name, in-line source, fuse the in-line phase): "gen" = the shipped generator
METHODS = (("conventional", None, False),
           ("double exposure, measured, plain", "measured", False),
           ("double exposure, measured, fused", "measured", True),
           ("learned, plain", "gen", False),
           ("learned, fused", "gen", True))
#: rows (= slices) this close to the top or bottom of the image are left out of the metrics:
#: the tracking window and search range (13 px and ±8–9 px, suggested) reach past the image there
EDGE_ROWS_PX = 12
#: distance (px) kept from every interface by the air regions and the sphere cores
CLEARANCE_PX = 2.0
#: the air columns of a projection start this far (px) outside the tube's outer radius
AIR_MARGIN_PX = 1.0
#: rules of :func:`reference_to_air`
REFERENCES = ("projection", "row")


# --- phantom geometry ----------------------------------------------------------------------------
def _tube(phantom: dict) -> dict:
    return next(o for o in phantom["objects"] if o["shape"] == "tube")


def _spheres(phantom: dict) -> list[dict]:
    return [o for o in phantom["objects"] if o["shape"] == "sphere"]


def true_delta_volume(phantom: dict, size_px: int, energy_keV: float, oversample: int = 2) -> np.ndarray:
    """The true δ − δ_medium volume (rows y, slice row i, slice column j), dimensionless, float32.

    Same δ as :func:`napari_specktrack.simulate.phantoms.delta_slice` (xraydb via
    ``optical_constants``), in the orientation of :mod:`napari_specktrack.tomo`: a point at
    (y, x, z) of the phantom lies in slice y at row (N−1)/2 − z, column x. Each voxel is the
    mean over ``oversample``³ sub-samples (1: pixel centres, as ``delta_slice``), so that voxels
    cut by an interface hold their volume fraction, as the pixel-averaged projections do.
    """
    from napari_specktrack.physics.materials import optical_constants

    n, s = int(size_px), int(oversample)
    c = (n - 1) / 2.0
    sub = (np.arange(s) + 0.5) / s - 0.5  # sub-sample offsets within a pixel, px
    medium = optical_constants(phantom.get("medium", "air"), energy_keV).delta
    vol = np.zeros((n, n, n), dtype=np.float64)
    tube = _tube(phantom)
    d_tube = optical_constants(tube["material"], energy_keV).delta - medium
    z = (c - (np.arange(n)[:, None] + sub[None, :])).reshape(-1)  # slice row i → z, fine
    x = (np.arange(n)[:, None] + sub[None, :]).reshape(-1)
    r = np.hypot(x[None, :] - tube["center_x_px"], z[:, None])
    ring = (r < tube["outer_radius_px"]) & (r >= tube["inner_radius_px"])
    vol += d_tube * ring.reshape(n, s, n, s).mean(axis=(1, 3))[None]  # invariant along y
    for sp in _spheres(phantom):
        d = optical_constants(sp["material"], energy_keV).delta - medium
        y0, x0 = sp["center_yx_px"]
        i0, rad = c - sp.get("center_z_px", 0.0), sp["radius_px"]
        lo = [max(int(np.floor(v - rad)) - 1, 0) for v in (y0, i0, x0)]
        hi = [min(int(np.ceil(v + rad)) + 2, n) for v in (y0, i0, x0)]
        axes = [(np.arange(a, b)[:, None] + sub[None, :]).reshape(-1) for a, b in zip(lo, hi)]
        yy, ii, jj = np.meshgrid(*axes, indexing="ij", sparse=True)
        inside = (yy - y0) ** 2 + (ii - i0) ** 2 + (jj - x0) ** 2 < rad ** 2
        shape = [b - a for a, b in zip(lo, hi)]
        frac = inside.reshape(shape[0], s, shape[1], s, shape[2], s).mean(axis=(1, 3, 5))
        vol[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] += d * frac
    return vol.astype(np.float32)


def regions(phantom: dict, size_px: int, edge_rows_px: int = EDGE_ROWS_PX,
            clearance_px: float = CLEARANCE_PX) -> dict[str, np.ndarray]:
    """Boolean (rows, N, N) masks of the metric regions, rows within ``edge_rows_px`` of the
    image's top and bottom left out, every interface cleared by ``clearance_px`` (px):

    ``fov``: the reconstructed disk r ≤ (N−1)/2 − 1; ``air``: air outside the tube
    (r ≥ outer + clearance); ``bore``: air inside the tube, clear of the spheres; ``wall``: the
    tube wall ± clearance (the band along the tube wall); ``cores``: the POM spheres shrunk
    by the clearance (only spheres of radius > 2·clearance).
    """
    n = int(size_px)
    c = (n - 1) / 2.0
    tube = _tube(phantom)
    ii, jj = np.mgrid[0:n, 0:n].astype(float)
    r = np.hypot(jj - tube["center_x_px"], ii - c)
    rows = np.zeros(n, bool)
    rows[edge_rows_px:n - edge_rows_px] = True
    fov2 = np.hypot(jj - c, ii - c) <= c - 1
    out = {
        "fov": fov2,
        "air": (r >= tube["outer_radius_px"] + clearance_px) & fov2,
        "wall": (r >= tube["inner_radius_px"] - clearance_px)
        & (r < tube["outer_radius_px"] + clearance_px) & fov2,
    }
    vol = {k: rows[:, None, None] & v[None] for k, v in out.items()}
    bore = rows[:, None, None] & (r < tube["inner_radius_px"] - clearance_px)[None]
    cores = np.zeros((n, n, n), bool)
    y = np.arange(n, dtype=float)[:, None, None]
    for sp in _spheres(phantom):
        y0, x0 = sp["center_yx_px"]
        i0, rad = c - sp.get("center_z_px", 0.0), sp["radius_px"]
        d2 = (y - y0) ** 2 + (ii[None] - i0) ** 2 + (jj[None] - x0) ** 2
        bore &= d2 >= (rad + clearance_px) ** 2
        if rad > 2 * clearance_px:
            cores |= d2 < (rad - clearance_px) ** 2
    vol["bore"] = bore
    vol["cores"] = cores & rows[:, None, None]
    return vol


# --- phase stacks ----------------------------------------------------------------------------
def air_columns(phantom: dict, size_px: int, margin_px: float = AIR_MARGIN_PX) -> np.ndarray:
    """Boolean (N,) mask of the projection columns that see only air (outside the tube by
    ``margin_px``); the tube does not rotate out of them, since its axis is the rotation axis."""
    tube = _tube(phantom)
    x = np.arange(size_px, dtype=float)
    return np.abs(x - tube["center_x_px"]) >= tube["outer_radius_px"] + margin_px


def reference_to_air(stack_rad: np.ndarray, air: np.ndarray, rule: str = "projection") -> np.ndarray:
    """Phase projections (n, y, x) in radians referenced to air: a new float32 array.

    ``air`` is the (x,) mask of :func:`air_columns`. ``rule="projection"``: per projection,
    the least-squares plane a + b·x + c·y over its air pixels is subtracted (a retrieved phase
    has an arbitrary constant, and integration can leave a slow ramp); ``"row"``: per
    projection and row (= sinogram row), the least-squares line a + b·x over that row's air
    pixels. The air columns must lie on both sides of the tube.
    """
    if rule not in REFERENCES:
        raise ValueError(f"rule must be one of {REFERENCES}, got {rule!r}")
    stack = np.asarray(stack_rad, np.float64)
    n, ny, nx = stack.shape
    x = (np.arange(nx, dtype=float) - (nx - 1) / 2) / nx
    xa = x[air]
    vals = stack[:, :, air]  # (n, y, k)
    if rule == "row":
        design = np.stack([np.ones_like(xa), xa], axis=1)  # (k, 2)
        coef = np.linalg.lstsq(design, vals.reshape(-1, xa.size).T, rcond=None)[0]  # (2, n·y)
        a, b = (c.reshape(n, ny, 1) for c in coef)
        fit = a + b * x[None, None, :]
    else:
        y = (np.arange(ny, dtype=float) - (ny - 1) / 2) / ny
        yy, xx = np.meshgrid(y, xa, indexing="ij")
        design = np.stack([np.ones(yy.size), xx.ravel(), yy.ravel()], axis=1)
        coef = np.linalg.lstsq(design, vals.reshape(n, -1).T, rcond=None)[0]  # (3, n)
        a, b, cy = (c[:, None, None] for c in coef)
        fit = a + b * x[None, None, :] + cy * y[None, :, None]
    return (stack - fit).astype(np.float32)


def retrieve_phases(acq, methods=METHODS, generator: str = "pretrained",
                    log=print) -> dict[str, np.ndarray]:
    """Phase stacks (n, y, x) in radians: the truth (``TRUTH``) and each method's, through the
    one per-frame pipeline (window and search range suggested, as the CLI does)."""
    from napari_specktrack.pipeline import Frames, GeneratorSpec, RetrievalParams, retrieve

    frames = Frames(acq.sample, acq.reference, inline=acq.inline)
    speckle_only = Frames(acq.sample, acq.reference)
    spec = GeneratorSpec(generator, device="cpu")
    out = {TRUTH: np.asarray(acq.truth_phase, np.float32)}
    generated = None
    for name, inline, fuse in methods:
        t0 = time.perf_counter()
        params = RetrievalParams.for_inline(spec if inline == "gen" else inline,
                                            fuse_inline=fuse, fusion_material="POM")
        cache = None
        if inline == "gen" and generated is not None:
            cache = dict(enumerate(generated))
        res = retrieve(frames if inline == "measured" else speckle_only, acq.geometry, params,
                       inline_cache=cache)
        if inline == "gen" and generated is None:
            generated = res.inline_generated
        out[name] = np.asarray(res.retrieval.phase_rad, np.float32)
        log(f"{name}: {time.perf_counter() - t0:.0f} s for {acq.sample.shape[0]} projections "
            f"(window {res.params.window_px} px, search ±{res.params.search_px} px)")
    return out


# --- CT and metrics --------------------------------------------------------------------------
def reconstruct_delta(stack_rad: np.ndarray, geometry, center_px: float) -> np.ndarray:
    """δ volume (rows, N, N) from phase projections over [0°, 180°): FBP (Shepp-Logan) then
    δ = −f / (k · p/M) (:func:`napari_specktrack.tomo.phase_to_delta`)."""
    from napari_specktrack.tomo import phase_to_delta, reconstruct

    slices = reconstruct(stack_rad, (0.0, 180.0), center_px, filter_name="shepp-logan")
    return phase_to_delta(slices, geometry)


def metrics(delta: np.ndarray, truth: np.ndarray, masks: dict[str, np.ndarray],
            delta_pom: float) -> dict[str, float]:
    """Errors of a δ volume against the true δ volume (both dimensionless).

    ``rms_<region>``: RMS of δ − δ_true over each region of :func:`regions` except the cores
    (dimensionless); ``rms_<region>_pct_pom``: the same in percent of POM's δ (``delta_pom``);
    ``pom_mean``: mean δ in the sphere cores; ``pom_error_pct``: its error against
    ``delta_pom`` in percent.
    """
    err = np.asarray(delta, np.float64) - np.asarray(truth, np.float64)
    out: dict[str, float] = {}
    for key, m in masks.items():
        if key == "cores" or not m.any():
            continue
        rms = float(np.sqrt(np.mean(err[m] ** 2)))
        out[f"rms_{key}"] = rms
        out[f"rms_{key}_pct_pom"] = 100.0 * rms / delta_pom
    if masks["cores"].any():
        mean = float(np.mean(np.asarray(delta, np.float64)[masks["cores"]]))
        out["pom_mean"] = mean
        out["pom_error_pct"] = 100.0 * (mean / delta_pom - 1.0)
    return out


def pom_delta(geometry, medium: str = "air") -> float:
    """xraydb's δ of POM minus the medium's at the geometry's energy (dimensionless)."""
    from napari_specktrack.physics.materials import optical_constants

    e = geometry.energy_keV
    return optical_constants("POM", e).delta - optical_constants(medium, e).delta


def run(size_px: int = 256, angles: int = 360, seed: int = 0, methods=METHODS,
        generator: str = "pretrained", cache: Path | None = None, log=print) -> dict:
    """Simulate, retrieve, reconstruct and measure. Returns a dict with ``acq``, ``delta``
    (name → δ volume), ``truth`` (true δ volume), ``masks``, ``delta_pom``, ``metrics``
    (rule → name → :func:`metrics`, for both referencing rules of :func:`reference_to_air`;
    ``delta`` holds the ``"projection"`` rule's volumes), ``phases`` (name → phase stack, rad),
    ``cached`` (the phase stacks were read from ``cache``) and ``seconds``."""
    from napari_specktrack.simulate import simulate

    t0 = time.perf_counter()
    angles_deg = np.arange(angles) * 180.0 / angles
    acq = simulate("rotation", size_px, angles_deg=angles_deg, seed=seed)
    log(f"simulated {angles} projections of {size_px}² px in {time.perf_counter() - t0:.0f} s")
    names = [TRUTH] + [m[0] for m in methods]
    cached = cache is not None and Path(cache).exists()
    if cached:
        with np.load(cache) as z:
            phases = {k: z[f"p{i}"] for i, k in enumerate(names)}
        log(f"phase stacks read from {cache}")
    else:
        phases = retrieve_phases(acq, methods, generator, log)
        if cache is not None:
            np.savez(cache, **{f"p{i}": phases[k] for i, k in enumerate(names)})
    g = acq.geometry
    center = float(acq.phantom["rotation_axis_x_px"])
    truth = true_delta_volume(acq.phantom, size_px, g.energy_keV)
    masks = regions(acq.phantom, size_px)
    d_pom = pom_delta(g, acq.phantom.get("medium", "air"))
    air = air_columns(acq.phantom, size_px)
    table: dict[str, dict[str, dict[str, float]]] = {}
    volumes: dict[str, np.ndarray] = {}
    for rule in REFERENCES:
        table[rule] = {}
        for name in names:
            vol = reconstruct_delta(reference_to_air(phases[name], air, rule), g, center)
            table[rule][name] = metrics(vol, truth, masks, d_pom)
            if rule == REFERENCES[0]:
                volumes[name] = vol
    return {"acq": acq, "delta": volumes, "truth": truth, "masks": masks, "delta_pom": d_pom,
            "metrics": table, "phases": phases, "cached": cached,
            "seconds": time.perf_counter() - t0}


# --- output ----------------------------------------------------------------------------------
def best_row(phantom: dict, size_px: int, edge_rows_px: int = EDGE_ROWS_PX) -> int:
    """The slice (image row) that cuts the most sphere area (px²), inside the metric rows."""
    rows = np.arange(edge_rows_px, size_px - edge_rows_px)
    area = np.zeros(rows.size)
    for sp in _spheres(phantom):
        area += np.clip(sp["radius_px"] ** 2 - (rows - sp["center_yx_px"][0]) ** 2, 0, None)
    return int(rows[np.argmax(area)])


def _table_lines(table: dict[str, dict[str, float]]) -> list[str]:
    head = ("| method | RMS δ error, FOV | in air outside the tube | in air in the bore | "
            "along the tube wall | mean δ in POM cores vs xraydb |")
    lines = [head, "|---|---|---|---|---|---|"]
    for name, m in table.items():
        cells = [f"{m[f'rms_{k}'] * 1e9:.1f} ({m[f'rms_{k}_pct_pom']:.1f} %)"
                 if f"rms_{k}" in m else "–" for k in ("fov", "air", "bore", "wall")]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {m['pom_error_pct']:+.1f} % |")
    return lines


def _draw(result: dict, row: int, out: Path) -> None:
    from matplotlib.figure import Figure

    acq, truth, d_pom = result["acq"], result["truth"], result["delta_pom"]
    names = list(result["delta"])
    cols = ["true δ", *names]
    n = truth.shape[-1]
    p_um = acq.geometry.object_pixel_size_m * 1e6
    fov = result["masks"]["fov"][row]
    sl = {"true δ": truth[row]} | {k: v[row] for k, v in result["delta"].items()}
    # the line profile: the slice row through the centre of the largest sphere cut by ``row``
    c = (n - 1) / 2.0
    cut = max(_spheres(acq.phantom),
              key=lambda s: s["radius_px"] ** 2 - (row - s["center_yx_px"][0]) ** 2)
    prow = round(c - cut.get("center_z_px", 0.0))
    fig = Figure(figsize=(2.1 * len(cols), 2.1 * 2 + 2.8), layout="constrained")
    grid = fig.add_gridspec(3, len(cols), height_ratios=[1, 1, 1.25])
    top, mid = [], []
    for k, name in enumerate(cols):
        img = np.where(fov, sl[name], np.nan) / d_pom
        ax = fig.add_subplot(grid[0, k])
        top.append(ax)
        im = ax.imshow(img, cmap="gray", vmin=-0.15, vmax=1.15)
        ax.axhline(prow, color="y", lw=0.6)
        ax.set_title(name.replace("double exposure", "double exp."), fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
        ax2 = fig.add_subplot(grid[1, k])
        mid.append(ax2)
        if name == "true δ":
            ax2.axis("off")
            continue
        em = ax2.imshow(np.where(fov, sl[name] - truth[row], np.nan) / d_pom, cmap="RdBu_r",
                        vmin=-0.5, vmax=0.5)
        ax2.set_xticks([])
        ax2.set_yticks([])
    fig.colorbar(im, ax=top, label="δ / δ_POM", shrink=0.9, pad=0.01)
    fig.colorbar(em, ax=mid, label="δ error / δ_POM", shrink=0.9, pad=0.01)
    ax = fig.add_subplot(grid[2, :])
    xs = (np.arange(n) - c) * p_um
    ax.plot(xs, truth[row, prow] / d_pom, "k-", lw=1.6, label="true δ")
    styles = {TRUTH: ("tab:green", "-"), "conventional": ("tab:orange", "-")}
    for name in names:
        colour, ls = styles.get(name, ("tab:red" if name.startswith("learned") else "tab:blue",
                                       "--" if name.endswith("plain") else "-"))
        ax.plot(xs, sl[name][prow] / d_pom, color=colour, ls=ls, lw=1.0, label=name)
    ax.set_xlabel("x from the rotation axis (µm)", fontsize=8)
    ax.set_ylabel("δ / δ_POM", fontsize=8)
    ax.set_title(f"slice {row} (top: δ; middle: δ error, same scales for all methods); "
                 f"bottom: the yellow line (slice row {prow})", fontsize=8)
    ax.legend(fontsize=7, ncol=4, loc="upper center")
    ax.set_ylim(-0.4, 1.6)
    out.parent.mkdir(parents=True, exist_ok=True)
    import io

    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, dpi=80, format="png")
    # a 256-colour palette keeps the PNG small enough for git (< 300 kB)
    Image.open(buf).convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE).save(out, optimize=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="projection side, px")
    parser.add_argument("--angles", type=int, default=360, help="projections over [0°, 180°)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--generator", default="pretrained")
    parser.add_argument("--cache", type=Path, help="npz of the phase stacks (read if it exists)")
    parser.add_argument("--out", type=Path, default=HERE / "images" / "fig5_ct.png")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    res = run(args.size, args.angles, args.seed, generator=args.generator, cache=args.cache)
    row = best_row(res["acq"].phantom, args.size)
    for rule, table in res["metrics"].items():
        print(f"\nair reference per {rule}; δ errors ×1e-9 (% of δ_POM = {res['delta_pom']:.3e}):")
        print("\n".join(_table_lines(table)))
    _draw(res, row, args.out)
    seconds = time.perf_counter() - t0
    meta = {"size_px": args.size, "angles": args.angles, "angles_span_deg": [0, 180],
            "seed": args.seed, "generator": args.generator, "filter": "shepp-logan",
            "center_px": res["acq"].phantom["rotation_axis_x_px"],
            "delta_pom": res["delta_pom"], "energy_keV": res["acq"].geometry.energy_keV,
            "edge_rows_px": EDGE_ROWS_PX, "clearance_px": CLEARANCE_PX,
            "air_margin_px": AIR_MARGIN_PX, "figure_slice_row": row,
            "region_voxels": {k: int(v.sum()) for k, v in res["masks"].items()},
            "metrics_by_air_reference": res["metrics"], "seconds": round(seconds, 1),
            "phase_stacks_read_from_cache": res["cached"]}
    args.out.with_suffix(".json").write_text(json.dumps(meta, indent=1))
    print(f"wrote {args.out} and {args.out.with_suffix('.json')} in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
