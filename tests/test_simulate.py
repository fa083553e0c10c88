"""The simulator against physics: analytic truth, fringes, visibility, displacement, seeds."""

import itertools
import math

import numpy as np
import pytest

from napari_specktrack import Geometry
from napari_specktrack.errors import InputError
from napari_specktrack.physics.materials import optical_constants
from napari_specktrack.physics.theory import phase_map
from napari_specktrack.simulate import Acquisition, SimulationConfig, simulate

NOISELESS = SimulationConfig(photons_per_px=None)


@pytest.fixture(scope="module")
def spheres():
    return simulate("spheres", 192, seed=3, config=NOISELESS)


def _analytic_phase_at_centres(phantom: dict, geometry: Geometry, n: int) -> np.ndarray:
    """φ at pixel centres written out from the phantom.json numbers (independent of theory.py)."""
    k = geometry.wavenumber_per_m
    p = geometry.object_pixel_size_m
    d_air = optical_constants("air", 15.0).delta
    yy, xx = np.mgrid[0:n, 0:n].astype(float)
    phi = np.zeros((n, n))
    for o in phantom["objects"]:
        d = optical_constants(o["material"], 15.0).delta - d_air
        if o["shape"] == "tube":
            r2 = (xx - o["center_x_px"]) ** 2
            t = 2 * np.sqrt(np.clip(o["outer_radius_px"] ** 2 - r2, 0, None)) - 2 * np.sqrt(
                np.clip(o["inner_radius_px"] ** 2 - r2, 0, None)
            )
        else:
            cy, cx = o["center_yx_px"]
            t = 2 * np.sqrt(np.clip(o["radius_px"] ** 2 - (yy - cy) ** 2 - (xx - cx) ** 2, 0, None))
        phi += -k * d * t * p
    return phi


def _rim_distance(phantom: dict, n: int) -> np.ndarray:
    """Distance (px) of each pixel centre to the nearest object boundary."""
    yy, xx = np.mgrid[0:n, 0:n].astype(float)
    dist = np.full((n, n), np.inf)
    for o in phantom["objects"]:
        if o["shape"] == "tube":
            r = np.abs(xx - o["center_x_px"])
            for rad in (o["outer_radius_px"], o["inner_radius_px"]):
                dist = np.minimum(dist, np.abs(r - rad))
        else:
            cy, cx = o["center_yx_px"]
            dist = np.minimum(dist, np.abs(np.hypot(yy - cy, xx - cx) - o["radius_px"]))
    return dist


def test_truth_phase_equals_analytic_sphere_phase(spheres):
    n = spheres.truth_phase.shape[0]
    analytic = _analytic_phase_at_centres(spheres.phantom, spheres.geometry, n)
    far = _rim_distance(spheres.phantom, n) > 3
    # pixel averaging of a smooth chord differs from its centre value by ~φ''/24: < 0.05 rad here
    assert np.max(np.abs(spheres.truth_phase - analytic)[far]) < 0.05
    # pixel-averaged truth recomputed from phantom.json alone, everywhere (rims included)
    recomputed = phase_map(spheres.phantom, spheres.geometry, (n, n), oversample=4)
    np.testing.assert_allclose(spheres.truth_phase, recomputed, atol=2e-3)
    # the strongest sphere's centre: φ = −k Δδ 2R p
    big = max((o for o in spheres.phantom["objects"] if o["shape"] == "sphere"),
              key=lambda o: o["radius_px"])
    assert big["material"] == "POM" and spheres.phantom["objects"][0]["material"] == "PE"


def test_truth_displacement_is_the_phase_gradient(spheres):
    gy, gx = np.gradient(spheres.truth_phase.astype(np.float64))
    gps = spheres.geometry.phase_gradient_per_shift
    far = _rim_distance(spheres.phantom, spheres.truth_phase.shape[0]) > 4
    far[:2] = far[-2:] = False
    far[:, :2] = far[:, -2:] = False
    assert np.max(np.abs(gx / gps - spheres.truth_dx)[far]) < 0.02
    assert np.max(np.abs(gy / gps - spheres.truth_dy)[far]) < 0.02
    # sign (physics.md): matter has φ < 0 and bends rays away: at a sphere's left edge u < 0
    s = next(o for o in spheres.phantom["objects"] if o["shape"] == "sphere")
    cy, cx = (round(v) for v in s["center_yx_px"])
    left = round(s["center_yx_px"][1] - 0.7 * s["radius_px"])
    right = round(s["center_yx_px"][1] + 0.7 * s["radius_px"])
    assert spheres.truth_dx[cy, left] < 0 < spheres.truth_dx[cy, right]
    assert spheres.truth_phase[cy, cx] < 0


