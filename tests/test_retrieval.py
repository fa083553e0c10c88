"""Retrieval on simulated acquisitions with known truth (default simulator settings).

Regions: the *edge ring* is every pixel within 6 px of a sharp interface (where the true
displacement exceeds 1 px: the singular rim gradient), the *interior* everything else, both
at least 12 px from the image border. Numbers in the comments are what this code measures;
docs/accuracy.md has the sweeps over seeds and detector settings.
"""

import numpy as np
import pytest

from napari_specktrack import Geometry
from napari_specktrack.errors import CancelledError, InputError
from napari_specktrack.retrieval import conventional, double_exposure
from napari_specktrack.simulate import simulate

#: the parameters the figures below were measured with (the API default suggests the window
#: and fuses the in-line phase; tests/test_fusion.py measures the fused method)
P = {"window_px": 11, "search_px": 5, "fuse_inline": False}  # the paper's plain method


def regions(acq):
    return acq.regions()  # (edge ring, interior, core), as the module docstring says


def phase_error(result, acq, core):
    e = result.phase_rad - acq.truth_phase
    return e - np.mean(e[core])  # the integration constant is arbitrary


def rms(a):
    return float(np.sqrt(np.mean(np.square(a))))


@pytest.fixture(scope="module")
def smooth():
    acq = simulate("smooth", 256, seed=2)
    return acq, conventional(acq.sample, acq.reference, acq.geometry, **P), double_exposure(
        acq.sample, acq.reference, acq.inline, acq.geometry, **P
    )


@pytest.fixture(scope="module")
def spheres():
    acq = simulate("spheres", 384, seed=0)
    return acq, conventional(acq.sample, acq.reference, acq.geometry, **P), double_exposure(
        acq.sample, acq.reference, acq.inline, acq.geometry, **P
    )


@pytest.fixture(scope="module")
def foam():
    acq = simulate("foam", 256, seed=0)
    return acq, conventional(acq.sample, acq.reference, acq.geometry, **P), double_exposure(
        acq.sample, acq.reference, acq.inline, acq.geometry, **P
    )


@pytest.mark.parametrize("which", [1, 2], ids=["conventional", "double-exposure"])
def test_smooth_object_displacement_and_phase(smooth, which):
    acq, res = smooth[0], smooth[which]
    _, _, core = regions(acq)
    assert np.abs(acq.truth_dx).max() < 2.0
    # measured 0.08 px RMS per component
    assert rms((res.dx_px - acq.truth_dx)[core]) < 0.1
    assert rms((res.dy_px - acq.truth_dy)[core]) < 0.1
    # measured 0.4 % of the peak phase (−170 rad)
    peak = -acq.truth_phase.min()
    assert rms(phase_error(res, acq, core)[core]) < 0.02 * peak
    assert res.phase_rad.dtype == np.float32 and res.phase_rad.shape == acq.sample.shape


@pytest.mark.parametrize("which", [1, 2], ids=["conventional", "double-exposure"])
def test_transmission_and_darkfield_away_from_edges(smooth, which):
    acq, res = smooth[0], smooth[which]
    _, interior, _ = regions(acq)
    # measured: median 0.8 % (after the refraction-Jacobian correction), dark-field median 0.2 %
    assert np.median(np.abs(res.transmission / acq.truth_transmission - 1)[interior]) < 0.02
    assert abs(np.mean(res.transmission[interior] / acq.truth_transmission[interior]) - 1) < 0.02
    assert abs(np.median(res.darkfield[interior]) - 1) < 0.02


def test_spheres_interior_displacement(spheres):
    acq, conv, de = spheres
    _, interior, _ = regions(acq)
    err = np.hypot(de.dx_px - acq.truth_dx, de.dy_px - acq.truth_dy)[interior]
    assert rms(err) / np.sqrt(2) < 0.1  # per-component RMS; measured 0.09 px
    # double exposure tracks better than conventional even inside the spheres (measured 0.14)
    err_c = np.hypot(conv.dx_px - acq.truth_dx, conv.dy_px - acq.truth_dy)[interior]
    assert rms(err) < rms(err_c)
    # and transmission inside is right too (spheres are almost pure phase objects)
    assert np.median(np.abs(de.transmission / acq.truth_transmission - 1)[interior]) < 0.02


