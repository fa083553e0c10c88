"""The development studies behind docs/fusion.md's "Several materials" and "What limits it".

All on the development seeds 500–502 (the held-out figures are ``accuracy_fusion.py``'s), the
measured in-line image, window 11 px, search ±6 px; errors in % of the true phase range over
the core, after removing the mean over the core (``accuracy_fusion.scores``).

``materials``  spheres at 768²: the fusion with POM everywhere, the tube walls painted PE
               (``Acquisition.material_regions``), the spheres painted POM and all else PE, an
               oracle absorption map a(x) = ln T / φ from the truth (the bound a map can reach),
               and a(x) estimated from the data — the ratio of smoothed ln T to the smoothed
               tracked phase, and a local regression of one on the other (σ px).
``taper``      spheres and foam at 256² and 512²: the residual's border taper at 2–12 σ of the
               blur (4σ is the shipped width), and keeping the residual's slow part inside it.
``border``     foam at 512²: the fused interior error by distance from the image border.
``rim``        spheres at 256², walls painted: the diameter-profile error by distance from the
               largest sphere's rim.

    python benchmarks/fusion_studies.py materials      # ≈ 2 min on one thread
    python benchmarks/fusion_studies.py taper          # ≈ 3 min
    python benchmarks/fusion_studies.py border rim     # ≈ 30 s

The map variants call the fusion's model (``retrieval._fusion_model``) directly with a
per-pixel absorption, which ``fuse_inline`` builds only from labels.
"""

from __future__ import annotations

import argparse

import numpy as np
from accuracy_fusion import scores

DEV_SEEDS = (500, 501, 502)
KW = {"window_px": 11, "search_px": 6}


def _retrieve(phantom: str, size: int, seed: int):
    from napari_specktrack.retrieval import double_exposure
    from napari_specktrack.simulate import simulate

    acq = simulate(phantom, size, seed=seed)
    de = double_exposure(acq.sample, acq.reference, acq.inline, acq.geometry, fuse_inline=False, **KW)
    return acq, de


def _fuse_with_map(phase, inline, geometry, main_material: str, a_map: np.ndarray) -> np.ndarray:
    """``fuse_inline``'s one frame with an arbitrary absorption map a(x) in the forward model."""
    from napari_specktrack.physics.materials import delta_beta
    from napari_specktrack.retrieval import _fusion_model as fm

    d, b = delta_beta(main_material, geometry.energy_keV)
    a = 2.0 * b / d
    m = fm.FusionModel(geometry=geometry, window_px=KW["window_px"],
                       sigma_px=fm.blur_sigma_px(geometry, 2.0), absorption=a,
                       absorption_error=0.1 * a, flat_field_error=0.0, model_error=0.1,
                       absorption_map=a_map)
    correction, _ = fm.fuse_frame(np.asarray(phase, np.float64), np.asarray(inline, np.float64),
                                  m, None)
    return phase + correction


