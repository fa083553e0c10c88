"""Phase integration against analytic phase maps."""

import numpy as np
import pytest

from napari_specktrack import Geometry
from napari_specktrack.errors import InputError
from napari_specktrack.retrieval.integrate import (
    INTEGRATION_METHODS,
    border_mask,
    displacement_to_gradient,
    integrate,
    set_background,
)


def analytic(n=96):
    """A non-periodic phase (a bump cut by the border plus a tilt) and its exact gradient."""
    yy, xx = np.mgrid[0:n, 0:n].astype(float)
    cy, cx, s = 0.4 * n, 0.7 * n, 0.2 * n
    bump = -30 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    phi = bump + 0.05 * xx - 0.02 * yy
    gx = bump * -(xx - cx) / s**2 + 0.05
    gy = bump * -(yy - cy) / s**2 - 0.02
    return phi, gx, gy


@pytest.mark.parametrize("method", INTEGRATION_METHODS)
def test_integrators_recover_an_analytic_phase(method):
    phi, gx, gy = analytic()
    out = integrate(gx, gy, method)
    err = (out - out.mean()) - (phi - phi.mean())
    # borders are not periodic: the mirror extension keeps the error at discretisation level
    assert np.sqrt(np.mean(err**2)) < 0.005 * np.ptp(phi)


def test_weighted_least_squares_ignores_down_weighted_outliers():
    phi, gx, gy = analytic()
    bad_gx = gx.copy()
    bad_gx[40:44, 20:60] += 5.0  # a band of wildly wrong gradients (tracking outliers)
    w = np.ones_like(gx)
    w[40:44, 20:60] = 1e-3
    fc = integrate(bad_gx, gy, "frankot-chellappa")
    wls = integrate(bad_gx, gy, "weighted-least-squares", weights=w)

    def rms(a):
        e = (a - a.mean()) - (phi - phi.mean())
        return np.sqrt(np.mean(e**2))

    assert rms(wls) < 0.2 * rms(fc)


def test_displacement_to_gradient_units():
    g = Geometry()
    gx, gy = displacement_to_gradient(np.ones((2, 2)), np.zeros((2, 2)), g)
    assert gx[0, 0] == pytest.approx(g.wavenumber_per_m * g.pixel_size_m**2 / g.distance_m / g.magnification)
    assert gy.max() == 0


def test_background_sets_the_constant():
    phi = np.full((32, 32), 7.0)
    phi[8:24, 8:24] = -3.0
    out = set_background(phi)
    assert out[0, 0] == pytest.approx(0.0)
    mask = np.zeros_like(phi, bool)
    mask[10:12, 10:12] = True
    assert set_background(phi, mask)[10, 10] == pytest.approx(0.0)
    assert border_mask((32, 32), 2).sum() == 32 * 32 - 28 * 28
    with pytest.raises(InputError, match="empty"):
        set_background(phi, np.zeros_like(mask))
    with pytest.raises(InputError, match="match"):
        set_background(phi, np.ones((3, 3), bool))
    with pytest.raises(InputError, match="unknown integration"):
        integrate(phi, phi, "magic")


def test_the_retrieval_widget_offers_every_integration_method():
    from napari_specktrack.widgets.retrieval import INTEGRATIONS

    assert tuple(INTEGRATIONS) == INTEGRATION_METHODS


@pytest.mark.parametrize("shape", [(64, 48), (33, 70)])
def test_frankot_chellappa_is_the_mirror_extensions_fft(shape):
    """The sine/cosine-transform form equals the FFT of the explicit 2 × 2 mirror extension
    (Bon et al.) once that FFT's Nyquist row and column — the only frequencies where it is not
    mirror-symmetric — are set to zero; white-noise gradients, the hardest case."""
    from napari_specktrack.retrieval.integrate import _mirror, frankot_chellappa

    rng = np.random.default_rng(5)
    gx, gy = rng.normal(size=shape), rng.normal(size=shape)
    gx_e, gy_e = _mirror(gx, gy)
    qy = 2 * np.pi * np.fft.fftfreq(gx_e.shape[0])[:, None]
    qx = 2 * np.pi * np.fft.fftfreq(gx_e.shape[1])[None, :]
    q2 = qx**2 + qy**2
    q2[0, 0] = 1.0
    spec = (-1j * qx * np.fft.fft2(gx_e) - 1j * qy * np.fft.fft2(gy_e)) / q2
    spec[0, 0] = 0.0
    spec[shape[0], :] = 0.0
    spec[:, shape[1]] = 0.0
    expected = np.real(np.fft.ifft2(spec))[: shape[0], : shape[1]]
    got = frankot_chellappa(gx, gy)
    np.testing.assert_allclose(got - got.mean(), expected - expected.mean(), atol=2e-5 * np.ptp(expected))
