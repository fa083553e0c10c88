"""A simulated (or loaded) acquisition with its exact truth, and its file set."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..geometry import Geometry
from .config import SimulationConfig

#: unit of each truth image
TRUTH_UNITS = {"phase": "rad", "transmission": "1", "darkfield": "1", "dx": "px", "dy": "px",
               "inline": "1"}


@dataclass
class Acquisition:
    """One simulated (or loaded) acquisition with its truth.

    Images are float32, flat-field normalised; ``sample``, ``inline`` and the truth are
    (y, x), or (n, y, x) for a time series / rotation series. Truth: ``truth_phase`` in
    radians (pixel-averaged), ``truth_transmission`` (intensity), ``truth_darkfield`` (1 where
    nothing scatters; the phantoms have no unresolved structure, so it is 1 everywhere),
    ``truth_dx`` / ``truth_dy``: the refraction displacement of the speckle in detector pixels,
    u = ∇φ / ``geometry.phase_gradient_per_shift`` (pixel-averaged gradient); ``truth_inline``:
    the in-line image before photon noise (what a perfect second exposure would record).
    """

    reference: np.ndarray
    sample: np.ndarray
    inline: np.ndarray
    geometry: Geometry
    phantom: dict
    truth_phase: np.ndarray | None = None
    truth_transmission: np.ndarray | None = None
    truth_darkfield: np.ndarray | None = None
    truth_dx: np.ndarray | None = None
    truth_dy: np.ndarray | None = None
    truth_inline: np.ndarray | None = None
    config: SimulationConfig = field(default_factory=SimulationConfig)
    seed: int | None = None
    info: dict = field(default_factory=dict)

    TRUTH = ("phase", "transmission", "darkfield", "dx", "dy", "inline")
    #: the files :meth:`save` writes
    FILES = ("reference.tif", "sample.tif", "inline.tif", *(f"truth_{n}.tif" for n in TRUTH),
             "geometry.json", "phantom.json", "simulation.json")

    def regions(self, ring_px: float = 6.0, border_px: int = 12) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boolean masks ``(edge ring, interior, core)`` from the truth, for accuracy figures.

        The *edge ring* is every pixel within ``ring_px`` pixels of a sharp interface (where the
        true displacement exceeds 1 px: the singular rim gradient), the *interior* every other
        pixel; both lie in the *core*, at least ``border_px`` pixels from the image border. The
        one definition behind docs/accuracy.md, the benchmarks and the tests.
        """
        from scipy.ndimage import distance_transform_edt

        if self.truth_dx is None or self.truth_dy is None or np.ndim(self.truth_dx) != 2:
            raise InputError("regions need the 2-D truth displacement of a single simulated frame")
        ring = distance_transform_edt(np.hypot(self.truth_dx, self.truth_dy) <= 1.0) <= ring_px
        core = np.zeros(ring.shape, bool)
        core[border_px:-border_px, border_px:-border_px] = True
        return core & ring, core & ~ring, core

    def material_regions(self) -> tuple[np.ndarray, dict[int, str]]:
        """``(labels, {label: material})`` marking each tube's side walls, as a user would paint
        them for the fusion's several-material absorption (``fuse_inline(regions=…,
        region_materials=…)``): label 1 … where the ray runs along a tube's wall, ``inner ≤
        |x − axis| ≤ outer`` (+ 1 px for the pixel-averaged rim), 0 elsewhere (the spheres,
        the bore, the empty beam: the main material). Labels are uint8, (y, x)."""
        shape = np.shape(self.reference)[-2:]
        labels = np.zeros(shape, np.uint8)
        materials: dict[int, str] = {}
        x = np.arange(shape[1])
        for obj in self.phantom.get("objects", []):
            if obj.get("shape") != "tube" or obj.get("axis", "y") != "y":
                continue
            d = np.abs(x - obj["center_x_px"])
            wall = (d >= obj["inner_radius_px"]) & (d <= obj["outer_radius_px"] + 1.0)
            if wall.any():
                k = len(materials) + 1
                labels[:, wall] = k
                materials[k] = obj["material"]
        return labels, materials

    def provenance(self, inputs: dict[str, Any] | None = None) -> dict[str, Any]:
        """The provenance record of this acquisition (:mod:`napari_specktrack.provenance`):
        params = phantom, seed, size and the :class:`SimulationConfig`; ``info`` (time taken,
        aliasing) under ``stats``."""
        from ..provenance import make_record

        params = {"phantom": self.phantom.get("name"), "seed": self.seed,
                  "size_px": int(np.shape(self.reference)[-1]),
                  "frames": int(np.shape(self.sample)[0]) if np.ndim(self.sample) == 3 else 1,
                  "config": self.config.to_dict()}
        return make_record("simulate", params, inputs or {}, self.geometry, stats=dict(self.info))

    def save(self, out: str | Path | Any, *, overwrite: bool = False) -> Path:
        """Write the DESIGN.md file set into a folder (an existing one is refused unless
        ``overwrite``: the new set then replaces it whole), or into a prepared
        :class:`~napari_specktrack.safety.OutputSet`."""
        from ..io import write_json, write_tiff
        from ..safety import OutputSet

        outputs = out if isinstance(out, OutputSet) else OutputSet(out, overwrite=overwrite,
                                                                   known=self.FILES)
        prov = self.provenance()
        meta = {"geometry": self.geometry.to_dict(), "provenance": prov}
        with outputs:
            for name in ("reference", "sample", "inline"):
                write_tiff(outputs.path(f"{name}.tif"), getattr(self, name), metadata=meta)
            for name in self.TRUTH:
                arr = getattr(self, f"truth_{name}")
                if arr is not None:
                    write_tiff(outputs.path(f"truth_{name}.tif"), arr.astype(np.float32),
                               metadata={**meta, "unit": TRUTH_UNITS[name]})
            self.geometry.to_json(outputs.path("geometry.json"))
            write_json(outputs.path("phantom.json"), self.phantom)
            write_json(outputs.path("simulation.json"), prov)
        return outputs.target

    @classmethod
    def load(cls, directory: str | Path) -> Acquisition:
        """Read a folder written by :meth:`save` (or ``specktrack simulate``)."""
        from ..io import read_json, read_tiff

        d = Path(directory)
        geometry = Geometry.from_json(d / "geometry.json")
        phantom = read_json(d / "phantom.json") if (d / "phantom.json").exists() else {}
        sim = read_json(d / "simulation.json") if (d / "simulation.json").exists() else {}
        params = sim.get("params", sim) if isinstance(sim, dict) else {}
        truth = {
            f"truth_{n}": read_tiff(d / f"truth_{n}.tif")
            for n in cls.TRUTH
            if (d / f"truth_{n}.tif").exists()
        }
        return cls(
            reference=read_tiff(d / "reference.tif"),
            sample=read_tiff(d / "sample.tif"),
            inline=read_tiff(d / "inline.tif"),
            geometry=geometry,
            phantom=phantom,
            config=SimulationConfig.from_dict(params.get("config", {})),
            seed=params.get("seed"),
            **truth,
        )
