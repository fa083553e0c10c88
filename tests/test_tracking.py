"""The ZNCC tracker on synthetic speckle with exactly known displacements."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter, map_coordinates

from napari_specktrack.errors import CancelledError, InputError
from napari_specktrack.retrieval.signals import remove_hot_pixels
from napari_specktrack.retrieval.tracking import (
    inpaint,
    speckle_size_px,
    suggest_parameters,
    track,
)


def speckle(n: int, sigma_px: float = 1.5, seed: int = 0, visibility: float = 0.2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    s = gaussian_filter(rng.normal(size=(n, n)), sigma_px, mode="wrap")
    return (1 + visibility * s / s.std()).astype(np.float32)


def fourier_shift(img: np.ndarray, dy: float, dx: float) -> np.ndarray:
    """img(r − u) on a periodic grid (exact sub-pixel shift of a band-limited image)."""
    qy = np.fft.fftfreq(img.shape[0])[:, None]
    qx = np.fft.fftfreq(img.shape[1])[None, :]
    return np.real(np.fft.ifft2(np.fft.fft2(img) * np.exp(-2j * np.pi * (qy * dy + qx * dx))))


@pytest.mark.parametrize("dy, dx", [(0.0, 0.0), (2.0, -3.0), (0.3, 0.7), (-1.45, 2.25)])
def test_uniform_shift_recovered(dy, dx):
    ref = speckle(96)
    smp = fourier_shift(ref, dy, dx)
    res = track(smp, ref, window_px=11, search_px=5)
    core = (slice(12, -12), slice(12, -12))
    assert np.median(res.dx_px[core]) == pytest.approx(dx, abs=0.03)
    assert np.median(res.dy_px[core]) == pytest.approx(dy, abs=0.03)
    assert np.sqrt(np.mean((res.dx_px[core] - dx) ** 2)) < 0.06
    assert res.quality[core].min() > 0.85  # peak ZNCC at the integer shift nearest u
    assert res.valid[core].all()


def test_smooth_displacement_field_within_a_tenth_of_a_pixel():
    n = 160
    ref = speckle(n, seed=3)
    yy, xx = np.mgrid[0:n, 0:n].astype(float)
    ux = 1.5 * np.sin(2 * np.pi * xx / n) * np.cos(2 * np.pi * yy / n)
    uy = -1.0 * np.cos(2 * np.pi * xx / n)
    smp = map_coordinates(ref, [yy - uy, xx - ux], order=3, mode="wrap")
    res = track(smp, ref, window_px=11, search_px=4)
    core = (slice(12, -12), slice(12, -12))
    assert np.sqrt(np.mean((res.dx_px - ux)[core] ** 2)) < 0.1
    assert np.sqrt(np.mean((res.dy_px - uy)[core] ** 2)) < 0.1


def test_bands_do_not_change_the_result():
    ref = speckle(80, seed=1)
    smp = fourier_shift(ref, 0.4, -1.2)
    a = track(smp, ref, window_px=9, search_px=3, band_rows=7)
    b = track(smp, ref, window_px=9, search_px=3, band_rows=80)
    np.testing.assert_allclose(a.dx_px, b.dx_px, atol=1e-4)  # float32 summation order
    np.testing.assert_allclose(a.quality, b.quality, atol=1e-4)


def test_outliers_are_flagged_and_inpainted():
    ref = speckle(96, seed=2)
    smp = fourier_shift(ref, 0.0, 1.0)
    smp[36:60, 36:60] = speckle(24, seed=5)  # unrelated speckle: no true match here
    res = track(smp, ref, window_px=11, search_px=4)
    assert res.valid[44:52, 44:52].mean() < 0.3  # most of it is recognised as unmatched


def test_hot_pixels_do_not_spike_the_displacement():
    ref = speckle(96, seed=6)
    smp = fourier_shift(ref, -0.5, 1.0)
    rng = np.random.default_rng(1)
    ys, xs = rng.integers(12, 84, 15), rng.integers(12, 84, 15)
    smp[ys, xs] *= 6.0  # zingers / hot pixels
    cleaned, n = remove_hot_pixels(smp)
    assert n >= 15 and np.abs(cleaned - fourier_shift(ref, -0.5, 1.0)).max() < 0.3
    assert remove_hot_pixels(ref)[1] <= 1e-3 * ref.size  # speckle itself is (almost) never touched
    res = track(cleaned, ref, window_px=11, search_px=4)
    core = (slice(12, -12), slice(12, -12))
    assert np.abs(res.dx_px[core] - 1.0).max() < 0.5
    assert np.abs(res.dy_px[core] + 0.5).max() < 0.5


def test_shift_beyond_the_search_range_is_flagged():
    ref = speckle(96, seed=4)
    smp = fourier_shift(ref, 0.0, 6.0)
    res = track(smp, ref, window_px=11, search_px=3)
    core = (slice(12, -12), slice(12, -12))
    assert res.valid[core].mean() < 0.2


def test_inpaint_fills_holes_smoothly():
    _, xx = np.mgrid[0:50, 0:50].astype(float)
    values = 0.1 * xx
    valid = np.ones_like(values, bool)
    valid[20:25, 20:25] = False
    filled = inpaint(np.where(valid, values, 99.0), valid)
    assert np.abs(filled - values).max() < 0.3


def test_speckle_size_and_suggestion():
    ref = speckle(256, sigma_px=2.0)
    # Gaussian-filtered white noise: autocorrelation σ = √2·σ_filter, FWHM = 2.355·√2·2
    assert speckle_size_px(ref) == pytest.approx(2.355 * np.sqrt(2) * 2.0, rel=0.15)
    s = suggest_parameters(ref, max_shift_px=3.2)
    assert s["window_px"] % 2 == 1 and 7 <= s["window_px"] <= 31
    assert s["search_px"] == 6
    smp = fourier_shift(ref, 1.0, 2.5)
    s2 = suggest_parameters(ref, smp)
    assert 4 <= s2["search_px"] <= 6
    assert s2["visibility"] == pytest.approx(0.2, rel=0.05)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"window_px": 10}, "odd"),
        ({"window_px": 1}, "odd"),
        ({"search_px": 0}, "positive"),
        ({"window_px": 61, "search_px": 30}, "smaller"),
    ],
)
def test_bad_parameters(kwargs, fragment):
    ref = speckle(64)
    with pytest.raises(InputError, match=fragment):
        track(ref, ref, **kwargs)


def test_shape_mismatch():
    with pytest.raises(InputError, match="one shape"):
        track(speckle(64), speckle(48))


def test_cancel_between_bands():
    ref = speckle(64)
    with pytest.raises(CancelledError):
        track(ref, ref, band_rows=8, cancel=lambda: True)


def test_cuda_matches_cpu():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    ref = speckle(96)
    smp = fourier_shift(ref, 0.5, -1.0)
    a = track(smp, ref, device="cpu")
    b = track(smp, ref, device="cuda")
    np.testing.assert_allclose(a.dx_px, b.dx_px, atol=1e-3)


# --- the two implementations of the search ------------------------------------------------------
def _speckle_pair(n=120, seed=7):
    """A speckle pair with a smooth field of shifts up to ~3 px and a sharp step (rims)."""
    ref = speckle(n, seed=seed)
    yy, xx = np.mgrid[0:n, 0:n].astype(float)
    ux = 2.5 * np.sin(2 * np.pi * xx / n) + 1.5 * (xx > n / 2)
    uy = -1.2 * np.cos(2 * np.pi * yy / n)
    return map_coordinates(ref, [yy - uy, xx - ux], order=3, mode="wrap").astype(np.float32), ref


@pytest.mark.parametrize("window_px, search_px", [(11, 5), (7, 2), (9, 1), (3, 1), (5, 2), (13, 4)])
def test_compiled_search_equals_the_torch_search(window_px, search_px):
    """The compiled CPU search and the torch search (the GPU path) give the same tracking: the
    same integer peaks but at near-ties, shifts and ZNCC within float32 round-off — every path
    of the compiled row sums (windows 4q + 1 and 4q + 3, under 4 px, float64 sums under 7 px).
    A 3 × 3 window's covariance cancels badly in the torch search's float32: 1e-3 there."""
    pytest.importorskip("numba")
    smp, ref = _speckle_pair()
    a = track(smp, ref, window_px=window_px, search_px=search_px, engine="torch")
    b = track(smp, ref, window_px=window_px, search_px=search_px, engine="compiled")
    assert np.abs(a.quality - b.quality).max() < (1e-3 if window_px < 5 else 1e-4)
    assert np.mean(np.abs(a.dx_px - b.dx_px) > 1e-3) < 1e-3
    assert np.mean(np.abs(a.dy_px - b.dy_px) > 1e-3) < 1e-3
    assert np.mean(a.valid != b.valid) < 1e-3
    np.testing.assert_allclose(a.reference_std, b.reference_std, atol=1e-4)


def test_compiled_search_independent_of_threads_and_bands():
    """Blocks of rows start their running sums afresh: the result does not depend on the bands
    (bit for bit) nor on the number of threads (but for the round-off of torch's parallel
    image means in the preparation)."""
    pytest.importorskip("numba")
    torch = pytest.importorskip("torch")
    smp, ref = _speckle_pair(150, seed=8)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        a = track(smp, ref, engine="compiled", band_rows=150)
        b = track(smp, ref, engine="compiled", band_rows=64)
        torch.set_num_threads(2)
        c = track(smp, ref, engine="compiled")
    finally:
        torch.set_num_threads(before)
    np.testing.assert_array_equal(a.dx_px, b.dx_px)
    np.testing.assert_array_equal(a.quality, b.quality)
    np.testing.assert_allclose(a.dx_px, c.dx_px, atol=1e-4)
    np.testing.assert_allclose(a.quality, c.quality, atol=1e-5)


def test_unknown_engine_is_refused():
    with pytest.raises(InputError, match="engine"):
        track(speckle(64), speckle(64), engine="fortran")


@pytest.mark.parametrize("frac_invalid", [0.0, 0.05, 0.5, 0.97, 1.0])
def test_outlier_test_equals_the_median_of_valid_neighbours(frac_invalid):
    """The min/max shortcut flags exactly the pixels further than the limit from the median of
    their valid 3 × 3 neighbours (lower median for an even count), as a plain nanmedian does."""
    from napari_specktrack.retrieval.tracking import _far_from_median

    rng = np.random.default_rng(3)
    comp = np.round(rng.normal(scale=1.2, size=(60, 53)), 1).astype(np.float32)  # ties at 1 px
    valid = rng.random(comp.shape) >= frac_invalid
    padded = np.pad(np.where(valid, comp, np.nan), 1, mode="edge")
    planes = np.stack([padded[oy : oy + 60, ox : ox + 53] for oy in range(3) for ox in range(3)])
    count = (~np.isnan(planes)).sum(0)
    lower = np.take_along_axis(np.sort(planes, axis=0), np.maximum(count - 1, 0)[None] // 2, 0)[0]
    expected = (count > 0) & (np.abs(comp - np.where(count > 0, lower, 0)) > 1.0)
    np.testing.assert_array_equal(_far_from_median(comp, valid, 1.0), expected)


def test_parameter_engines_are_the_trackers():
    from napari_specktrack.pipeline.params import TRACKING_ENGINES
    from napari_specktrack.retrieval.zncc import ENGINES

    assert TRACKING_ENGINES == ENGINES


def test_unknown_engine_in_run_parameters_is_refused():
    from napari_specktrack.pipeline import RetrievalParams

    with pytest.raises(InputError, match="tracking engine"):
        RetrievalParams(tracking_engine="gpu-magic").validate()


@pytest.mark.parametrize("frac_invalid", [0.0, 0.05, 0.5, 0.97])
def test_compiled_outlier_test_equals_the_array_code(frac_invalid):
    """The compiled outlier test (numba) flags exactly what the array code flags, ties at the
    1 px limit included."""
    from napari_specktrack.retrieval.tracking import _consistent

    rng = np.random.default_rng(4)
    dx = np.round(rng.normal(scale=1.2, size=(61, 47)), 1).astype(np.float32)
    dy = np.round(rng.normal(scale=0.8, size=(61, 47)), 1).astype(np.float32)
    valid = rng.random(dx.shape) >= frac_invalid
    np.testing.assert_array_equal(_consistent(dx, dy, valid),
                                  _consistent(dx, dy, valid, compiled=False))


@pytest.mark.parametrize("frac_invalid", [0.05, 0.3, 0.6])
def test_compiled_inpainting_fills_from_a_nearest_valid_pixel(frac_invalid):
    """The compiled search picks, for every hole pixel, a valid pixel at the exact Euclidean
    distance the distance transform gives (ties may pick another of the equally near ones);
    with the transform's own choice, the compiled smoothing equals the array code's."""
    from scipy.ndimage import distance_transform_edt

    from napari_specktrack.retrieval import _neighbourhood as kernels

    rng = np.random.default_rng(6)
    valid = rng.random((57, 64)) >= frac_invalid
    values = rng.normal(size=valid.shape).astype(np.float32)
    near, found = kernels.nearest_valid(valid, 12)
    assert found
    dist, (iy, ix) = distance_transform_edt(~valid, return_indices=True)
    hy, hx = np.nonzero(~valid)
    ny_, nx_ = np.divmod(near[hy, hx], valid.shape[1])
    assert valid[ny_, nx_].all()
    np.testing.assert_allclose(np.hypot(ny_ - hy, nx_ - hx), dist[hy, hx], rtol=0, atol=1e-12)
    edt_near = np.where(valid, -1, iy * valid.shape[1] + ix).astype(np.int64)
    np.testing.assert_allclose(kernels.fill_holes(values, edt_near, 2),
                               inpaint(values, valid, compiled=False), rtol=0, atol=1e-5)


def test_compiled_inpainting_hands_wide_holes_to_the_distance_transform():
    from napari_specktrack.retrieval import _neighbourhood as kernels

    _, xx = np.mgrid[0:90, 0:90].astype(np.float32)
    valid = np.ones(xx.shape, bool)
    valid[20:70, 25:75] = False  # 25 px from its centre to the nearest valid pixel
    assert not kernels.nearest_valid(valid, 12)[1]
    np.testing.assert_allclose(inpaint(0.1 * xx, valid), inpaint(0.1 * xx, valid, compiled=False),
                               rtol=0, atol=1e-5)


def test_compiled_hot_pixel_test_equals_the_filters():
    """Hot and cold pixels, at the borders and corners too: the compiled neighbour test replaces
    exactly the pixels the minimum/maximum filters find, with the same values."""
    img = speckle(70, seed=8).astype(np.float32)
    rng = np.random.default_rng(2)
    ys, xs = rng.integers(0, 70, 40), rng.integers(0, 70, 40)
    img[ys[:20], xs[:20]] *= 8.0
    img[ys[20:], xs[20:]] *= 0.05
    img[0, 0] *= 9.0
    img[69, 35] *= 9.0
    a, na = remove_hot_pixels(img)
    b, nb = remove_hot_pixels(img, compiled=False)
    assert na == nb > 20
    np.testing.assert_array_equal(a, b)
