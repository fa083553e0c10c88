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
written in the pair-folder format of
:mod:`napari_specktrack.learn.pairs` (full frames; training draws aligned random crops).
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

PAIR_PHANTOMS = ("spheres", "foam")


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
    if n_pairs < 1:
        raise InputError(f"number of pairs must be ≥ 1, got {n_pairs}")
    bad = [p for p in phantoms if p not in (*PAIR_PHANTOMS, "smooth")]
    if bad:
        raise InputError(f"pairs can be made from {(*PAIR_PHANTOMS, 'smooth')}, not {bad}")
    base = config or SimulationConfig()
    for i in range(n_pairs):
        s = seed + i
        cfg = base
        if vary_detector:
            rng = np.random.default_rng([s, 7])
            cfg = SimulationConfig.from_dict(
                {
                    **base.to_dict(),
                    "detector_psf_sigma_px": float(rng.uniform(1.0, 2.0)),
                    "photons_per_px": float(math.exp(rng.uniform(math.log(2e3), math.log(2e4)))),
                }
            )
        phantom = phantoms[i % len(phantoms)]
        acq = simulate(phantom, size_px, seed=s, geometry=geometry, config=cfg)
        record = {
            "name": f"{phantom}_{s:05d}",
            "source": {"simulated": True, "phantom": phantom, "seed": s, "config": cfg.to_dict()},
            "frame": None,
            "crop_yx_px": None,
            "target": "noise-free in-line image" if clean_targets else "in-line image",
        }
        target = acq.truth_inline if clean_targets else acq.inline
        yield (acq.sample - acq.reference).astype(np.float32), target.astype(np.float32), record


def write_simulated_pairs(
    out_dir: str | Path,
    n_pairs: int,
    size_px: int,
    *,
    phantoms: Sequence[str] = PAIR_PHANTOMS,
    seed: int = 0,
    geometry: Geometry | None = None,
    config: SimulationConfig | None = None,
    vary_detector: bool = True,
    clean_targets: bool = True,
    append: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Simulate ``n_pairs`` pairs and write them as a pair folder (see learn/pairs.py).

    An existing pair folder is refused unless ``append`` (then the new pairs are added to it;
    their seeds must not repeat names already there).
    """
    from ..learn.pairs import write_pairs

    geometry = geometry or Geometry()
    out = Path(out_dir)
    has_pairs = (out / "pairs.json").exists()
    if has_pairs and not append:
        raise InputError(
            f"{out} already holds a pair folder; write to a new folder, or append to it "
            f"(--append) with seeds it does not have yet"
        )
    for i, (inp, tgt, rec) in enumerate(
        iter_pairs(
            n_pairs,
            size_px,
            phantoms=phantoms,
            seed=seed,
            geometry=geometry,
            config=config,
            vary_detector=vary_detector,
            clean_targets=clean_targets,
        )
    ):
        # one pair at a time, appended, so a long run keeps what it made if interrupted
        write_pairs(out, [inp], [tgt], [rec], geometry, append=has_pairs or i > 0)
        if progress is not None:
            progress(i + 1, n_pairs)
    return out
