"""Fusion of the tracked phase with the in-line image's phase (retrieval/fusion.py), against truth.

Synthetic truth: a broad Gaussian bump (30 rad: low frequencies, where tracking is good) plus
eight small ones (σ 2 px, 0.6 rad: the high frequencies a tracking window loses), propagated
with ``physics.propagation`` on a 4× finer grid, binned to the pixel and blurred like the
simulator's detector (source + PSF σ 2 px). The "tracked" phase is the truth blurred by a
Gaussian of σ 3 px, as an 11-px window would. The simulated spheres use a seed never used to
develop or tune the fusion (development seeds 500–502; docs/fusion.md).
"""

import json

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from napari_specktrack import Geometry
from napari_specktrack.errors import CancelledError, InputError
from napari_specktrack.physics import propagation as prop
from napari_specktrack.retrieval import double_exposure
from napari_specktrack.retrieval.fusion import fuse_inline, fuse_inline_phase
from napari_specktrack.simulate import simulate

PSF_PX = 2.0  # the simulator's default detector PSF, used by the synthetic forward model too


def synthetic(n=128, oversample=4, margin=24, photons=None, seed=0):
    """(geometry, pixel-averaged true phase (rad), in-line image) of the bump phantom."""
    g = Geometry()
    c = (np.arange((n + 2 * margin) * oversample) + 0.5) / oversample - margin - 0.5
    y, x = np.meshgrid(c, c, indexing="ij")
    phi = -30.0 * np.exp(-((y - 0.45 * n) ** 2 + (x - 0.55 * n) ** 2) / (2 * (0.2 * n) ** 2))
    rng = np.random.default_rng(seed)
    for cy, cx in rng.uniform(0.2 * n, 0.8 * n, (8, 2)):
        phi -= 0.6 * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * 2.0**2))
    wave = prop.propagate(np.exp(1j * phi), g.effective_distance_m, g.object_pixel_size_m / oversample,
                          g.wavelength_m)
    inline = prop.bin_image(np.abs(wave) ** 2, oversample)
    inline = prop.gaussian_blur(inline, np.hypot(g.source_blur_sigma_px, PSF_PX))
    crop = np.s_[margin:-margin, margin:-margin]
    inline = inline[crop]
    if photons:
        inline = rng.poisson(inline * photons) / photons
    return g, prop.bin_image(phi, oversample)[crop], inline


def high_pass_rms(err, sigma_px=3.0, border_px=16):
    """RMS of the error's detail finer than ~σ px (what a σ-px Gaussian would remove)."""
    hp = err - gaussian_filter(err, sigma_px, mode="reflect")
    return float(np.sqrt(np.mean(hp[border_px:-border_px, border_px:-border_px] ** 2)))


@pytest.fixture(scope="module")
def bumps():
    return synthetic(), synthetic(photons=1e4)


def test_inline_branch_recovers_the_high_frequencies(bumps):
    for (g, truth, inline), bound in zip(bumps, (0.35, 0.75)):
        tracked = gaussian_filter(truth, 3.0)
        fused = fuse_inline_phase(tracked, inline, g, window_px=11, detector_psf_sigma_px=PSF_PX)
        before, after = high_pass_rms(tracked - truth), high_pass_rms(fused - truth)
        # measured: 0.029 → 0.007 rad without noise, → 0.018 rad at 10⁴ photons/px
        assert after < bound * before, (before, after)
        # and the low frequencies, which the pure-phase model leaves to tracking, are kept
        low = gaussian_filter(fused - tracked, 12.0)[16:-16, 16:-16]
        assert np.sqrt(np.mean((low - low.mean()) ** 2)) < 0.05


def test_exact_inputs_return_the_truth(bumps):
    g, truth, inline = bumps[0]
    fused = fuse_inline(truth, inline, g, window_px=11, detector_psf_sigma_px=PSF_PX)
    err = fused.phase_rad - truth
    # measured 0.003 rad RMS of a 30 rad range (0.01 %)
    assert np.sqrt(np.mean((err - err.mean()) ** 2)) < 1e-3 * np.ptp(truth)
    assert fused.phase_rad.dtype == np.float32 and fused.phase_rad.shape == truth.shape
    info = fused.info
    assert info.delta_beta is None
    assert info.blur_sigma_px == pytest.approx(np.hypot(g.source_blur_sigma_px, PSF_PX))
    assert 0.005 < info.crossover_cycles_per_px < info.cutoff_cycles_per_px < 0.5
    json.dumps(info.to_dict())  # provenance is JSON-ready


