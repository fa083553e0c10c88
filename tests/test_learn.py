"""The generator: architecture, pix2pixHD compatibility, pair folders, inference (training:
test_learn_train*.py)."""

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_specktrack.errors import CancelledError, FileFormatError, InputError  # noqa: E402
from napari_specktrack.learn.inference import (  # noqa: E402
    export_safetensors,
    generate_inline,
    load_generator,
)
from napari_specktrack.learn.networks import (  # noqa: E402
    PRESETS,
    GeneratorConfig,
    GlobalGenerator,
    MultiscaleDiscriminator,
    config_from_state_dict,
    count_parameters,
)
from napari_specktrack.learn.pairs import read_pairs, write_pairs  # noqa: E402
from napari_specktrack.simulate import simulate  # noqa: E402

TINY = GeneratorConfig(ngf=4, n_downsampling=2, n_blocks=1)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_presets_shapes_and_sizes():
    # physics-notes §3: 182,430,721 parameters for (64, 4, 9); 2,851,969 for (16, 3, 9)
    assert count_parameters(GlobalGenerator(PRESETS["lite"])) == 2_851_969
    paper = GlobalGenerator(PRESETS["paper"])
    assert count_parameters(paper) == 182_430_721
    with torch.inference_mode():
        assert paper(torch.zeros(1, 1, 32, 48)).shape == (1, 1, 32, 48)
        y = GlobalGenerator(PRESETS["lite"])(torch.randn(2, 1, 40, 24))
    assert y.shape == (2, 1, 40, 24) and y.abs().max() <= 1.0  # tanh output