def materials(args) -> None:
    from scipy.ndimage import gaussian_filter

    from napari_specktrack.physics.materials import delta_beta
    from napari_specktrack.retrieval import conventional
    from napari_specktrack.retrieval.fusion import fuse_inline

    g = lambda x, s: gaussian_filter(np.asarray(x, np.float64), s, mode="reflect")  # noqa: E731
    rows: dict[str, list] = {}
    for seed in args.seeds:
        acq, de = _retrieve("spheres", args.size, seed)
        geo = acq.geometry
        a_pom, a_pe = (2.0 * b / d for d, b in (delta_beta(m, geo.energy_keV) for m in ("POM", "PE")))
        labels, mats = acq.material_regions()
        yy, xx = np.mgrid[: args.size, : args.size]
        spheres = np.zeros(labels.shape, bool)
        for o in acq.phantom["objects"]:
            if o["shape"] == "sphere":
                (cy, cx), r = o["center_yx_px"], o["radius_px"]
                spheres |= (yy - cy) ** 2 + (xx - cx) ** 2 < r**2
        phi, lnT = acq.truth_phase, np.log(acq.truth_transmission)
        with np.errstate(divide="ignore", invalid="ignore"):
            oracle = np.where(np.abs(phi) > 1e-3, lnT / phi, a_pom)
        ln_t = np.log(np.clip(de.transmission, 1e-3, None))
        p = np.asarray(de.phase_rad, np.float64)
        ratio = np.clip(g(ln_t, 22) / np.where(np.abs(g(p, 22)) > 1e-9, g(p, 22), np.inf), 0, 0.02)
        cov = g(p * ln_t, 22) - g(p, 22) * g(ln_t, 22)
        var = g(p * p, 22) - g(p, 22) ** 2
        regression = np.clip((cov + 100 * a_pom) / (var + 100), 0, 0.02)
        variants = {
            "conventional": conventional(acq.sample, acq.reference, geo, **KW).phase_rad,
            "double exposure": de.phase_rad,
            "POM everywhere": fuse_inline(de.phase_rad, acq.inline, geo, window_px=11,
                                          material="POM").phase_rad,
            "walls painted PE": fuse_inline(de.phase_rad, acq.inline, geo, window_px=11,
                                            material="POM", regions=labels,
                                            region_materials=mats).phase_rad,
        }
        for name, a_map in (("spheres POM, else PE", np.where(spheres, a_pom, a_pe)),
                            ("oracle ln T / φ", oracle),
                            ("data: ratio, σ 22 px", ratio),
                            ("data: regression, σ 22 px", regression)):
            variants[name] = _fuse_with_map(de.phase_rad, acq.inline, geo, "POM", a_map)
        for name, phase in variants.items():
            rows.setdefault(name, []).append(scores(acq, phase))
        print(f"... seed {seed}", flush=True)
    conv = np.array(rows["conventional"])[:, 0]
    print(f"\nspheres {args.size}², seeds {list(args.seeds)}: mean ring / interior / diameter %, "
          f"conventional / method (ring)\n")
    print("| variant | ring % | interior % | diameter % | conv / variant (ring) |")
    print("|---|---|---|---|---|")
    for name, v in rows.items():
        v = np.array(v, float)
        print(f"| {name} | {v[:, 0].mean():.2f} | {v[:, 1].mean():.2f} | {v[:, 2].mean():.2f} | "
              f"{np.mean(conv / v[:, 0]):.2f} |")


def taper(args) -> None:
    from scipy.ndimage import gaussian_filter

    from napari_specktrack.retrieval import _fusion_model as fm
    from napari_specktrack.retrieval.fusion import fuse_inline

    shipped_taper, shipped_frame = fm.border_taper, fm.fuse_frame
    state = {"scale": 4.0, "keep_slow_px": 0.0}

    def scaled_taper(shape, width_px):
        return shipped_taper(shape, max(1, round(width_px * state["scale"] / 4.0)))

    # the shipped step with R → taper·R + (1 − taper)·G_σ(R) in place of taper·R (the residual's
    # slow part kept inside the taper): the step's own source with that one line changed
    import inspect

    src = inspect.getsource(shipped_frame)
    tapered = "    R = (R - np.sum(taper * R) / np.sum(taper)) * taper\n"
    assert tapered in src, "fuse_frame changed: update this study"
    src = src.replace(tapered, "    R = R - np.sum(taper * R) / np.sum(taper)\n"
                      "    R = taper * R + (1 - taper) * _slow(R, _STATE['keep_slow_px'])\n")
    namespace = {**vars(fm), "_STATE": state, "border_taper": scaled_taper,
                 "_slow": lambda r, s: gaussian_filter(r, s, mode="reflect") if s else 0.0 * r}
    exec(compile(src, fm.__file__, "exec"), namespace)
    frame_keeping_slow = namespace["fuse_frame"]

    fm.border_taper, fm.fuse_frame = scaled_taper, frame_keeping_slow
    try:
        for phantom, material in (("foam", "PU"), ("spheres", "POM")):
            for size in (256, 512):
                found: dict[str, list] = {}
                for seed in args.seeds:
                    acq, de = _retrieve(phantom, size, seed)
                    for label, scale, slow in (("4σ (shipped)", 4.0, 0), ("2σ", 2.0, 0),
                                               ("6σ", 6.0, 0), ("8σ", 8.0, 0), ("12σ", 12.0, 0),
                                               ("4σ, slow part kept (σ 8)", 4.0, 8),
                                               ("4σ, slow part kept (σ 16)", 4.0, 16)):
                        state.update(scale=scale, keep_slow_px=slow)
                        f = fuse_inline(de.phase_rad, acq.inline, acq.geometry, window_px=11,
                                        material=material).phase_rad
                        found.setdefault(label, []).append(scores(acq, f)[:2])
                print(f"\n{phantom} {size}²: ring / interior % (mean over seeds {list(args.seeds)})")
                for label, v in found.items():
                    v = np.array(v)
                    print(f"  {label:28s} {v[:, 0].mean():5.2f} / {v[:, 1].mean():5.2f}", flush=True)
    finally:
        fm.border_taper, fm.fuse_frame = shipped_taper, shipped_frame