@pytest.fixture(scope="module")
def spheres():
    acq = simulate("spheres", 256, seed=611)
    de = double_exposure(acq.sample, acq.reference, acq.inline, acq.geometry, window_px=11, search_px=6,
                         fuse_inline=False)
    return acq, de


def _errors(acq, phase):
    ring, interior, core = acq.regions()
    e = phase - acq.truth_phase
    e = e - e[core].mean()
    peak = np.ptp(acq.truth_phase[core])
    return np.sqrt(np.mean(e[ring] ** 2)) / peak, np.sqrt(np.mean(e[interior] ** 2)) / peak


def test_fused_phase_beats_double_exposure_in_the_edge_ring(spheres):
    """Margins set on the development seeds 500–502 at 256² before this seed was run: ring
    DE / fused 2.3–2.8× with POM (interior 2.2–2.7 %), 1.6–2.0× with the pure-phase model."""
    acq, de = spheres
    ring_de, int_de = _errors(acq, de.phase_rad)
    mat = fuse_inline_phase(de.phase_rad, acq.inline, acq.geometry, window_px=11, material="POM")
    pure = fuse_inline_phase(de.phase_rad, acq.inline, acq.geometry, window_px=11)
    ring_mat, int_mat = _errors(acq, mat)
    ring_pure, _ = _errors(acq, pure)
    # measured at this seed: ring 11.0 % → 4.8 % (POM) and 6.1 % (pure phase); interior 6.6 → 2.1 %
    assert ring_mat < ring_de / 2.0
    assert int_mat < 0.04 and int_mat < int_de
    assert ring_pure < ring_de / 1.25


def test_exact_spheres_inputs_stay_exact(spheres):
    acq, _ = spheres
    fused = fuse_inline_phase(acq.truth_phase, acq.truth_inline, acq.geometry, window_px=11, material="POM")
    ring, interior = _errors(acq, fused)
    assert ring < 0.03 and interior < 0.015  # measured 1.5 % / 0.7 % (dev seed 500: 1.5 / 0.4 %)


def test_low_frequencies_from_the_sample(spheres):
    """A generated in-line image whose slow intensity is off (here a 3 % ramp, the kind of error
    the generator makes at 768²) is repaired by taking its low frequencies from sample/reference."""
    acq, de = spheres
    ramp = 1.0 + 0.03 * np.linspace(-1, 1, acq.inline.shape[1])[None, :]
    bad = acq.inline * ramp
    kw = {"window_px": 11, "material": "POM"}
    plain = fuse_inline(de.phase_rad, bad, acq.geometry, **kw)
    fixed = fuse_inline(de.phase_rad, bad, acq.geometry, sample=acq.sample, reference=acq.reference, **kw)
    assert fixed.info.params["low_frequencies_from_sample"]
    _, int_plain = _errors(acq, plain.phase_rad)
    _, int_fixed = _errors(acq, fixed.phase_rad)
    assert int_fixed < 0.04 and int_fixed < 0.5 * int_plain  # measured 6.6 % → 2.2 %


def test_stack_progress_and_cancel(bumps):
    g, truth, inline = bumps[1]
    stack_p, stack_i = np.stack([truth, truth[::-1]]), np.stack([inline, inline[::-1]])
    calls = []
    out = fuse_inline(stack_p, stack_i, g, window_px=11, progress=lambda d, t: calls.append((d, t)))
    assert out.phase_rad.shape == stack_p.shape and calls == [(1, 2), (2, 2)]
    single = fuse_inline_phase(truth[::-1], inline[::-1], g, window_px=11)
    np.testing.assert_allclose(out.phase_rad[1], single, atol=1e-4)
    with pytest.raises(CancelledError, match="after 1 of 2"):
        fuse_inline(stack_p, stack_i, g, window_px=11, cancel=lambda: len(calls) >= 3,
                    progress=lambda d, t: calls.append((d, t)))