def pix2pixhd_state_dict(ngf=8, n_down=2, n_blocks=2, nc=3):
    """A state dict laid out as NVIDIA's GlobalGenerator saves it, built by hand (keys, shapes)."""
    sd = {"model.1.weight": torch.randn(ngf, nc, 7, 7), "model.1.bias": torch.randn(ngf)}
    i = 4
    for k in range(n_down):
        c = ngf * 2**k
        sd[f"model.{i}.weight"] = torch.randn(2 * c, c, 3, 3)
        sd[f"model.{i}.bias"] = torch.randn(2 * c)
        i += 3
    c = ngf * 2**n_down
    for _ in range(n_blocks):
        for j in (1, 5):
            sd[f"model.{i}.conv_block.{j}.weight"] = torch.randn(c, c, 3, 3)
            sd[f"model.{i}.conv_block.{j}.bias"] = torch.randn(c)
        i += 1
    for k in range(n_down):
        c = ngf * 2 ** (n_down - k)
        sd[f"model.{i}.weight"] = torch.randn(c, c // 2, 3, 3)  # ConvTranspose: (in, out, k, k)
        sd[f"model.{i}.bias"] = torch.randn(c // 2)
        i += 3
    sd[f"model.{i + 1}.weight"] = torch.randn(nc, ngf, 7, 7)
    sd[f"model.{i + 1}.bias"] = torch.randn(nc)
    return sd


def test_pix2pixhd_checkpoint_loads_and_runs_on_grayscale(tmp_path):
    sd = pix2pixhd_state_dict()
    assert config_from_state_dict(sd) == GeneratorConfig(8, 2, 2, 3, 3)
    g = GlobalGenerator(config_from_state_dict(sd))
    g.load_state_dict(sd, strict=True)  # same keys and shapes as NVIDIA's module order
    path = tmp_path / "latest_net_G.pth"
    torch.save(sd, path)
    _model, meta = load_generator(path)
    assert meta["config"]["input_nc"] == 3 and meta["preset"] == "custom"
    acq = simulate("spheres", 48, seed=1)
    out = generate_inline(acq.sample, acq.reference, path, device="cpu")
    assert out.shape == (48, 48) and np.isfinite(out).all()
    with pytest.raises(InputError, match="preset 'lite'"):
        load_generator(path, preset="lite")


def test_checkpoints_are_never_unpickled(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pth"
    torch.save({"model.1.weight": Evil()}, path)
    with pytest.raises(FileFormatError, match="weights-only"):
        load_generator(path)


def test_discriminator_returns_features_per_scale():
    d = MultiscaleDiscriminator(2, ndf=8, n_layers=3, num_d=2)
    out = d(torch.randn(1, 2, 64, 64))
    assert len(out) == 2 and len(out[0]) == 5  # 4 intermediate features + patch map
    assert out[0][-1].shape[1] == 1 and out[1][-1].shape[-1] < out[0][-1].shape[-1]


@pytest.fixture(scope="module")
def pair_dir(tmp_path_factory):
    from napari_specktrack.simulate.pairs import write_simulated_pairs

    return write_simulated_pairs(tmp_path_factory.mktemp("pairs"), 4, 48, seed=10)


def test_pair_folder_round_trip_and_validation(pair_dir, tmp_path):
    folder = read_pairs(pair_dir)
    assert len(folder) == 4 and folder.names[0].startswith("spheres_")
    inp, tgt = folder.load(1)
    assert inp.shape == tgt.shape == (48, 48) and abs(float(tgt.mean()) - 1) < 0.1
    (pair_dir / "targets" / f"{folder.names[0]}.tif").rename(tmp_path / "moved.tif")
    try:
        with pytest.raises(FileFormatError, match="missing"):
            read_pairs(pair_dir)
    finally:
        (tmp_path / "moved.tif").rename(pair_dir / "targets" / f"{folder.names[0]}.tif")
    with pytest.raises(FileFormatError, match="not a pair folder"):
        read_pairs(tmp_path)
    with pytest.raises(InputError, match="one shape"):
        write_pairs(tmp_path / "bad", [np.zeros((4, 4))], [np.zeros((4, 5))], [{}], folder.geometry)


def test_augmentation_covers_all_eight_flips_and_quarter_turns(tmp_path):
    from napari_specktrack.geometry import Geometry
    from napari_specktrack.learn.pairs import PairDataset

    img = np.arange(12 * 12, dtype=np.float32).reshape(12, 12) / 144.0  # no symmetry at all
    folder = read_pairs(write_pairs(tmp_path, [img], [img + 1.0], [{"name": "a"}], Geometry()))
    norm = {"input_scale": 1.0, "target_min": 0.0, "target_max": 2.0}
    dihedral = {}
    for k in range(4):
        for flip in (False, True):
            t = np.rot90(img, k)
            dihedral[(t[:, ::-1] if flip else t).tobytes()] = (k, flip)
    for crop in ((12, 12), (12, 8)):  # square crops too: they used to be flipped only
        data = PairDataset(folder, norm, crop_yx_px=crop, seed=1)
        seen = set()
        for epoch in range(64):
            data.epoch = epoch
            a, b = (t.numpy()[0] for t in data[0])
            assert a.shape == crop
            np.testing.assert_allclose(b, a, atol=1e-6)  # normalised, target = input: same transform
            if crop == (12, 12):
                seen.add(dihedral[np.ascontiguousarray(a).tobytes()])
        if crop == (12, 12):
            assert len(seen) == 8


def test_full_frame_inference_pads_to_the_network_multiple(tmp_path):
    g = GlobalGenerator(TINY)
    meta = {"normalisation": {"input_scale": 0.5, "target_min": 0.5, "target_max": 1.5}}
    path = export_safetensors(g, tmp_path / "g.safetensors", meta)
    acq = simulate("foaming", 40, seed=2, frames=2)  # 40 is not a multiple of 4
    out = generate_inline(acq.sample, acq.reference, path, device="cpu")
    assert out.shape == (2, 40, 40) and out.dtype == np.float32
    assert 0.5 <= out.min() and out.max() <= 1.5  # tanh range mapped back to the target range
    seen = []
    generate_inline(acq.sample, acq.reference, path, device="cpu", progress=lambda d, t: seen.append(d))
    assert seen == [1, 2]
    # batches: frames are independent (per-image norm), so batching changes nothing but speed
    three = np.concatenate([acq.sample, acq.sample[:1]])
    batched = generate_inline(three, acq.reference, path, device="cpu", batch_size=2,
                              progress=lambda d, t: seen.append(d))
    assert seen[2:] == [2, 3]
    np.testing.assert_allclose(batched[:2], out, atol=1e-5)
    np.testing.assert_allclose(batched[2], out[0], atol=1e-5)
    with pytest.raises(InputError, match="batch_size"):
        generate_inline(acq.sample, acq.reference, path, device="cpu", batch_size=0)
    with pytest.raises(CancelledError):
        generate_inline(acq.sample, acq.reference, path, device="cpu", cancel=lambda: True)
    with pytest.raises(InputError, match="reference's shape"):
        generate_inline(acq.sample, acq.reference[:20], path, device="cpu")


def test_tiled_inference_equals_the_full_frame(tmp_path):
    """Layer-by-layer tiles with frame-wide norm statistics reproduce the full-frame pass."""
    from napari_specktrack.learn.inference import PRETRAINED

    model = load_generator(PRETRAINED)
    acq = simulate("foam", 160, seed=5)
    s, r = acq.sample[:150, :136], acq.reference[:150, :136]  # 150 is not a multiple of 8
    # float32 both ways: "auto" may pick bfloat16 on this CPU, whose own rounding (≈ 5e-3 here)
    # dwarfs what is tested; a frozen-norm model's bfloat16 tiles differ from its bfloat16 frame
    # by ≈ 2e-4 at the seams (the instance-norm one's by nothing)
    full = generate_inline(s, r, device="cpu", _model=model, precision="float32")
    tiled = generate_inline(s, r, device="cpu", tile_px=48, _model=model, precision="float32")
    assert tiled.shape == full.shape == (150, 136)
    # the issue asks 1e-3 away from seams; this holds everywhere, seams included
    assert np.abs(tiled - full).max() < 1e-3
    assert np.abs(tiled - full).max() / np.ptp(full) < 1e-4
    with pytest.raises(InputError, match="at least 16"):
        generate_inline(s, r, device="cpu", tile_px=8, _model=model)
    checks = []

    def cancel_mid_frame():  # the first check is before the frame, later ones between tiles
        checks.append(1)
        return len(checks) > 3

    with pytest.raises(CancelledError):
        generate_inline(s, r, device="cpu", tile_px=48, _model=model, cancel=cancel_mid_frame)


def test_orientation_average_turns_each_output_back():
    from napari_specktrack.learn.inference import PRETRAINED

    model = load_generator(PRETRAINED)
    acq = simulate("spheres", 96, seed=6)
    s, r = acq.sample[:88, :72], acq.reference[:88, :72]  # not square: turns change the shape
    want = np.zeros(s.shape)
    for k in range(4):
        for flip in (False, True):
            def t(a, k=k, flip=flip):
                a = np.rot90(a, k)
                return np.ascontiguousarray(a[:, ::-1] if flip else a)
            g = generate_inline(t(s), t(r), device="cpu", _model=model)
            want += np.rot90(g[:, ::-1] if flip else g, -k) / 8
    seen = []
    got = generate_inline(s, r, device="cpu", average_orientations=True, _model=model,
                          progress=lambda d, t: seen.append((d, t)))
    assert seen == [(k, 8) for k in range(1, 9)]  # a progress step per pass
    calls = []

    def cancel_at_third_pass():
        calls.append(1)
        return len(calls) == 3

    with pytest.raises(CancelledError):  # cancel is honoured between the 8 passes
        generate_inline(s, r, device="cpu", average_orientations=True, _model=model,
                        cancel=cancel_at_third_pass)
    assert len(calls) == 3
    assert got.shape == s.shape
    np.testing.assert_allclose(got, want, atol=1e-5)
    plain = generate_inline(s, r, device="cpu", _model=model)
    assert np.abs(got - plain).max() > 1e-3  # the average is not the plain pass


def test_tiled_layers_match_torch_for_other_strides_and_kernels():
    from torch import nn

    from napari_specktrack.learn.tiling import _Runner

    torch.manual_seed(0)
    runner = _Runner(7, "cpu", False, None)
    x = torch.randn(1, 3, 23, 19)
    with torch.inference_mode():
        for up in (nn.ConvTranspose2d(3, 2, 5, stride=3, padding=2, output_padding=1),
                   nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1),
                   nn.ConvTranspose2d(3, 2, 4, stride=2, padding=0)):
            torch.testing.assert_close(runner.conv_transpose(x, up), up(x), atol=1e-5, rtol=1e-5)
        for conv, pad in ((nn.Conv2d(3, 2, 3, stride=2, padding=1), None),
                          (nn.Conv2d(3, 2, 7), (3, "reflect")),
                          (nn.Conv2d(3, 2, 4, stride=3, padding=2), None)):
            want = conv(nn.functional.pad(x, (3,) * 4, mode="reflect") if pad else x)
            torch.testing.assert_close(runner.conv(x, conv, pad), want, atol=1e-5, rtol=1e-5)
        norm = nn.InstanceNorm2d(3)
        torch.testing.assert_close(runner.instance_norm(x.clone(), norm), norm(x), atol=1e-5, rtol=1e-5)
        with pytest.raises(InputError, match="does not know"):
            runner.sequence(x, [nn.Sigmoid()])


def test_pretrained_metadata_when_shipped():
    from napari_specktrack.learn.inference import PRETRAINED

    if not PRETRAINED.is_file():
        pytest.skip("no pretrained weights shipped")
    _model, meta = load_generator("pretrained")
    assert meta["preset"] == "lite" and "normalisation" in meta
    assert json.dumps(meta)


def _held_out_figures(generator: str, phantom: str, size: int, seed: int = 904):
    """(SSIM against the noise-free in-line image, ring and interior phase error of double
    exposure with the generated in-line image over that with the measured one) — as
    benchmarks/eval_generator.py computes them."""
    from skimage.metrics import structural_similarity

    from napari_specktrack.retrieval import double_exposure

    acq = simulate(phantom, size, seed=seed)
    gen = generate_inline(acq.sample, acq.reference, generator, device="cpu")
    truth = acq.truth_inline
    ssim = structural_similarity(truth, gen, data_range=float(np.ptp(truth)))
    ring, interior, core = acq.regions()
    errors = []
    for inline in (acq.inline, gen):
        e = double_exposure(acq.sample, acq.reference, inline, acq.geometry,
                            fuse_inline=False).phase_rad - acq.truth_phase
        e -= e[core].mean()
        errors.append((np.sqrt(np.mean(e[ring] ** 2)), np.sqrt(np.mean(e[interior] ** 2))))
    return ssim, errors[1][0] / errors[0][0], errors[1][1] / errors[0][1]


@pytest.mark.parametrize("phantom, min_ssim", [("spheres", 0.95), ("foam", 0.90)])
def test_the_earlier_generator_meets_its_goals_at_256(phantom, min_ssim):
    """`lite-instance` (the default until 2026-12-07) on a seed never trained on, at 256², the
    size it was trained on. Measured: SSIM 0.976 / 0.921 (spheres / foam), ring ratio 1.02 /
    1.34 (goal of issue 4: ≤ 1.5)."""
    ssim, ring, _interior = _held_out_figures("lite-instance", phantom, 256)
    assert ssim >= min_ssim
    assert ring <= 1.5


def test_vgg_loss_reads_weights_from_a_user_file(tmp_path):
    from napari_specktrack.learn.losses import VGG19Features, VGGLoss, make_vgg_loss

    path = tmp_path / "vgg19.pth"
    torch.save(VGG19Features().state_dict(), path)  # torchvision layout: features.N.weight
    loss = VGGLoss(path)
    a = torch.rand(1, 1, 32, 32) * 2 - 1
    assert float(loss(a, a)) == 0.0
    assert float(loss(a, -a)) > 0.0
    assert make_vgg_loss(None) is None  # no file: feature matching only, with a warning
    torch.save({"something": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(FileFormatError, match="not a VGG19"):
        VGGLoss(tmp_path / "bad.pth")


def test_every_shipped_file_is_a_named_model(tmp_path, monkeypatch):
    """pretrained/NAME.safetensors is the model "NAME" wherever a generator is named (loading,
    the run parameters' check, the dock's list with its card); "pretrained" stays lite."""
    from napari_specktrack.learn import inference
    from napari_specktrack.learn.models import list_models
    from napari_specktrack.pipeline import GeneratorSpec

    shipped = tmp_path / "pretrained"
    shipped.mkdir()
    (shipped / "lite.safetensors").symlink_to(inference.PRETRAINED)
    (shipped / "other.safetensors").symlink_to(inference.PRETRAINED)
    monkeypatch.setattr(inference, "PRETRAINED_DIR", shipped)
    monkeypatch.setattr(inference, "PRETRAINED", shipped / "lite.safetensors")
    assert list(inference.shipped_weights()) == ["pretrained", "other"]
    assert inference.weights_path("other") == shipped / "other.safetensors"
    assert inference.weights_path("x.safetensors") == Path("x.safetensors")
    GeneratorSpec(weights="other").validate()
    with pytest.raises(InputError, match="'pretrained', 'other'"):
        GeneratorSpec(weights="nothing-such").validate()
    _model, meta = load_generator("other")
    assert meta.get("preset") == "lite"
    entries = list_models()
    assert [e.path for e in entries[:2]] == ["pretrained", "other"]
    assert entries[1].card_path == str(shipped / "other.MODEL_CARD.md")


@pytest.mark.parametrize("size, phantom, min_ssim", [
    (128, "spheres", 0.92), (128, "foam", 0.91), (256, "spheres", 0.96), (256, "foam", 0.92),
    (512, "spheres", 0.97), (512, "foam", 0.92), (1024, "spheres", 0.97), (1024, "foam", 0.92),
])
def test_the_default_generator_holds_at_every_frame_size(size, phantom, min_ssim):
    """The shipped default (`pretrained`: frozen norms, MODEL_CARD.md) on a seed never used in
    training or for choosing the snapshot (904), at 128²–1024² (issue 14's sizes). Measured:
    spheres SSIM 0.935 / 0.977 / 0.986 / 0.989, foam 0.924 / 0.937 / 0.940 / 0.944 at 128² /
    256² / 512² / 1024² (the 2026-12-07 default: spheres 0.910 / 0.963 / 0.984 / 0.989;
    `lite-instance`: 0.783 and 0.901 at 128²). The phase error ratios on one seed scatter by
    ±0.3 (0.76–1.42 here); their means and medians over 32 held-out seeds are in the card. Per
    seed they stay within issue 4's 1.5."""
    ssim, ring, interior = _held_out_figures("pretrained", phantom, size)
    assert ssim >= min_ssim
    assert ring <= 1.5 and interior <= 1.5