def test_speckle_is_displaced_by_the_truth():
    """Brute-force ZNCC on the smooth phantom: the sample's speckle sits at reference(x − u)."""
    acq = simulate("smooth", 192, seed=5, config=NOISELESS)
    norm = acq.sample / acq.inline
    for iy, ix in (np.unravel_index(np.argmax(acq.truth_dx), acq.truth_dx.shape),
                   np.unravel_index(np.argmin(acq.truth_dy), acq.truth_dy.shape)):
        w = 7
        s = norm[iy - w:iy + w + 1, ix - w:ix + w + 1]
        s = (s - s.mean()) / s.std()
        c = np.zeros((7, 7))
        for dy in range(-3, 4):
            for dx in range(-3, 4):
                r = acq.reference[iy - w - dy:iy + w + 1 - dy, ix - w - dx:ix + w + 1 - dx]
                c[dy + 3, dx + 3] = np.mean(s * (r - r.mean()) / r.std())
        j, i = np.unravel_index(np.argmax(c), c.shape)

        def vertex(a, b, cc):
            return 0.5 * (a - cc) / (a - 2 * b + cc)

        ux = i - 3 + vertex(c[j, i - 1], c[j, i], c[j, i + 1])
        uy = j - 3 + vertex(c[j - 1, i], c[j, i], c[j + 1, i])
        assert ux == pytest.approx(acq.truth_dx[iy, ix], abs=0.2)
        assert uy == pytest.approx(acq.truth_dy[iy, ix], abs=0.2)
    assert np.abs(acq.truth_dx).max() < 2.0  # the smooth object stays under 2 px


def test_inline_shows_edge_fringes_that_vanish_at_zero_distance():
    phantom = {"name": "one sphere", "medium": "air",
               "objects": [{"shape": "sphere", "center_yx_px": [64.0, 64.0], "radius_px": 40.0,
                            "material": "POM"}]}
    cfg = SimulationConfig(photons_per_px=None, detector_psf_sigma_px=0.5)
    near = simulate(phantom, 128, config=cfg)
    row = near.inline[64]
    rim = slice(64 + 40 - 6, 64 + 40 + 6)
    # bright/dark edge-enhancement fringe at the rim, well beyond the smooth transmission
    assert row[rim].max() - row[rim].min() > 0.2
    assert np.max(np.abs(near.inline - near.truth_transmission)) > 0.2
    # z → 0: the in-line image is just the transmission, no fringes
    contact = simulate(phantom, 128, config=cfg, geometry=Geometry(distance_m=1e-7))
    assert np.max(np.abs(contact.inline - contact.truth_transmission)) < 0.01
    # propagation conserves energy: the fringes redistribute, they do not add or remove
    interior = slice(16, 112)
    assert near.inline[interior, interior].mean() == pytest.approx(
        near.truth_transmission[interior, interior].mean(), rel=0.01)


def test_default_speckle_visibility_is_realistic():
    acq = simulate("spheres", 192, seed=0)
    vis = acq.reference.std() / acq.reference.mean()
    assert 0.10 <= vis <= 0.30
    sharp = simulate("spheres", 192, seed=0, config=SimulationConfig(detector_psf_sigma_px=0.8))
    assert sharp.reference.std() / sharp.reference.mean() > vis  # a sharper detector, more contrast


def test_noise_level_matches_photon_count():
    flat = {"name": "empty", "medium": "air", "objects": []}
    cfg = SimulationConfig(photons_per_px=1e3, membrane_layers=1e-6, detector_psf_sigma_px=0.0)
    acq = simulate(flat, 128, config=cfg)
    assert acq.inline.mean() == pytest.approx(1.0, abs=0.01)
    assert acq.inline.std() == pytest.approx(1 / math.sqrt(1e3), rel=0.1)