@pytest.mark.parametrize(
    "change, fragment",
    [
        ({"inline": lambda p, i: i[:-4]}, "must match the tracked phase"),
        ({"inline": lambda p, i: i - 2.0}, "zero or negative"),
        ({"phase": lambda p, i: np.where(np.arange(p.shape[1]) == 3, np.nan, p)}, "NaN"),
        ({"inline": lambda p, i: np.where(np.arange(i.shape[1]) == 3, np.inf, i)}, "NaN"),
        ({"phase": lambda p, i: p[:20, :20], "inline": lambda p, i: i[:20, :20]}, "sides ≥ 32"),
        ({"phase": lambda p, i: p.astype(np.complex64)}, "dtype"),
        ({"kw": {"material": "POM", "delta_beta": 1000.0}}, "not both"),
        ({"kw": {"delta_beta": -3.0}}, "positive"),
        ({"kw": {"window_px": 0}}, "window_px"),
        ({"kw": {"flat_field_error": -0.1}}, "flat_field_error"),
        ({"kw": {"background": np.ones((5, 5), bool)}}, "background mask"),
        ({"geometry": None}, "geometry"),
        ({"kw": {"sample": np.ones((128, 128))}}, "both sample and reference"),
        ({"kw": {"sample": np.ones((128, 128)), "reference": np.ones((64, 64))}}, "must match"),
        ({"kw": {"regions": np.ones((128, 128), np.uint8)}}, "give both a material-regions"),
        ({"kw": {"regions": np.ones((128, 128), np.uint8), "region_materials": {1: "PE"}}},
         "need the main material"),
        ({"kw": {"material": "POM", "regions": np.ones((128, 128)), "region_materials": {1: "PE"}}},
         "integer labels"),
        ({"kw": {"material": "POM", "regions": np.ones((64, 64), np.uint8),
                 "region_materials": {1: "PE"}}}, "must match the image"),
        ({"kw": {"material": "POM", "regions": np.full((128, 128), 2, np.uint8),
                 "region_materials": {1: "PE"}}}, r"label\(s\) \[2\] of the material-regions image"),
        ({"kw": {"material": "POM", "regions": np.ones((128, 128), np.uint8),
                 "region_materials": {1: "PE", 3: "PMMA"}}}, r"\[3\] have no pixels"),
    ],
)
def test_bad_inputs_raise_input_error(bumps, change, fragment):
    g, truth, inline = bumps[1]
    phase = change.get("phase", lambda p, i: p)(truth, inline)
    inl = change.get("inline", lambda p, i: i)(truth, inline)
    kw = {"window_px": 11, **change.get("kw", {})}
    with pytest.raises(InputError, match=fragment):
        fuse_inline(phase, inl, change.get("geometry", g), **kw)


def test_an_unknown_region_material_is_named(bumps):
    from napari_specktrack.errors import MaterialError

    g, truth, inline = bumps[1]
    with pytest.raises(MaterialError, match="unknown material 'unobtainium'"):
        fuse_inline(truth, inline, g, window_px=11, material="POM",
                    regions=np.ones(truth.shape, np.uint8), region_materials={1: "unobtainium"})


def test_a_region_of_the_main_material_changes_nothing(bumps):
    """Labels whose material is the main one give the one-material result: the map only
    moves absorption between materials, never the fusion's weights."""
    g, truth, inline = bumps[1]
    tracked = gaussian_filter(truth, 3.0)
    labels = np.zeros(truth.shape, np.uint8)
    labels[:, 40:70] = 1
    one = fuse_inline(tracked, inline, g, window_px=11, material="POM")
    two = fuse_inline(tracked, inline, g, window_px=11, material="POM", regions=labels,
                      region_materials={1: "POM"})
    np.testing.assert_allclose(two.phase_rad, one.phase_rad, rtol=0, atol=1e-5)
    assert two.info.params["region_materials"] == {"1": "POM"}
    assert two.info.params["region_pixels"] == {"1": 30 * truth.shape[0]}