def border(args) -> None:
    from scipy.ndimage import gaussian_filter

    from napari_specktrack.retrieval.fusion import fuse_inline

    print("foam 512², fused with PU: interior error by distance from the border (% of range)")
    print("| seed | band (px) | RMS | RMS of the Gaussian (σ 8 px) low-pass | mean | share of interior |")
    print("|---|---|---|---|---|---|")
    for seed in args.seeds[:2]:
        acq, de = _retrieve("foam", 512, seed)
        f = fuse_inline(de.phase_rad, acq.inline, acq.geometry, window_px=11, material="PU").phase_rad
        _ring, interior, core = acq.regions()
        e = f - acq.truth_phase
        e = e - e[core].mean()
        peak = float(np.ptp(acq.truth_phase[core]))
        n = e.shape[0]
        yy, xx = np.mgrid[:n, :n]
        d = np.minimum(np.minimum(yy, xx), np.minimum(n - 1 - yy, n - 1 - xx))
        low = gaussian_filter(e, 8)
        for lo, hi in ((12, 24), (24, 36), (36, 60), (60, 120), (120, n)):
            m = interior & (d >= lo) & (d < hi)
            print(f"| {seed} | {lo}–{hi} | {100 * np.sqrt(np.mean(e[m] ** 2)) / peak:.2f} | "
                  f"{100 * np.sqrt(np.mean(low[m] ** 2)) / peak:.2f} | {100 * e[m].mean() / peak:+.2f} | "
                  f"{m.sum() / interior.sum():.2f} |")


def rim(args) -> None:
    from accuracy_fusion import diameter_error

    from napari_specktrack.retrieval.fusion import fuse_inline

    print("spheres 256², walls painted PE: diameter-profile error by distance from the rim (rad)")
    print("| seed | diameter % | 0–3 px | 3–8 px | 8–20 px | ≥ 20 px | range (rad) |")
    print("|---|---|---|---|---|---|---|")
    for seed in args.seeds:
        acq, de = _retrieve("spheres", 256, seed)
        labels, mats = acq.material_regions()
        f = fuse_inline(de.phase_rad, acq.inline, acq.geometry, window_px=11, material="POM",
                        regions=labels, region_materials=mats).phase_rad
        s = max((o for o in acq.phantom["objects"] if o["shape"] == "sphere"),
                key=lambda o: o["radius_px"])
        (cy, cx), r = s["center_yx_px"], s["radius_px"]
        xs = np.arange(max(int(np.ceil(cx - r)), 0), min(int(cx + r) + 1, 256))
        t = acq.truth_phase[round(cy), xs]
        e = f[round(cy), xs] - t
        e -= e.mean()
        dist = np.minimum(xs - (cx - r), (cx + r) - xs)
        cells = [np.sqrt(np.mean(e[(dist >= lo) & (dist < hi)] ** 2))
                 for lo, hi in ((0, 3), (3, 8), (8, 20), (20, 1e9))]
        print(f"| {seed} | {diameter_error(acq, f):.2f} | " + " | ".join(f"{c:.2f}" for c in cells)
              + f" | {np.ptp(t):.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("studies", nargs="+", choices=("materials", "taper", "border", "rim"))
    ap.add_argument("--seeds", type=int, nargs="+", default=list(DEV_SEEDS))
    ap.add_argument("--size", type=int, default=768, help="frame side of `materials` (px)")
    args = ap.parse_args()
    for study in args.studies:
        globals()[study](args)


if __name__ == "__main__":
    main()