def test_truth_inline_is_the_inline_image_before_noise():
    cfg = SimulationConfig(photons_per_px=2e3)
    acq = simulate("foam", 96, seed=5, config=cfg)
    clean = simulate("foam", 96, seed=5, config=SimulationConfig(photons_per_px=None))
    np.testing.assert_array_equal(acq.truth_inline, clean.inline)  # same phantom, no noise drawn
    # the measured in-line image is the noise-free one plus Poisson noise of 2e3 photons/px
    resid = (acq.inline - acq.truth_inline) / np.sqrt(acq.truth_inline)
    assert resid.mean() == pytest.approx(0.0, abs=3e-3)
    assert resid.std() == pytest.approx(1 / math.sqrt(2e3), rel=0.05)
    # computing the truth draws nothing: the noisy images are those of a run without it
    np.testing.assert_array_equal(acq.sample, simulate("foam", 96, seed=5, config=cfg).sample)


def test_simulated_pairs_have_noise_free_targets_unless_asked(tmp_path):
    from napari_specktrack.learn.pairs import read_pairs
    from napari_specktrack.simulate.pairs import iter_pairs

    (inp, tgt, rec), = iter_pairs(1, 64, phantoms=["foam"], seed=21)
    (inp_n, tgt_n, rec_n), = iter_pairs(1, 64, phantoms=["foam"], seed=21, clean_targets=False)
    cfg = SimulationConfig.from_dict(rec["source"]["config"])
    acq = simulate("foam", 64, seed=21, config=cfg)
    np.testing.assert_array_equal(inp, acq.sample - acq.reference)  # inputs keep their noise
    np.testing.assert_array_equal(inp_n, inp)
    np.testing.assert_array_equal(tgt, acq.truth_inline)
    np.testing.assert_array_equal(tgt_n, acq.inline)
    assert rec["target"] == "noise-free in-line image" and rec_n["target"] == "in-line image"
    from napari_specktrack.simulate.pairs import write_simulated_pairs

    folder = read_pairs(write_simulated_pairs(tmp_path / "p", 2, 48, seed=3))
    assert all(r["target"] == "noise-free in-line image" for r in folder.records)
    # a second run into the same folder must not drop the first run's pairs from the index
    with pytest.raises(InputError, match="already holds"):
        write_simulated_pairs(tmp_path / "p", 1, 48, seed=9)
    grown = read_pairs(write_simulated_pairs(tmp_path / "p", 2, 64, seed=5, append=True))
    assert grown.names == [*folder.names, "spheres_00005", "foam_00006"]
    with pytest.raises(InputError, match="already exists"):
        write_simulated_pairs(tmp_path / "p", 1, 48, seed=3, append=True)


def test_regions_split_the_core_at_sharp_interfaces():
    acq = simulate("spheres", 96, seed=1, config=NOISELESS)
    ring, interior, core = acq.regions(ring_px=4, border_px=10)
    assert not (ring & interior).any() and np.array_equal(ring | interior, core)
    assert not core[:10].any() and core[10:-10, 10:-10].all()
    assert ring.any() and interior.any()
    steep = np.hypot(acq.truth_dx, acq.truth_dy) > 1.0  # the interfaces themselves are ring
    assert ring[steep & core].all()
    with pytest.raises(InputError, match="single"):
        simulate("foaming", 64, seed=1, frames=2, config=NOISELESS).regions()