def test_painted_tube_walls_meet_the_ring_goal_at_768():
    """Issue 14's ring goal where the one-material model misses it: spheres at 768², whose
    edge ring is 45 % the PE tube's walls. Painting the walls PE (``material_regions``, what a
    user paints) on a seed never used in development (613, measured in-line image). Measured:
    conventional ring 11.6 %; POM alone 5.8 % (1.99×), interior 3.1 %; walls painted PE 4.6 %
    (2.55×), interior 2.7 %. The held-out benchmark seeds 600–602: 2.16× (docs/fusion.md)."""
    from napari_specktrack.retrieval import conventional

    acq = simulate("spheres", 768, seed=613)
    kw = {"window_px": 11, "search_px": 6}
    conv = conventional(acq.sample, acq.reference, acq.geometry, **kw).phase_rad
    de = double_exposure(acq.sample, acq.reference, acq.inline, acq.geometry, fuse_inline=False,
                         **kw).phase_rad
    labels, materials = acq.material_regions()
    assert materials == {1: "PE"} and 0.05 < np.mean(labels == 1) < 0.15
    one = fuse_inline_phase(de, acq.inline, acq.geometry, window_px=11, material="POM")
    two = fuse_inline_phase(de, acq.inline, acq.geometry, window_px=11, material="POM",
                            regions=labels, region_materials=materials)
    ring_conv, _ = _errors(acq, conv)
    ring_one, _ = _errors(acq, one)
    ring, interior = _errors(acq, two)
    assert ring <= ring_conv / 2
    assert interior <= 0.03
    assert ring < 0.9 * ring_one


@pytest.mark.parametrize("shape", [(5, 3), (40, 57)])
def test_the_separable_spline_zoom_is_scipys(shape):
    """The fusion's compiled 2× cubic-spline upsampling equals scipy.ndimage.zoom (order 3,
    mode nearest) to float64 round-off."""
    from scipy.ndimage import zoom

    from napari_specktrack.retrieval._spline_zoom import zoom_cubic

    a = np.random.default_rng(7).normal(size=shape).cumsum(0).cumsum(1)
    expected = zoom(a, 2, order=3, mode="nearest")
    got = zoom_cubic(a, 2)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12 * np.ptp(expected))


@pytest.mark.parametrize("phantom, material, max_interior_pct", [
    ("spheres", "POM", 3.0),  # issue 14's goal
    ("foam", "PU", 7.0),  # above the goal at a 12-px border (docs/fusion.md); a regression guard
])
def test_the_learned_pipeline_fused_meets_the_ring_goal(phantom, material, max_interior_pct):
    """The single-shot learned pipeline as the plugin runs it — the default generator's in-line
    image, double exposure, the in-line phase fused in with the sample's low frequencies — on a
    seed never used in development (612, 256²), against issue 14's goals: edge-ring error at
    most half the conventional method's, interior ≤ 3 % of the peak. Measured: spheres ring
    25.0 → 5.6 % (4.5×), interior 2.1 %; foam 52.2 → 7.6 % (6.8×), interior 5.7 % (the
    2026-12-07 default: 5.8 %, 4.3×, 2.1 %; 7.4 %, 7.1×, 5.3 %)."""
    from napari_specktrack.learn.inference import generate_inline
    from napari_specktrack.retrieval import conventional

    acq = simulate(phantom, 256, seed=612)
    kw = {"window_px": 11, "search_px": 6}
    conv = conventional(acq.sample, acq.reference, acq.geometry, **kw).phase_rad
    gen = generate_inline(acq.sample, acq.reference, "pretrained", device="cpu")
    de = double_exposure(acq.sample, acq.reference, gen, acq.geometry, fuse_inline=False, **kw)
    fused = fuse_inline(de.phase_rad, gen, acq.geometry, window_px=11, material=material,
                        sample=acq.sample, reference=acq.reference).phase_rad
    ring_conv, _ = _errors(acq, conv)
    ring, interior = _errors(acq, fused)
    assert ring <= ring_conv / 2
    assert 100 * interior <= max_interior_pct
