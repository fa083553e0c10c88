"""Reproduce the idea of Yu et al.'s Fig. 6 from simulation: phase profiles across POM spheres.

A line across the largest sphere of the simulated spheres phantom (POM spheres in a PE tube at
15 keV) is profiled in the phase retrieved by

- conventional single-shot speckle tracking,
- double exposure with the *true* (simulated) in-line image, the paper's plain method and
  with the in-line image's own phase fused in (the default here, docs/fusion.md),
- the same two with the in-line image *generated* by the network (learned),

and compared with the theoretical phase of the known phantom (and the simulator's truth). Each
curve is offset-aligned to the theory (a retrieved phase is defined up to a constant); the
legend gives the RMSE against theory, and the fitted radius of the crossed sphere against its
nominal radius is printed and saved as JSON next to the figure.

Steps that fail (e.g. no pretrained generator) are skipped with a message; the figure then
shows what could be computed.

    python docs/make_fig6.py [--size 384] [--seed 0] [--generator pretrained|PATH]
                             [--out docs/images/fig6_profiles.png]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from napari_specktrack.physics import profiles as pr
from napari_specktrack.physics.profiles import model as th
from napari_specktrack.simulate import simulate

HERE = Path(__file__).resolve().parent


def _retrievals(acq, generator: str) -> tuple[dict[str, np.ndarray], list[str]]:
    """Phase images by every method (one pipeline call each); the list says what failed and why.

    Window and search range are suggested from the speckle (as the CLI and the docks do by
    default); "fused" is the default double-exposure method (the in-line image's own phase
    fused in, beyond the paper: docs/fusion.md), "plain" the paper's."""
    from napari_specktrack.pipeline import Frames, GeneratorSpec, RetrievalParams, retrieve

    spec = GeneratorSpec(generator, device="cpu")
    steps = [("conventional", None, False),
             ("double exposure, plain (true in-line)", "measured", False),
             ("double exposure, fused (true in-line)", "measured", True),
             ("learned, plain", spec, False),
             ("learned, fused", spec, True)]
    phases: dict[str, np.ndarray] = {}
    skipped: list[str] = []
    frames = Frames(acq.sample, acq.reference, inline=acq.inline)
    for name, inline, fuse in steps:
        t0 = time.perf_counter()
        try:
            params = RetrievalParams.for_inline(inline, fuse_inline=fuse, fusion_material="POM")
            phases[name] = np.asarray(retrieve(frames, acq.geometry, params).retrieval.phase_rad,
                                      dtype=np.float64)
            print(f"{name}: {time.perf_counter() - t0:.1f} s")
        except Exception as exc:  # report and go on: the figure shows what exists
            skipped.append(f"{name}: {type(exc).__name__}: {exc}")
    return phases, skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=384, help="image side in pixels (default 384)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--generator", default="pretrained", help="generator weights for 'learned'")
    parser.add_argument("--out", default=str(HERE / "images" / "fig6_profiles.png"))
    args = parser.parse_args(argv)

    acq = simulate("spheres", size_px=args.size, seed=args.seed)
    g, phantom = acq.geometry, acq.phantom
    spheres = [o for o in phantom["objects"] if o["shape"] == "sphere"]
    target = max(spheres, key=lambda o: o["radius_px"])
    cy, _ = target["center_yx_px"]
    p0, p1 = (cy, 0.0), (cy, args.size - 1.0)
    d, theory = pr.theory_from_phantom(phantom, g, p0, p1)
    nominal, _ = th.model_from_phantom(phantom, g, p0, p1)
    i_target = next(i for i, c in enumerate(nominal.components)
                    if c.kind == "sphere" and abs(c.offset_px) < 1e-9 and c.radius_px == target["radius_px"])

    phases = {"truth": np.asarray(acq.truth_phase, dtype=np.float64)}
    more, skipped = _retrievals(acq, args.generator)
    phases.update(more)

    p_m = g.object_pixel_size_m
    curves: dict[str, np.ndarray] = {}
    report: dict[str, dict] = {}
    for name, phase in phases.items():
        _, v = pr.sample_line(phase, p0, p1)
        m = pr.compare_profiles(v, theory)
        curves[f"{name} (RMSE {m['rmse_rad']:.2f} rad)"] = v - m["offset_rad"]
        fit = pr.fit_profile(d, v, nominal.with_offset(m["offset_rad"]), robust=name != "truth",
                             nominal_radii_px=[c.radius_px for c in nominal.components])
        r = fit.model.components[i_target]
        report[name] = {**m, "fit_rmse_rad": fit.rmse_rad,
                        "sphere_radius_um": r.radius_px * p_m * 1e6,
                        "sphere_nominal_radius_um": target["radius_px"] * p_m * 1e6,
                        "sphere_radius_error_rel": fit.radius_errors_rel()[i_target],
                        "sphere_center_error_px": r.center_px - nominal.components[i_target].center_px}
        print(f"{name:36s} RMSE {m['rmse_rad']:.3f} rad, max {m['max_error_rad']:.2f} rad, "
              f"r = {m['correlation']:.4f}; fitted R = {r.radius_px * p_m * 1e6:.1f} µm "
              f"(nominal {target['radius_px'] * p_m * 1e6:.1f} µm)")
    for s in skipped:
        print(f"skipped: {s}", file=sys.stderr)

    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 4.0), layout="constrained")
    ax_img, ax_prof, ax_res = fig.subplots(1, 3, width_ratios=[1, 1.6, 1.2])
    shown = "conventional" if "conventional" in phases else "truth"
    extent_um = args.size * p_m * 1e6
    im = ax_img.imshow(phases[shown], cmap="gray", extent=(0, extent_um, extent_um, 0))
    ax_img.plot([0, extent_um], [cy * p_m * 1e6] * 2, "y-", lw=1.2)
    ax_img.set_title(f"{shown} phase (rad)", fontsize=10)
    ax_img.set_xlabel("x (µm)")
    fig.colorbar(im, ax=ax_img, shrink=0.8)
    r_um = target["radius_px"] * p_m * 1e6
    pr.plot_profiles(ax_prof, d, curves, theory=theory, pixel_size_m=p_m,
                     theory_label=f"theory (POM spheres, R = {r_um:.0f} µm, PE tube)")
    ax_prof.set_title("profiles along the line, offset-aligned to theory", fontsize=10)
    x_um = d * p_m * 1e6
    for label, v in curves.items():
        ax_res.plot(x_um, v - theory, lw=1, label=label.split(" (")[0])
    ax_res.set_xlabel("distance along line (µm)")
    ax_res.set_ylabel("profile − theory (rad)")
    ax_res.set_title("residual", fontsize=10)
    ax_res.legend(fontsize="small")
    if skipped:
        fig.text(0.01, 0.005, "not shown: " + "; ".join(s.split(":")[0] for s in skipped),
                 fontsize=7, color="0.4")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=130)
    meta = {"size_px": args.size, "seed": args.seed, "generator": args.generator,
            "line_yx_px": [list(p0), list(p1)],
            "geometry": g.to_dict(), "profiles": report, "skipped": skipped}
    out.with_suffix(".json").write_text(json.dumps(meta, indent=1, default=float))
    print(f"wrote {out} and {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