def test_spheres_phase_along_a_diameter(spheres):
    """Measured bound, not the 5 % goal: the rim loss of strong spheres (docs/accuracy.md).

    Along the largest sphere's diameter (offset removed, as the profile fit does) the
    double-exposure phase is within 5.3 % RMS of the peak phase at this seed (2.9–5.3 % over
    seeds 0–2 at 384², 1.8–4.6 % at 512²): the outermost ~3 px of a sphere hold a third of its
    phase at a gradient no finite window can follow, and that loss is integrated inward.
    """
    acq, conv, de = spheres
    s = max((o for o in acq.phantom["objects"] if o["shape"] == "sphere"), key=lambda o: o["radius_px"])
    cy, cx = s["center_yx_px"]
    r = s["radius_px"]
    y = round(cy)
    xs = np.arange(int(np.ceil(cx - r)), int(cx + r) + 1)
    truth = acq.truth_phase[y, xs]
    peak = float(np.ptp(truth))
    e_de = de.phase_rad[y, xs] - truth
    e_cv = conv.phase_rad[y, xs] - truth
    assert rms(e_de - e_de.mean()) < 0.06 * peak
    assert rms(e_de - e_de.mean()) < rms(e_cv - e_cv.mean())


def test_double_exposure_beats_conventional_in_the_edge_ring(spheres, foam):
    """The distortion Yu et al. remove: conventional tracking locks onto the sample's own
    fringes. Measured edge-ring phase RMS ratio conv/DE: spheres 1.6–2.1, foam 2.2–2.9 over
    seeds 0–2 at the default (weak-speckle) detector; ≈ 1.1 with a sharp detector."""
    ratios = {}
    for name, (acq, conv, de) in (("spheres", spheres), ("foam", foam)):
        ring, _, core = regions(acq)
        ratios[name] = rms(phase_error(conv, acq, core)[ring]) / rms(phase_error(de, acq, core)[ring])
    assert ratios["spheres"] > 1.4
    assert ratios["foam"] > 2.0


def test_stack_progress_and_cancel():
    acq = simulate("foaming", 64, seed=1, frames=3)
    calls = []
    res = double_exposure(acq.sample, acq.reference, acq.inline, acq.geometry, window_px=9,
                          search_px=3, progress=lambda d, t: calls.append((d, t)))
    assert res.phase_rad.shape == (3, 64, 64) and res.valid.shape == (3, 64, 64)
    # progress counts UNITS_PER_FRAME steps per frame, rising to the total
    assert calls == [(100, 300), (200, 300), (300, 300)]
    assert res.params["method"] == "double-exposure" and res.params["window_px"] == 9
    done = []

    def cancel():
        return len(done) >= 1

    with pytest.raises(CancelledError, match="after 1 of 3"):
        conventional(acq.sample, acq.reference, acq.geometry, window_px=9, search_px=3,
                     progress=lambda d, t: done.append(d), cancel=cancel)


@pytest.fixture(scope="module")
def small():
    return simulate("spheres", 64, seed=3)


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (lambda a: {"sample": a.sample[:32]}, "crop both"),
        (lambda a: {"sample": np.where(np.arange(64) == 5, np.nan, a.sample)}, "NaN"),
        (lambda a: {"sample": a.sample - 5.0}, "zero or negative"),
        (lambda a: {"reference": np.full_like(a.reference, 1.0)}, "no usable speckle"),
        (lambda a: {"sample": a.sample.astype(np.complex64)}, "dtype"),
        (lambda a: {"reference": a.reference[None, None]}, "must be a .y, x. image or an .n, y, x. stack"),
        (lambda a: {"sample": a.sample * 1e4}, "different intensity scales"),
        (lambda a: {"sample": a.inline}, "no speckle"),
        (lambda a: {"geometry": None}, "geometry"),
        (lambda a: {"inline": a.inline[:40]}, "frame for frame"),
        (lambda a: {"inline": None}, "needs an in-line image"),
        (lambda a: {"inline": a.inline * 1e4}, "different intensity scales"),
    ],
)
def test_bad_input_names_the_problem_and_fix(small, mutate, fragment):
    args = {"sample": small.sample, "reference": small.reference, "inline": small.inline,
            "geometry": small.geometry, **mutate(small)}
    with pytest.raises(InputError, match=fragment):
        double_exposure(args["sample"], args["reference"], args["inline"], args["geometry"])


def test_inputs_are_not_modified(small):
    before = small.sample.copy()
    conventional(small.sample, small.reference, Geometry(), window_px=9, search_px=3)
    np.testing.assert_array_equal(small.sample, before)


def test_a_reference_stack_is_averaged(small):
    one = conventional(small.sample, small.reference, small.geometry, window_px=9, search_px=3)
    two = conventional(small.sample, np.stack([small.reference] * 2), small.geometry, window_px=9,
                       search_px=3)
    np.testing.assert_allclose(two.phase_rad, one.phase_rad, atol=1e-4)
