"""The fast CPU pass of the generator (bfloat16 on oneDNN, learn/_fast.py) against float32.

Tolerances: bfloat16 keeps 8 mantissa bits, so the in-line image may move by up to ~1e-2
flat-field units (measured 0.012 at 1024²); the issue's quality goal is SSIM ≥ 0.995 against
the float32 output. Tiled, batched and whole-frame bfloat16 passes run the same kernels and
must agree to the float32 tolerances (1e-3, 1e-5).
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_specktrack.errors import CancelledError, InputError  # noqa: E402
from napari_specktrack.learn import _fast  # noqa: E402
from napari_specktrack.learn.inference import (  # noqa: E402
    PRETRAINED,
    generate_inline,
    load_generator,
    resolve_precision,
)
from napari_specktrack.learn.networks import GeneratorConfig, GlobalGenerator  # noqa: E402
from napari_specktrack.simulate import simulate  # noqa: E402

needs_bf16 = pytest.mark.skipif(not _fast.onednn_bf16_works(),
                                reason="oneDNN bfloat16 convolutions not available here")


@pytest.fixture(scope="module")
def frame():
    acq = simulate("foam", 96, seed=11)
    return acq.sample[:88, :80], acq.reference[:88, :80]  # 88 × 80: not multiples of 8


@pytest.fixture(scope="module")
def lite():
    return load_generator(PRETRAINED)


@needs_bf16
def test_bf16_pass_keeps_the_float32_image(frame, lite):
    from skimage.metrics import structural_similarity

    s, r = frame
    ref = generate_inline(s, r, device="cpu", precision="float32", _model=lite)
    got = generate_inline(s, r, device="cpu", precision="bfloat16", _model=lite)
    assert got.shape == ref.shape and got.dtype == np.float32
    assert structural_similarity(ref, got, data_range=float(np.ptp(ref))) >= 0.995
    assert 0 < np.abs(got - ref).max() < 3e-2  # bfloat16 rounding, not the float32 pass


@needs_bf16
def test_bf16_tiled_and_batched_equal_the_whole_frame(frame, lite):
    s, r = frame
    full = generate_inline(s, r, device="cpu", precision="bfloat16", _model=lite)
    tiled = generate_inline(s, r, device="cpu", precision="bfloat16", tile_px=32, _model=lite)
    assert np.abs(tiled - full).max() < 1e-3
    stack = np.stack([s[::-1].copy(), s])
    batched = generate_inline(stack, r, device="cpu", precision="bfloat16", batch_size=2,
                              _model=lite)
    np.testing.assert_allclose(batched[1], full, atol=1e-5)
    # and the float32 tiles still reproduce the float32 frame (the walk of learn/tiling.py)
    ref = generate_inline(s, r, device="cpu", precision="float32", _model=lite)
    ref_tiled = generate_inline(s, r, device="cpu", precision="float32", tile_px=32, _model=lite)
    assert np.abs(ref_tiled - ref).max() < 1e-3


@needs_bf16
def test_bf16_pass_of_other_shapes_of_generator():
    """Three channels (NVIDIA pix2pixHD), four down-samplings, odd channel counts."""
    torch.manual_seed(0)
    for config in (GeneratorConfig(8, 2, 2, 3, 3), GeneratorConfig(6, 4, 1, 1, 1)):
        model = GlobalGenerator(config).eval()
        x = torch.rand(2, config.input_nc, 32, 48) * 2 - 1
        with torch.inference_mode():
            want = model(x)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                torch_bf16 = model(x).float()
        got = _fast.bf16_generator(model)(x)
        assert got.shape == want.shape and got.dtype == torch.float32

        def rel_rms(a, want=want):
            return float((a - want).pow(2).mean().sqrt() / want.std())

        # random weights amplify rounding more than trained ones (2–4 % here): the walk must be
        # as close to float32 as torch's own bfloat16 autocast (a wrong layer would be ~100 %)
        assert rel_rms(got) < 0.1
        assert rel_rms(got) <= 1.25 * rel_rms(torch_bf16) + 1e-3


@needs_bf16
def test_bf16_cancel_and_cache(lite):
    model, _meta = lite
    calls = []

    def cancel_at_fifth_layer():
        calls.append(1)
        return len(calls) == 5

    with pytest.raises(CancelledError):  # checked between layers, not only between frames
        _fast.bf16_generator(model)(torch.zeros(1, 1, 32, 32), cancel=cancel_at_fifth_layer)
    small = GlobalGenerator(GeneratorConfig(4, 2, 1)).eval()
    first = _fast.bf16_generator(small)
    assert _fast.bf16_generator(small) is first  # weights packed once per model
    with torch.no_grad():
        next(small.parameters()).add_(0.1)  # an in-place update (a training step)
    assert _fast.bf16_generator(small) is not first


def test_reflect_frame_equals_reflection_padding():
    for p in (1, 3):
        x = torch.randn(1, 5, 11, 9).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
        buf, inner = _fast._padded(x, p)
        inner.copy_(x)
        assert torch.equal(_fast._reflect_frame(buf, p),
                           torch.nn.functional.pad(x, (p,) * 4, mode="reflect"))


def test_precision_choice_and_fallback(monkeypatch, frame, lite):
    assert resolve_precision("cuda:0") == "float16"  # CUDA unchanged: fp16 autocast
    assert resolve_precision("cuda:0", half=False) == "float32"
    assert resolve_precision("cpu", half=False) == "float32"
    assert resolve_precision("cpu", "float32") == "float32"
    assert resolve_precision("mps") == "float32"
    with pytest.raises(InputError, match="CUDA"):
        resolve_precision("cpu", "float16")
    with pytest.raises(InputError, match="unknown precision"):
        resolve_precision("cpu", "fp8")
    want = "bfloat16" if (_fast.cpu_has_native_bf16() and _fast.onednn_bf16_works()) else "float32"
    assert resolve_precision("cpu") == want
    # a CPU without bfloat16 in hardware: auto is float32, and the image is the float32 one
    monkeypatch.setattr(_fast, "cpu_has_native_bf16", lambda: False)
    assert resolve_precision("cpu") == "float32"
    s, r = frame
    np.testing.assert_array_equal(generate_inline(s, r, device="cpu", _model=lite),
                                  generate_inline(s, r, device="cpu", precision="float32",
                                                  _model=lite))


def test_onednn_check_fails_closed(monkeypatch):
    def broken(self, shape):
        raise RuntimeError("no such op")

    monkeypatch.setattr(_fast._Conv, "_pack", broken)
    _fast.onednn_bf16_works.cache_clear()
    try:
        assert _fast.onednn_bf16_works() is False
        assert resolve_precision("cpu") == "float32"
        with pytest.raises(InputError, match="bfloat16"):
            resolve_precision("cpu", "bfloat16")
    finally:
        _fast.onednn_bf16_works.cache_clear()
