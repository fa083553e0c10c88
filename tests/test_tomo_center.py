"""Centre of rotation: mirror registration + entropy refinement on sinograms shifted by a
known sub-pixel amount (goal: within 0.5 px), and the manual override."""

import numpy as np
import pytest
from skimage.data import shepp_logan_phantom
from skimage.transform import radon, resize

from napari_specktrack.errors import InputError
from napari_specktrack.tomo import center_from_mirror, check_center, find_center, projection_angles_deg
from napari_specktrack.tomo.center import register_mirror

N = 127


def shift_columns(stack, shift_px):
    """Move every projection by ``shift_px`` columns (band-limited): the axis moves with it."""
    f = np.fft.fftfreq(stack.shape[-1])
    spec = np.fft.fft(stack, axis=-1) * np.exp(-2j * np.pi * f * shift_px)
    return np.fft.ifft(spec, axis=-1).real.astype(np.float32)


@pytest.fixture(scope="module")
def image():
    return resize(shepp_logan_phantom(), (N, N), anti_aliasing=True)


def stack_of(image, start, stop, n_angles, rows=3):
    sino = radon(image, theta=projection_angles_deg(start, stop, n_angles)).T  # (angles, cols)
    return np.repeat(sino[:, None, :], rows, axis=1)


@pytest.mark.parametrize("shift", [1.37, -2.61])
def test_auto_centre_within_half_a_pixel_half_turn(image, shift):
    stack = shift_columns(stack_of(image, 0, 180, 180), shift)
    noisy = stack + np.random.default_rng(0).normal(0, 0.02 * np.ptp(stack), stack.shape)
    truth = (N - 1) / 2 + shift
    fit = find_center(noisy.astype(np.float32), (0, 180))
    # measured: registration within 0.06 px, refined within 0.03 px
    assert abs(fit.registration_px - truth) < 0.25
    assert abs(fit.center_px - truth) < 0.5
    assert fit.refined and fit.candidates_px.size == fit.metric.size > 5


def test_half_turn_extrapolation_beats_the_nearest_pair(image):
    """Over [0°, 180°) the nearest pair is 1° short of 180° here; the extrapolation removes
    the bias that leaves in the registration."""
    stack = shift_columns(stack_of(image, 0, 180, 180), 0.8)
    truth = (N - 1) / 2 + 0.8
    nearest = register_mirror(stack[0], stack[-1])
    extrapolated = center_from_mirror(stack, (0, 180))
    assert abs(extrapolated - truth) < 0.1
    assert abs(extrapolated - truth) <= abs(nearest - truth)


def test_auto_centre_full_turn_uses_exact_pairs(image):
    stack = shift_columns(stack_of(image, 0, 360, 180), -0.42)
    truth = (N - 1) / 2 - 0.42
    assert abs(center_from_mirror(stack, (0, 360)) - truth) < 0.05  # exact mirror pairs
    assert abs(find_center(stack, (0, 360)).center_px - truth) < 0.5


def test_manual_centre_is_checked():
    assert check_center(63.25, N) == 63.25
    for bad in (-1.0, N - 0.5, float("inf"), "middle"):
        with pytest.raises(InputError):
            check_center(bad, N)