def test_reproducible_by_seed():
    a = simulate("foam", 96, seed=11)
    b = simulate("foam", 96, seed=11)
    c = simulate("foam", 96, seed=12)
    for name in ("reference", "sample", "inline", "truth_phase"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.phantom == b.phantom
    assert not np.array_equal(a.sample, c.sample)


def test_foam_walls_never_negative_and_bubbles_disjoint():
    acq = simulate("foam", 128, seed=4, config=NOISELESS)
    slab = acq.phantom["objects"][0]
    bubbles = acq.phantom["objects"][1:]
    assert slab["shape"] == "slab" and len(bubbles) > 20
    assert all(b["void"] for b in bubbles)
    pos = np.array([[*b["center_yx_px"], b["center_z_px"]] for b in bubbles])
    rad = np.array([b["radius_px"] for b in bubbles])
    d = np.linalg.norm(pos[:, None] - pos[None], axis=-1) + np.eye(len(rad)) * 1e9
    assert np.all(d >= rad[:, None] + rad[None, :])  # closed cells: no two bubbles overlap
    slab_phase = -acq.geometry.wavenumber_per_m * slab["thickness_px"] * acq.geometry.object_pixel_size_m \
        * (optical_constants("polyurethane", 15).delta - optical_constants("air", 15).delta)
    assert acq.truth_phase.max() <= 1e-6  # polymer thickness ≥ 0
    assert acq.truth_phase.min() >= slab_phase - 1e-3
    assert np.abs(acq.truth_dx).max() > 1.0  # sharp interfaces refract strongly


def test_foaming_bubbles_grow_over_time():
    acq = simulate("foaming", 96, seed=2, frames=4, config=NOISELESS)
    assert acq.sample.shape == (4, 96, 96) and acq.truth_phase.shape == (4, 96, 96)
    assert acq.phantom["frame_rate_hz"] == 20.0
    times = [f["time_s"] for f in acq.phantom["frames"]]
    assert times == pytest.approx([0.0, 0.05, 0.10, 0.15])
    polymer = [-acq.truth_phase[i].mean() for i in range(4)]
    assert all(b <= a + 1e-6 for a, b in itertools.pairwise(polymer))  # air replaces polymer
    assert polymer[-1] < polymer[0]
    # every frame's truth recomputes from that frame's objects
    frame = acq.phantom["frames"][2]
    ph = phase_map({"medium": "air", "objects": frame["objects"]}, acq.geometry, (96, 96))
    np.testing.assert_allclose(acq.truth_phase[2], ph, atol=2e-3)


def test_rotation_series_for_ct():
    acq = simulate("rotation", 64, seed=1, frames=4, config=NOISELESS)
    assert acq.sample.shape == (4, 64, 64)
    assert acq.phantom["angles_deg"] == pytest.approx([0, 45, 90, 135])
    # the projected phase integral (∝ total δ·volume) is the same at every angle
    totals = acq.truth_phase.sum(axis=(1, 2))
    assert np.ptp(totals) < 1e-3 * abs(totals.mean())


def test_save_load_round_trip(tmp_path):
    acq = simulate("spheres", 64, seed=1)
    acq.save(tmp_path)
    names = {p.name for p in tmp_path.iterdir()}
    assert {"reference.tif", "sample.tif", "inline.tif", "geometry.json", "phantom.json",
            "truth_phase.tif", "truth_transmission.tif", "truth_darkfield.tif", "truth_dx.tif",
            "truth_dy.tif", "truth_inline.tif"} <= names
    back = Acquisition.load(tmp_path)
    np.testing.assert_array_equal(back.sample, acq.sample)
    np.testing.assert_array_equal(back.truth_phase, acq.truth_phase.astype(np.float32))
    np.testing.assert_array_equal(back.truth_inline, acq.truth_inline)
    assert back.geometry == acq.geometry and back.phantom == acq.phantom and back.seed == 1
    assert back.truth_phase.dtype == np.float32


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"size_px": 10}, "≥ 32"),
        ({"size_px": 100.5}, "integer"),
        ({"phantom": "cube"}, "unknown phantom"),
        ({"phantom": "foaming", "frames": 0}, "frames"),
    ],
)
def test_bad_requests_raise_clear_errors(kwargs, fragment):
    args = {"phantom": "spheres", "size_px": 64, **kwargs}
    with pytest.raises(InputError, match=fragment):
        simulate(args.pop("phantom"), args.pop("size_px"), **args)


@pytest.mark.parametrize(
    "kwargs", [{"oversample": 0}, {"photons_per_px": -5.0}, {"detector_psf_sigma_px": -1.0},
               {"membrane_distance_m": 0.0}, {"margin_px": -3}]
)
def test_bad_config(kwargs):
    with pytest.raises(InputError):
        SimulationConfig(**kwargs)
