"""Why the shipped generator's quality depends on the frame size (issue 14, section 2).

A measurement study; nothing is trained. SSIM of the generated in-line image against the true
one before photon noise (``Acquisition.truth_inline``; skimage's structural_similarity, data
range of the true image, as in ``eval_generator.py``), on held-out seeds (default 900–903; the
shipped training set used seeds ≥ 1000, validation 800–803). The generator runs in float32
(the module's own pass), one CPU thread.

Tables:

0. the default phantoms (``spheres``: radii 0.07–0.17 × frame side and a tube whose wall is
   0.04 × side; ``foam``: bubble radii fixed in µm) at each frame size — the dependence to explain;
1. feature size fixed, frame size varies: spheres of one radius (``--fixed-radius`` px) in a
   tube of fixed wall (10.24 px, the 256² phantom's), at each ``--sizes``;
2. frame size fixed, feature size varies: at each ``--radius-sizes`` frame, spheres of each
   ``--radii`` (radius 0 = the tube alone);
3. instance-norm statistics: on default-spheres frames of ``--norm-size``, the central
   ``--crop``² of (A) the full-frame pass, (B) a pass over the crop alone, (C) the full-frame
   pass with every instance norm using the crop pass's statistics, (D) the crop pass with the
   full frame's statistics — A vs C isolates the statistics, A vs D the context;
4. receptive field: the theoretical one (layer arithmetic) and the measured support and
   mass radii of ∂(centre output)/∂(input) with the norms' statistics frozen;
5. content fixed, frame grows: the default 256² spheres phantom (same seed, same spheres and
   tube) centred in frames of ``--embed-sizes``, SSIM over the central 256²;
6. frozen statistics: every instance norm uses the mean statistics of 256² training-like
   frames (training seeds ``--stat-seeds``) instead of the frame's own — no retraining;
7. how far each phantom's norm statistics drift from their 256² values as the frame grows
   (default spheres, fixed-radius spheres with and without the tube, foam), and the SSIM of
   the tube-free fixed-radius spheres.

Besides the frame SSIM, the mean of the SSIM map over the spheres (discs dilated by 4 px), over
the rest, and ≥ 32 px from the frame border, and the RMS error (flat-field units; SSIM's data
range is the frame's own, so it changes with the content) say where the loss lies.

    python benchmarks/size_study.py [--generator pretrained] [--sizes 128 256 512 1024]
        [--seeds 900 901 902 903] [--fixed-radius 30] [--radii 0 10 20 40 80 120] [--radius-sizes 256 512]
        [--norm-size 512] [--crop 256] [--embed-sizes 256 384 512 768] [--json size_study.json]
        [--tables 0 1 2 3 4 5 6 7] [--figure docs/images/generator_size.png]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

TUBE_WALL_PX = 0.04 * 256  # the default phantom's wall at the training frame size (10.24 px)
BORDER_PX = 32  # "core": the SSIM map ≥ this far from the frame border
COVERAGE = 0.27  # projected sphere area / frame area of the default phantom (mean, 6 spheres)


def fixed_spheres_phantom(size_px: int, radius_px: float, rng: np.random.Generator,
                          wall_px: float = TUBE_WALL_PX, max_spheres: int = 400,
                          tube: bool = True) -> dict:
    """POM spheres of one radius in a PE tube of fixed wall, ``phantom.json`` schema.

    The tube's outer radius is 0.46 × side as in ``spheres_phantom`` but its wall is fixed;
    spheres are placed inside the tube (in the frame when they do not fit in it), not
    overlapping in 3-D, until their summed projected area reaches ``COVERAGE`` of the frame
    or no more fit. ``radius_px`` 0 gives the tube alone; ``tube=False`` leaves the tube out
    (spheres anywhere in the frame).
    """
    n = int(size_px)
    c = (n - 1) / 2.0
    outer = 0.46 * n
    inner = outer - wall_px
    objects: list[dict] = [{"shape": "tube", "axis": "y", "center_x_px": c, "outer_radius_px": outer,
                            "inner_radius_px": inner, "material": "PE"}]
    r = float(radius_px)
    gap = 2.56
    want = 0 if r <= 0 else min(max_spheres, max(1, round(COVERAGE * n * n / (math.pi * r * r))))
    placed: list[tuple[float, float, float]] = []
    if not tube:
        objects = []
    in_tube = tube and r + gap < inner
    half = inner if in_tube else n / 2.0
    for _ in range(want):
        for _try in range(500):
            if in_tube:
                x = rng.uniform(c - inner + r + gap, c + inner - r - gap)
                zmax = math.sqrt(max((inner - r - gap) ** 2 - (x - c) ** 2, 0.0))
            else:
                x = rng.uniform(r + gap, n - 1 - r - gap) if n - 1 > 2 * (r + gap) else c
                zmax = half
            z = rng.uniform(-zmax, zmax)
            y = rng.uniform(r + gap, n - 1 - r - gap) if n - 1 > 2 * (r + gap) else c
            if all((y - py) ** 2 + (x - px) ** 2 + (z - pz) ** 2 > (2 * r + gap) ** 2
                   for py, px, pz in placed):
                placed.append((y, x, z))
                break
        else:
            break  # no room left
    objects += [{"shape": "sphere", "center_yx_px": [round(y, 3), round(x, 3)],
                 "center_z_px": round(z, 3), "radius_px": round(r, 3), "material": "POM"}
                for y, x, z in placed]
    return {"name": f"spheres_r{r:g}", "medium": "air", "objects": objects}


def sphere_mask(phantom: dict, shape: tuple[int, int], dilate_px: float = 4.0) -> np.ndarray:
    """Pixels within ``dilate_px`` of a sphere's projected disc."""
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    m = np.zeros(shape, bool)
    for o in phantom["objects"]:
        if o["shape"] == "sphere":
            (cy, cx), r = o["center_yx_px"], o["radius_px"] + dilate_px
            m |= (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    return m


class NormControl:
    """Forward hooks on every InstanceNorm2d: record its input statistics, or apply given ones."""

    def __init__(self, model) -> None:
        from torch import nn

        self.norms = [m for m in model.modules() if isinstance(m, nn.InstanceNorm2d)]
        self.mode = "off"
        self.stats: list[tuple] = []
        self.apply_stats: list[tuple] | None = None
        self._i = 0
        self.handles = [m.register_forward_hook(self._hook) for m in self.norms]

    def _hook(self, module, inputs, output):
        x = inputs[0]
        if self.mode == "record":
            self.stats.append((x.mean(dim=(2, 3), keepdim=True).detach(),
                               x.var(dim=(2, 3), unbiased=False, keepdim=True).detach()))
            return None
        if self.mode == "apply":
            mu, var = self.apply_stats[self._i]
            self._i += 1
            return (x - mu) / (var + module.eps).sqrt()
        return None

    def run(self, model, t, mode: str = "off", stats=None):
        self.mode, self.stats, self.apply_stats, self._i = mode, [], stats, 0
        try:
            return model(t)
        finally:
            self.mode = "off"

    def close(self) -> None:
        for h in self.handles:
            h.remove()


def _ssim(clean: np.ndarray, gen: np.ndarray, masks: dict[str, np.ndarray] | None = None) -> dict:
    from skimage.metrics import structural_similarity

    s, smap = structural_similarity(clean, gen, data_range=float(np.ptp(clean)), full=True)
    err = gen - clean
    dc = clean - clean.mean()  # least squares gen ≈ a·clean + b0: contrast and offset
    a = float((dc * (gen - gen.mean())).sum() / max((dc * dc).sum(), 1e-30))
    b0 = float(gen.mean() - a * clean.mean())
    out = {"ssim": float(s), "rms_err": float(np.sqrt(np.mean(err ** 2))), "mean_err": float(err.mean()),
           "rms_err_after_affine": float(np.sqrt(np.mean((gen - (a * clean + b0)) ** 2))),
           "gain": float(a), "truth_ptp": float(np.ptp(clean))}
    b = BORDER_PX
    if min(clean.shape) > 2 * b + 14:
        out["ssim_core"] = float(smap[b:-b, b:-b].mean())
    for name, m in (masks or {}).items():
        out[f"ssim_{name}"] = float(smap[m].mean()) if m.any() else float("nan")
    return out


def _generate(model_meta, sample, reference):
    from napari_specktrack.learn.inference import generate_inline

    return generate_inline(sample, reference, "pretrained", device="cpu", _model=model_meta,
                           precision="float32")


def _eval(model_meta, phantom, size, seed) -> dict:
    from napari_specktrack.simulate import simulate

    acq = simulate(phantom, size, seed=seed)
    gen = _generate(model_meta, acq.sample, acq.reference)
    desc = acq.phantom if isinstance(phantom, str) else phantom
    masks = None
    if any(o["shape"] == "sphere" for o in desc["objects"]):
        sm = sphere_mask(desc, gen.shape)
        masks = {"spheres": sm, "rest": ~sm}
    radii = [o["radius_px"] for o in desc["objects"] if o["shape"] == "sphere"]
    return {**_ssim(acq.truth_inline, gen, masks), "n_spheres": len(radii),
            "radius_px_range": [min(radii), max(radii)] if radii else None}


def _mean(rows: list[dict], key: str) -> float:
    v = [r[key] for r in rows if key in r and not np.isnan(r[key])]
    return float(np.mean(v)) if v else float("nan")


def _fmt(x: float) -> str:
    return "–" if np.isnan(x) else f"{x:.3f}"


def table_default(model_meta, sizes, seeds) -> dict:
    print("\n## 0. Default phantoms by frame size (SSIM; spheres: over the spheres / elsewhere)\n")
    print("| frame px² | sphere radii px | spheres SSIM | over spheres | elsewhere | ≥ 32 px from border "
          "| RMS error ×10³ | per seed | foam SSIM | foam ≥ 32 px from border |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    res = {}
    for n in sizes:
        sp = [_eval(model_meta, "spheres", n, s) for s in seeds]
        fo = [_eval(model_meta, "foam", n, s) for s in seeds]
        lo = min(r["radius_px_range"][0] for r in sp)
        hi = max(r["radius_px_range"][1] for r in sp)
        res[str(n)] = {"spheres": sp, "foam": fo}
        per = " ".join(f"{r['ssim']:.3f}" for r in sp)
        print(f"| {n}² | {lo:.0f}–{hi:.0f} | {_mean(sp, 'ssim'):.3f} | {_fmt(_mean(sp, 'ssim_spheres'))} | "
              f"{_fmt(_mean(sp, 'ssim_rest'))} | {_fmt(_mean(sp, 'ssim_core'))} | "
              f"{1e3 * _mean(sp, 'rms_err'):.1f} | {per} | {_mean(fo, 'ssim'):.3f} | "
              f"{_fmt(_mean(fo, 'ssim_core'))} |", flush=True)
    return res


def table_fixed_radius(model_meta, sizes, seeds, radius) -> dict:
    print(f"\n## 1. Sphere radius fixed at {radius:g} px, frame size varies\n")
    print("| frame px² | spheres | SSIM | over spheres | elsewhere | ≥ 32 px from border | RMS error ×10³ "
          "| per seed |")
    print("|---|---|---|---|---|---|---|---|")
    res = {}
    for n in sizes:
        rows = _fixed_radius_rows(model_meta, n, radius, seeds)
        res[str(n)] = rows
        print(f"| {n}² | {_sphere_cells(rows, core=True)} |", flush=True)
    return res


def _sphere_cells(rows: list[dict], *, core: bool) -> str:
    """The table cells of fixed-radius rows (one per seed): sphere count, SSIM over the frame,
    the spheres and the rest [and ≥ 32 px from the border], RMS error ×10³, SSIM per seed."""
    cells = [f"{np.mean([r['n_spheres'] for r in rows]):.0f}", f"{_mean(rows, 'ssim'):.3f}",
             _fmt(_mean(rows, "ssim_spheres")), _fmt(_mean(rows, "ssim_rest"))]
    if core:
        cells.append(_fmt(_mean(rows, "ssim_core")))
    cells += [f"{1e3 * _mean(rows, 'rms_err'):.1f}", " ".join(f"{r['ssim']:.3f}" for r in rows)]
    return " | ".join(cells)


def _fixed_radius_rows(model_meta, n: int, radius: float, seeds) -> list[dict]:
    """The evaluation of an n² frame of spheres of ``radius`` px, one row per seed."""
    return [_eval(model_meta, fixed_spheres_phantom(n, radius, np.random.default_rng([s, 14])), n, s)
            for s in seeds]


def table_radius(model_meta, sizes, seeds, radii) -> dict:
    print("\n## 2. Frame size fixed, sphere radius varies (radius 0: the tube alone)\n")
    print("| frame px² | radius px | spheres | SSIM | over spheres | elsewhere | RMS error ×10³ "
          "| per seed |")
    print("|---|---|---|---|---|---|---|---|")
    res = {}
    for n in sizes:
        res[str(n)] = {}
        for r in radii:
            if 2 * r + 6 > n:
                continue
            rows = _fixed_radius_rows(model_meta, n, r, seeds)
            res[str(n)][f"{r:g}"] = rows
            print(f"| {n}² | {r:g} | {_sphere_cells(rows, core=False)} |", flush=True)
    return res


def table_norm(model_meta, size, crop, seeds) -> dict:
    import torch

    from napari_specktrack.learn.pairs import denormalise_target, normalise_input
    from napari_specktrack.simulate import simulate

    model, meta = model_meta
    norm = meta["normalisation"]
    ctl = NormControl(model)
    print(f"\n## 3. Instance-norm statistics: default spheres at {size}², central {crop}² "
          f"(SSIM there; in brackets over its central {crop // 2}²)\n")
    print("| seed | A full frame | B crop alone | C full frame, crop's statistics | "
          "D crop, frame's statistics | max \\|A−C\\| | max \\|A−B\\| | σ ratio crop/frame (range) |")
    print("|---|---|---|---|---|---|---|---|")
    o = (size - crop) // 2
    q = crop // 4
    res = []
    for s in seeds:
        acq = simulate("spheres", size, seed=s)
        x = normalise_input(acq.sample - acq.reference, norm)
        tf = torch.from_numpy(np.ascontiguousarray(x, np.float32))[None, None]
        tc = tf[..., o:o + crop, o:o + crop].contiguous()
        with torch.inference_mode():
            a = ctl.run(model, tf, "record")
            sf = ctl.stats
            b = ctl.run(model, tc, "record")
            sc = ctl.stats
            c = ctl.run(model, tf, "apply", sc)
            d = ctl.run(model, tc, "apply", sf)
        out = {k: denormalise_target(v[0, 0].numpy(), norm) for k, v in
               (("A", a[..., o:o + crop, o:o + crop]), ("B", b), ("C", c[..., o:o + crop, o:o + crop]),
                ("D", d))}
        clean = acq.truth_inline[o:o + crop, o:o + crop]
        row = {"seed": s}
        for k, v in out.items():
            row[k] = _ssim(clean, v)["ssim"]
            row[k + "_inner"] = _ssim(clean[q:-q, q:-q], v[q:-q, q:-q])["ssim"]
        row["max_abs_A_C"] = float(np.abs(out["A"] - out["C"]).max())
        row["max_abs_A_B"] = float(np.abs(out["A"] - out["B"]).max())
        ratios = np.concatenate([((vc + 1e-5) / (vf + 1e-5)).sqrt().flatten().numpy()
                                 for (_, vc), (_, vf) in zip(sc, sf)])
        row["sigma_ratio_range"] = [float(ratios.min()), float(ratios.max())]
        res.append(row)
        print(f"| {s} | " + " | ".join(f"{row[k]:.3f} ({row[k + '_inner']:.3f})" for k in "ABCD")
              + f" | {row['max_abs_A_C']:.3f} | {row['max_abs_A_B']:.3f} | "
              f"{ratios.min():.2f}–{ratios.max():.2f} |", flush=True)
    print("| mean | " + " | ".join(f"{_mean(res, k):.3f} ({_mean(res, k + '_inner'):.3f})" for k in "ABCD")
          + f" | {_mean(res, 'max_abs_A_C'):.3f} | {_mean(res, 'max_abs_A_B'):.3f} | |")
    ctl.close()
    return {"size": size, "crop": crop, "rows": res}


def _embedded(base: int, n: int, seed: int) -> dict:
    """The default ``base``² spheres phantom of ``seed`` (as ``simulate`` draws it) centred in n²."""
    from napari_specktrack.simulate import phantoms as ph

    rng = np.random.default_rng(seed)
    desc = ph.spheres_phantom(base, np.random.default_rng(rng.spawn(3)[0]))
    o = (n - base) // 2
    objs = []
    for ob in desc["objects"]:
        ob = dict(ob)
        if ob["shape"] == "tube":
            ob["center_x_px"] = ob["center_x_px"] + o
        else:
            ob["center_yx_px"] = [ob["center_yx_px"][0] + o, ob["center_yx_px"][1] + o]
        objs.append(ob)
    return {**desc, "objects": objs}


def figure(model_meta, path: str, sizes=(256, 768), seed: int = 900, base: int = 256) -> None:
    """Generated image and error over the same central 256² content in frames of ``sizes``."""
    from matplotlib.figure import Figure

    from napari_specktrack.simulate import simulate

    fig = Figure(figsize=(9, 4.5 * len(sizes)), layout="constrained")
    axes = fig.subplots(len(sizes), 2)
    for row, n in zip(axes, sizes):
        o = (n - base) // 2
        acq = simulate(_embedded(base, n, seed), n, seed=seed)
        gen = _generate(model_meta, acq.sample, acq.reference)
        win = (slice(o, o + base), slice(o, o + base))
        row[0].imshow(gen[win], cmap="gray")
        row[0].set_title(f"generated, central {base}² of a {n}² frame")
        im = row[1].imshow((gen - acq.truth_inline)[win], cmap="RdBu", vmin=-0.15, vmax=0.15)
        row[1].set_title(f"generated − true (RMS {np.sqrt(np.mean((gen - acq.truth_inline)[win] ** 2)):.3f})")
        fig.colorbar(im, ax=row[1], shrink=0.8, label="flat-field units")
    fig.savefig(path, dpi=60)
    print(f"wrote {path}")


def table_embed(model_meta, sizes, seeds, base: int = 256) -> dict:
    """The default ``base``² spheres phantom centred in larger frames: same content, more air.

    Also with every norm given the statistics of the ``base``² frame of the same seed (its own
    membrane and noise draw): if the statistics alone carry the size dependence, that restores
    the ``base``² quality.
    """
    import torch

    from napari_specktrack.learn.pairs import denormalise_target, normalise_input
    from napari_specktrack.simulate import simulate

    model, meta = model_meta
    norm = meta["normalisation"]
    ctl = NormControl(model)
    print(f"\n## 5. The default {base}² spheres phantom centred in a larger frame (SSIM over the "
          f"central {base}²; frame: whole frame)\n")
    print(f"| frame px² | central {base}² SSIM | RMS error ×10³ there | frame SSIM | per seed | "
          f"central {base}² SSIM with the {base}² frame's statistics | the same two over the "
          f"central {base // 2}² |")
    print("|---|---|---|---|---|---|---|")
    res = {}
    base_stats = {}
    for s in seeds:
        acq = simulate(_embedded(base, base, s), base, seed=s)
        x = normalise_input(acq.sample - acq.reference, norm)
        with torch.inference_mode():
            ctl.run(model, torch.from_numpy(np.ascontiguousarray(x, np.float32))[None, None], "record")
        base_stats[s] = ctl.stats
    for n in sizes:
        o = (n - base) // 2
        rows = []
        for s in seeds:
            acq = simulate(_embedded(base, n, s), n, seed=s)
            gen = _generate(model_meta, acq.sample, acq.reference)
            win = (slice(o, o + base), slice(o, o + base))
            r = _ssim(acq.truth_inline[win], gen[win])
            r["frame_ssim"] = _ssim(acq.truth_inline, gen)["ssim"]
            x = normalise_input(acq.sample - acq.reference, norm)
            with torch.inference_mode():
                y = ctl.run(model, torch.from_numpy(np.ascontiguousarray(x, np.float32))[None, None],
                            "apply", base_stats[s])
            g2 = denormalise_target(y[0, 0].numpy(), norm)
            r["ssim_base_stats"] = _ssim(acq.truth_inline[win], g2[win])["ssim"]
            q = base // 4
            inner = (slice(o + q, o + base - q), slice(o + q, o + base - q))
            r["ssim_inner"] = _ssim(acq.truth_inline[inner], gen[inner])["ssim"]
            r["ssim_base_stats_inner"] = _ssim(acq.truth_inline[inner], g2[inner])["ssim"]
            rows.append(r)
        res[str(n)] = rows
        per = " ".join(f"{x['ssim']:.3f}" for x in rows)
        print(f"| {n}² | {_mean(rows, 'ssim'):.3f} | {1e3 * _mean(rows, 'rms_err'):.1f} | "
              f"{_mean(rows, 'frame_ssim'):.3f} | {per} | {_mean(rows, 'ssim_base_stats'):.3f} | "
              f"{_mean(rows, 'ssim_inner'):.3f} / {_mean(rows, 'ssim_base_stats_inner'):.3f} |", flush=True)
    ctl.close()
    return res


def training_statistics(model_meta, seeds, size: int = 256) -> list[tuple]:
    """Per-layer instance-norm statistics averaged over training-like 256² frames.

    The frames alternate spheres and foam as the training pairs did, from training seeds (the
    statistics describe what the network saw; nothing is scored on these frames).
    """
    import torch

    from napari_specktrack.learn.pairs import normalise_input
    from napari_specktrack.simulate import simulate

    model, meta = model_meta
    ctl = NormControl(model)
    acc: list[list[tuple]] = []
    for i, s in enumerate(seeds):
        acq = simulate(("spheres", "foam")[i % 2], size, seed=s)
        x = normalise_input(acq.sample - acq.reference, meta["normalisation"])
        with torch.inference_mode():
            ctl.run(model, torch.from_numpy(np.ascontiguousarray(x, np.float32))[None, None], "record")
        acc.append(ctl.stats)
    ctl.close()
    return [(torch.stack([a[k][0] for a in acc]).mean(0), torch.stack([a[k][1] for a in acc]).mean(0))
            for k in range(len(acc[0]))]


def table_frozen(model_meta, sizes, seeds, stat_seeds) -> dict:
    """Default phantoms at each size, with each frame's own norm statistics and with frozen ones."""
    import torch

    from napari_specktrack.learn.pairs import denormalise_target, normalise_input
    from napari_specktrack.simulate import simulate

    model, meta = model_meta
    norm = meta["normalisation"]
    frozen = training_statistics(model_meta, stat_seeds)
    ctl = NormControl(model)
    print(f"\n## 6. Frozen norm statistics (the mean over 256² training-like frames, seeds "
          f"{stat_seeds[0]}–{stat_seeds[-1]}) instead of each frame's own: SSIM\n")
    print("| frame px² | spheres, own | spheres, frozen | foam, own | foam, frozen | spheres mean error ×10³ "
          "own / frozen | spheres RMS error ×10³ own / frozen (after an affine fit) |")
    print("|---|---|---|---|---|---|---|")
    res = {}
    for n in sizes:
        row: dict[str, list[float]] = {}
        for phantom in ("spheres", "foam"):
            for mode in ("own", "frozen"):
                row[f"{phantom}_{mode}"] = []
            for s in seeds:
                acq = simulate(phantom, n, seed=s)
                x = normalise_input(acq.sample - acq.reference, norm)
                t = torch.from_numpy(np.ascontiguousarray(x, np.float32))[None, None]
                with torch.inference_mode():
                    own = model(t)[0, 0].numpy()
                    fro = ctl.run(model, t, "apply", frozen)[0, 0].numpy()
                for mode, y in (("own", own), ("frozen", fro)):
                    m = _ssim(acq.truth_inline, denormalise_target(y, norm))
                    row[f"{phantom}_{mode}"].append(m["ssim"])
                    for k in ("mean_err", "rms_err", "rms_err_after_affine"):
                        row.setdefault(f"{phantom}_{mode}_{k}", []).append(m[k])
        res[str(n)] = row
        print(f"| {n}² | " + " | ".join(f"{np.mean(row[k]):.3f}" for k in
                                        ("spheres_own", "spheres_frozen", "foam_own", "foam_frozen"))
              + " | " + " / ".join(f"{1e3 * np.mean(row[f'spheres_{m}_mean_err']):+.1f}"
                                   for m in ("own", "frozen"))
              + " | " + " / ".join(f"{1e3 * np.mean(row[f'spheres_{m}_rms_err']):.1f} "
                                   f"({1e3 * np.mean(row[f'spheres_{m}_rms_err_after_affine']):.1f})"
                                   for m in ("own", "frozen")) + " |", flush=True)
    ctl.close()
    return res


def table_drift(model_meta, sizes, seeds, radius) -> dict:
    """How far each phantom's norm statistics move from its own 256² values, and no-tube SSIM."""
    import torch

    from napari_specktrack.learn.pairs import normalise_input
    from napari_specktrack.simulate import simulate

    model, meta = model_meta
    ctl = NormControl(model)
    kinds = {
        "default spheres": lambda n, s: "spheres",
        f"spheres r {radius:g} px, tube": lambda n, s: fixed_spheres_phantom(
            n, radius, np.random.default_rng([s, 14])),
        f"spheres r {radius:g} px, no tube": lambda n, s: fixed_spheres_phantom(
            n, radius, np.random.default_rng([s, 14]), tube=False),
        "foam": lambda n, s: "foam",
    }
    sig: dict = {}
    ssim_notube: dict = {}
    for n in sizes:
        for k, make in kinds.items():
            acc = []
            for s in seeds:
                acq = simulate(make(n, s), n, seed=s)
                x = normalise_input(acq.sample - acq.reference, meta["normalisation"])
                with torch.inference_mode():
                    y = ctl.run(model, torch.from_numpy(np.ascontiguousarray(x, np.float32))[None, None],
                                "record")
                acc.append(torch.cat([v.sqrt().flatten() for _, v in ctl.stats]).numpy())
                if k.endswith("no tube"):
                    from napari_specktrack.learn.pairs import denormalise_target

                    gen = denormalise_target(y[0, 0].numpy(), meta["normalisation"])
                    ssim_notube.setdefault(str(n), []).append(_ssim(acq.truth_inline, gen)["ssim"])
            sig[(k, n)] = np.mean(acc, axis=0)
    ctl.close()
    ref = 256 if 256 in sizes else sizes[0]
    print(f"\n## 7. Drift of the norm statistics with the frame size: median over all norm channels "
          f"of |log(σ_N / σ_{ref})| (σ: a channel's spread over the frame, mean over seeds), and the SSIM "
          f"of tube-free spheres of radius {radius:g} px\n")
    print("| frame px² | " + " | ".join(kinds) + f" | SSIM, r {radius:g} px no tube |")
    print("|---|" + "---|" * (len(kinds) + 1))
    res: dict = {"ssim_no_tube": ssim_notube, "drift": {}}
    for n in sizes:
        d = {k: float(np.median(np.abs(np.log((sig[(k, n)] + 1e-6) / (sig[(k, ref)] + 1e-6)))))
             for k in kinds}
        res["drift"][str(n)] = d
        print(f"| {n}² | " + " | ".join(f"{d[k]:.3f}" for k in kinds)
              + f" | {np.mean(ssim_notube[str(n)]):.3f} |", flush=True)
    return res


def receptive_field(model_meta, size: int = 512, seed: int = 900) -> dict:
    """Theoretical receptive field (layer arithmetic) and the measured gradient support."""
    import torch
    from torch import nn

    from napari_specktrack.learn.pairs import normalise_input
    from napari_specktrack.simulate import simulate

    model, meta = model_meta
    rf, jump = 1, 1
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            rf += (m.kernel_size[0] - 1) * jump
            jump *= m.stride[0]
        elif isinstance(m, nn.ConvTranspose2d):
            s = m.stride[0]  # an output pixel reads ceil(k / s) neighbouring input pixels
            rf += (math.ceil(m.kernel_size[0] / s) - 1) * jump
            jump //= s
    acq = simulate("spheres", size, seed=seed)
    x = normalise_input(acq.sample - acq.reference, meta["normalisation"])
    t = torch.from_numpy(np.ascontiguousarray(x, np.float32))[None, None]
    ctl = NormControl(model)
    with torch.no_grad():
        ctl.run(model, t, "record")
    stats = ctl.stats
    t = t.clone().requires_grad_(True)
    y = ctl.run(model, t, "apply", stats)
    c = size // 2
    y[0, 0, c, c].backward()
    ctl.close()
    g = t.grad[0, 0].abs().numpy()
    nz = np.argwhere(g > 0)
    support = int(max(nz[:, 0].max() - nz[:, 0].min(), nz[:, 1].max() - nz[:, 1].min()) + 1)
    yy, xx = np.mgrid[0:size, 0:size]
    rad = np.hypot(yy - c, xx - c).ravel()
    order = np.argsort(rad)
    cum = np.cumsum(g.ravel()[order]) / g.sum()
    mass = {f"r{int(p * 100)}_px": float(rad[order][np.searchsorted(cum, p)]) for p in (0.5, 0.9, 0.99)}
    res = {"theoretical_px": int(rf), "measured_support_px": support, **mass, "size": size, "seed": seed}
    print(f"\n## 4. Receptive field of the `{meta.get('preset')}` generator\n")
    print(f"theoretical {rf} px across; measured gradient support {support} px across "
          f"(norm statistics frozen, {size}² spheres seed {seed}); half the gradient mass lies "
          f"within {mass['r50_px']:.0f} px of the output pixel, 90 % within {mass['r90_px']:.0f} px, "
          f"99 % within {mass['r99_px']:.0f} px", flush=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generator", default="pretrained",
                    help="weights to study: 'pretrained' or a generator.safetensors / checkpoint")
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512, 1024],
                    help="frame sides (px) for tables 0 and 1")
    ap.add_argument("--seeds", type=int, nargs="+", default=[900, 901, 902, 903])
    ap.add_argument("--fixed-radius", type=float, default=30.0,
                    help="sphere radius (px) of table 1")
    ap.add_argument("--radii", type=float, nargs="+", default=[0, 10, 20, 40, 80, 120],
                    help="sphere radii (px) of table 2")
    ap.add_argument("--radius-sizes", type=int, nargs="+", default=[256, 512],
                    help="frame sides (px) of table 2")
    ap.add_argument("--norm-size", type=int, default=512, help="frame side (px) of table 3")
    ap.add_argument("--crop", type=int, default=256, help="central crop side (px) of table 3")
    ap.add_argument("--embed-sizes", type=int, nargs="+", default=[256, 384, 512, 768],
                    help="frame sides (px) of table 5 (the 256² phantom centred in them)")
    ap.add_argument("--stat-seeds", type=int, nargs="+", default=list(range(1000, 1008)),
                    help="training seeds whose 256² frames give table 6's frozen statistics")
    ap.add_argument("--tables", nargs="+", default=["0", "1", "2", "3", "4", "5", "6", "7"])
    ap.add_argument("--json", help="write the numbers to this JSON file")
    ap.add_argument("--figure", help="also draw the 256² content in 256² and 768² frames to this PNG")
    args = ap.parse_args()

    import torch

    from napari_specktrack.learn.inference import load_generator

    torch.set_num_threads(1)
    model_meta = load_generator(args.generator, "cpu")
    out: dict = {"seeds": args.seeds, "precision": "float32",
                 "generator": f"{args.generator} ({model_meta[1].get('preset')})"}
    t0 = time.time()
    if "4" in args.tables:
        out["receptive_field"] = receptive_field(model_meta)
    if "0" in args.tables:
        out["default"] = table_default(model_meta, args.sizes, args.seeds)
    if "1" in args.tables:
        out["fixed_radius"] = {"radius_px": args.fixed_radius,
                               "rows": table_fixed_radius(model_meta, args.sizes, args.seeds,
                                                          args.fixed_radius)}
    if "2" in args.tables:
        out["radius_sweep"] = table_radius(model_meta, args.radius_sizes, args.seeds, args.radii)
    if "3" in args.tables:
        out["norm_statistics"] = table_norm(model_meta, args.norm_size, args.crop, args.seeds)
    if "5" in args.tables:
        out["embedded"] = table_embed(model_meta, args.embed_sizes, args.seeds)
    if "6" in args.tables:
        out["frozen_statistics"] = table_frozen(model_meta, args.sizes, args.seeds, args.stat_seeds)
    if "7" in args.tables:
        out["statistics_drift"] = table_drift(model_meta, args.sizes, args.seeds, args.fixed_radius)
    if args.figure:
        figure(model_meta, args.figure)
    out["elapsed_s"] = round(time.time() - t0, 1)
    print(f"\n{out['elapsed_s']:.0f} s")
    if args.json:
        from napari_specktrack.io import write_json

        write_json(args.json, out)


if __name__ == "__main__":
    main()
