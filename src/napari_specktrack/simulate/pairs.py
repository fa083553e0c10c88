"""Training pairs for the generator: input = sample − reference, target = in-line image.

Each pair comes from its own simulated acquisition (its own phantom, membrane and noise, by
seed). With ``vary_detector=True`` (the default) the detector PSF and the photon count are
drawn per pair over the realistic range (σ 1–2 px, 2·10³–2·10⁴ photons/px, log-uniform), so
the network does not learn one noise level. With ``clean_targets=True`` (the default) the
target is the in-line image *before* photon noise (``Acquisition.truth_inline``) while the
input keeps its noise: the generator then learns the in-line image itself. Trained on noisy
targets, the adversarial loss rewards reproducing the noise: the generated images came out
grainy in flat regions (the shipped lite model before step 17,900, held-out foam SSIM 0.86).
A measured training set has only noisy targets; ``clean_targets=False`` mimics it. Pairs are
written in the pair-folder format of :mod:`napari_specktrack.learn.pairs` (full frames;
training draws aligned random crops), each with its reference (``references/``) and a split:
``validation_fraction`` of the pairs (seeded) are held out for validation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..geometry import Geometry
from .imaging import SimulationConfig, simulate

PAIR_PHANTOMS = ("spheres", "foam")  # the default cycle of phantoms
#: every phantom a pair can be made from (``spheres-varied``: the frame-size-independent set of
#: docs/generator-size.md)
PAIR_PHANTOM_CHOICES = (*PAIR_PHANTOMS, "spheres-varied", "smooth")


def _pair_config(base: SimulationConfig, s: int, vary_detector: bool) -> SimulationConfig:
    if not vary_detector:
        return base
    rng = np.random.default_rng([s, 7])
    return SimulationConfig.from_dict({
        **base.to_dict(),
        "detector_psf_sigma_px": float(rng.uniform(1.0, 2.0)),
        "photons_per_px": float(math.exp(rng.uniform(math.log(2e3), math.log(2e4)))),
    })


def _iter_acquisitions(n_pairs: int, size_px: int, *, phantoms: Sequence[str] = PAIR_PHANTOMS,
                       seed: int = 0, geometry: Geometry | None = None,
                       config: SimulationConfig | None = None, vary_detector: bool = True,
                       clean_targets: bool = True) -> Iterator[tuple[Any, dict[str, Any]]]:
    """(acquisition, record) of each simulated pair."""
    if n_pairs < 1:
        raise InputError(f"number of pairs must be ≥ 1, got {n_pairs}")
    bad = [p for p in phantoms if p not in PAIR_PHANTOM_CHOICES]
    if bad:
        raise InputError(f"pairs can be made from {PAIR_PHANTOM_CHOICES}, not {bad}")
    base = config or SimulationConfig()
    for i in range(n_pairs):
        s = seed + i
        cfg = _pair_config(base, s, vary_detector)
        phantom = phantoms[i % len(phantoms)]
        acq = simulate(phantom, size_px, seed=s, geometry=geometry, config=cfg)
        record = {
            "name": f"{phantom}_{s:05d}",
            # with size_px the source is the whole simulate() call: a folder may mix sizes
            "source": {"simulated": True, "phantom": phantom, "seed": s, "size_px": int(size_px),
                       "config": cfg.to_dict()},
            "frame": None,
            "crop_yx_px": None,
            "target": "noise-free in-line image" if clean_targets else "in-line image",
        }
        yield acq, record


def iter_pairs(
    n_pairs: int,
    size_px: int,
    *,
    phantoms: Sequence[str] = PAIR_PHANTOMS,
    seed: int = 0,
    geometry: Geometry | None = None,
    config: SimulationConfig | None = None,
    vary_detector: bool = True,
    clean_targets: bool = True,
) -> Iterator[tuple[np.ndarray, np.ndarray, dict[str, Any]]]:
    """Yield ``(input, target, record)`` for ``n_pairs`` simulated acquisitions.

    Phantoms cycle through ``phantoms``; pair ``i`` uses seed ``seed + i``.
    """
    for acq, record in _iter_acquisitions(n_pairs, size_px, phantoms=phantoms, seed=seed,
                                          geometry=geometry, config=config,
                                          vary_detector=vary_detector, clean_targets=clean_targets):
        target = acq.truth_inline if clean_targets else acq.inline
        yield (acq.sample - acq.reference).astype(np.float32), target.astype(np.float32), record


def write_simulated_pairs(
    out_dir: str | Path,
    n_pairs: int,
    size_px: int,
    *,
    append: bool = False,
    overwrite: bool = False,
    validation_fraction: float = 0.0,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    **options: Any,
) -> Path:
    """Simulate ``n_pairs`` pairs and write them as a pair folder (see learn/pairs.py).

    An existing pair folder is refused unless ``append`` (the new pairs are added; their seeds
    must not repeat names already there; they may be of another ``size_px``: each record holds
    its shape) or ``overwrite`` (replaced whole). The folder is
    staged and swapped in when every pair is made: an interrupted run writes nothing (make a
    long set in parts with ``append``). ``options`` are those of :func:`iter_pairs`
    (phantoms, seed, geometry, config, vary_detector, clean_targets).
    """
    from ..errors import CancelledError
    from ..learn.pair_writer import PairWriter
    from ..learn.pairs import choose_validation, read_index
    from ..provenance import make_record

    unknown = set(options) - {"phantoms", "seed", "geometry", "config", "vary_detector",
                              "clean_targets"}
    if unknown:
        raise TypeError(f"write_simulated_pairs() got unexpected options {sorted(unknown)}")
    options["geometry"] = geometry = options.get("geometry") or Geometry()
    phantoms = options.setdefault("phantoms", PAIR_PHANTOMS)
    seed = options.setdefault("seed", 0)
    out = Path(out_dir)
    if append and overwrite:
        raise InputError("append and overwrite exclude each other: add to the folder, or replace it")
    if (out / "pairs.json").exists() and not (append or overwrite):
        raise InputError(f"{out} already holds a pair folder; write to a new folder, append to "
                         f"it (--append) with seeds it does not have yet, or replace it whole "
                         f"(--overwrite)")
    held = choose_validation(n_pairs, validation_fraction, seed)
    if append and (out / "pairs.json").exists():
        have = {r["name"] for r in read_index(out)["pairs"]}
        clash = [f"{phantoms[i % len(phantoms)]}_{seed + i:05d}" for i in range(n_pairs)]
        clash = [n for n in clash if n in have]
        if clash:
            raise InputError(f"pair name {clash[0]!r} already exists in {out}; append with "
                             f"seeds it does not have yet (another --seed)")
    clean_targets = options.setdefault("clean_targets", True)
    params = {"n_pairs": n_pairs, "size_px": size_px, "phantoms": list(phantoms), "seed": seed,
              "vary_detector": options.get("vary_detector", True), "clean_targets": clean_targets,
              "validation_fraction": validation_fraction}
    record = make_record("simulate", params, {}, geometry)
    mode = "append" if append else ("overwrite" if overwrite else "new")
    with PairWriter(out, geometry, mode=mode, provenance=record) as writer:
        for i, (acq, rec) in enumerate(_iter_acquisitions(n_pairs, size_px, **options)):
            if cancel is not None and cancel():
                raise CancelledError(f"simulation cancelled after {i} of {n_pairs} pairs; "
                                     f"nothing was written")
            target = acq.truth_inline if clean_targets else acq.inline
            rec["split"] = "validation" if held[i] else "train"
            writer.add((acq.sample - acq.reference).astype(np.float32), target, rec,
                       reference=acq.reference)
            if progress is not None:
                progress(i + 1, n_pairs)
    return out
