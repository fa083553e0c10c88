"""Frozen norms in the generator (learn/networks.py ``FrozenNorm``, ``freeze_norms``): old weights
still load with instance norm, a frozen generator is a local operator, and the tiled and bfloat16
passes (learn/tiling.py, learn/_fast.py) handle it.

Sizes: the shipped instance-norm ``lite-instance`` weights (receptive field 329 px) on frames
of at most 576² (≈ 0.5 s per float32 pass on one thread); other checks on a tiny generator.
"""

import functools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_specktrack.errors import FileFormatError, InputError  # noqa: E402
from napari_specktrack.learn import _fast  # noqa: E402
from napari_specktrack.learn.inference import (  # noqa: E402
    export_safetensors,
    generate_inline,
    load_generator,
    weights_path,
)
from napari_specktrack.learn.networks import (  # noqa: E402
    NORMS,
    PRESETS,
    FrozenNorm,
    GeneratorConfig,
    GlobalGenerator,
    MultiscaleDiscriminator,
    config_from_state_dict,
    freeze_norms,
    receptive_field_px,
)
from napari_specktrack.simulate import simulate  # noqa: E402

#: the shipped instance-norm weights (the default until 2026-12-07; the default is frozen now)
INSTANCE = weights_path("lite-instance")
TINY = GeneratorConfig(ngf=4, n_downsampling=2, n_blocks=1)
NORM = {"input_scale": 0.5, "target_min": 0.5, "target_max": 1.5}  # tanh → flat-field units


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def lite():
    return load_generator(INSTANCE)


@functools.cache
def _shipped_normalisation() -> dict:
    return load_generator(INSTANCE)[1]["normalisation"]


def _frame(side: int, seed: int = 0) -> torch.Tensor:
    """A normalised network input (1, 1, side, side): a foam acquisition's sample − reference,
    mapped as the shipped weights' normalisation does."""
    from napari_specktrack.learn.pairs import normalise_input

    acq = simulate("foam", side, seed=seed)
    x = normalise_input((acq.sample - acq.reference)[None], _shipped_normalisation())
    return torch.from_numpy(np.ascontiguousarray(x, np.float32))[:, None]


def _frozen_meta(meta: dict, model) -> dict:
    return {**meta, "config": model.config.to_dict()}


# --- (a) configs and weights written before frozen norms ------------------------------------
def test_config_without_norm_is_instance_and_round_trips():
    old = {"ngf": 16, "n_downsampling": 3, "n_blocks": 9, "input_nc": 1, "output_nc": 1}
    assert GeneratorConfig.from_dict(old) == PRESETS["lite"]
    assert GeneratorConfig.from_dict(old).norm == "instance"
    frozen = GeneratorConfig(16, 3, 9, norm="frozen")
    assert frozen.to_dict() == {**old, "norm": "frozen"}
    assert GeneratorConfig.from_dict(frozen.to_dict()) == frozen
    assert PRESETS["lite"].to_dict()["norm"] == "instance"
    # the state dict tells the norm: instance norms store nothing, frozen ones their statistics
    assert config_from_state_dict(GlobalGenerator(TINY).state_dict()) == TINY
    frozen_tiny = GeneratorConfig(4, 2, 1, norm="frozen")
    assert config_from_state_dict(GlobalGenerator(frozen_tiny).state_dict()) == frozen_tiny
    wide = GeneratorConfig(8, 3, 2, 3, 3, norm="frozen")
    assert config_from_state_dict(GlobalGenerator(wide).state_dict()) == wide


def test_shipped_weights_still_load_with_instance_norm_and_run(lite):
    from safetensors.torch import load_file

    model, meta = lite
    assert meta["config"] == {**PRESETS["lite"].to_dict(), "norm": "instance"}
    assert meta["preset"] == "lite"
    assert not any(isinstance(m, FrozenNorm) for m in model.modules())
    # the same network as the plain architecture with the file's tensors (nothing converted)
    plain = GlobalGenerator(PRESETS["lite"]).eval()
    plain.load_state_dict(load_file(str(INSTANCE)), strict=True)
    x = _frame(64)
    with torch.inference_mode():
        torch.testing.assert_close(model(x), plain(x), atol=0, rtol=0)


def test_stored_generator_config_without_norm_loads_as_instance(tmp_path):
    g = GlobalGenerator(TINY)
    old = {k: v for k, v in TINY.to_dict().items() if k != "norm"}
    path = export_safetensors(g, tmp_path / "old.safetensors",
                              {"normalisation": NORM, "generator_config": old})
    _model, meta = load_generator(path)
    assert meta["config"]["norm"] == "instance"
    # metadata that contradicts the weights is refused
    bad = export_safetensors(g, tmp_path / "bad.safetensors",
                             {"normalisation": NORM, "generator_config": {**old, "norm": "frozen"}})
    with pytest.raises(FileFormatError, match="norm 'frozen'"):
        load_generator(bad)


# --- (b) a bad norm ------------------------------------------------------------------------
def test_unknown_norm_is_refused_naming_the_allowed_ones():
    assert NORMS == ("instance", "frozen")
    for bad in ("batch", "Frozen", None):
        with pytest.raises(InputError, match="choose one of 'instance', 'frozen'") as info:
            GeneratorConfig(16, 3, 9, norm=bad)
        assert "\n" not in str(info.value)
    with pytest.raises(InputError, match="'batch'"):
        GeneratorConfig.from_dict({**TINY.to_dict(), "norm": "batch"})


def test_discriminator_keeps_instance_norms():
    d = MultiscaleDiscriminator(2, 8, 3, 2)
    assert not any(isinstance(m, FrozenNorm) for m in d.modules())
    assert any(isinstance(m, torch.nn.InstanceNorm2d) for m in d.modules())


# --- (c) freeze_norms ----------------------------------------------------------------------
def test_frozen_norm_is_the_documented_affine():
    torch.manual_seed(0)
    norm = FrozenNorm(3)
    assert [n for n, _ in norm.named_parameters()] == ["weight", "bias"]
    assert [n for n, _ in norm.named_buffers()] == ["mean", "var"]
    with torch.no_grad():
        norm.mean.copy_(torch.tensor([0.5, -1.0, 2.0]))
        norm.var.copy_(torch.tensor([4.0, 0.25, 1.0]))
        norm.weight.copy_(torch.tensor([1.0, 2.0, -0.5]))
        norm.bias.copy_(torch.tensor([0.0, 0.1, 3.0]))
    x = torch.randn(2, 3, 5, 7)
    c = (1, 3, 1, 1)
    want = ((x - norm.mean.view(c)) / torch.sqrt(norm.var.view(c) + 1e-5) * norm.weight.view(c)
            + norm.bias.view(c))
    torch.testing.assert_close(norm(x), want)
    scale, shift = norm.scale_shift()
    torch.testing.assert_close((x.double() * scale.view(c) + shift.view(c)).float(), want)
    norm.train()
    norm(x).sum().backward()  # weight and bias learn; the statistics do not move in training
    assert norm.weight.grad is not None and norm.bias.grad is not None
    torch.testing.assert_close(norm.var, torch.tensor([4.0, 0.25, 1.0]))


def test_frozen_from_one_frame_reproduces_the_instance_generator_there(lite, tmp_path):
    model, meta = lite
    x = _frame(128, seed=3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    frozen = freeze_norms(model, [x])
    assert frozen.config == GeneratorConfig(16, 3, 9, norm="frozen")
    assert not frozen.training and not model.training
    for k, v in model.state_dict().items():  # the original is untouched
        assert torch.equal(v, before[k])
    norms = [m for m in frozen.modules() if isinstance(m, FrozenNorm)]
    assert len(norms) == 1 + 3 + 2 * 9 + 3
    assert all(bool((m.weight == 1).all() and (m.bias == 0).all()) for m in norms)
    with torch.inference_mode():
        want, got = model(x), frozen(x)
    assert float((got - want).abs().max()) < 1e-4  # float32 round-off through 25 norms
    # the statistics are per-image means: two frames give the mean of their single-frame ones
    x2 = _frame(128, seed=4)
    both = freeze_norms(model, iter([x, x2]))
    one2 = freeze_norms(model, [x2])
    for a, b, ab in zip(norms, [m for m in one2.modules() if isinstance(m, FrozenNorm)],
                        [m for m in both.modules() if isinstance(m, FrozenNorm)]):
        torch.testing.assert_close(ab.mean, (a.mean + b.mean) / 2)
        torch.testing.assert_close(ab.var, (a.var + b.var) / 2)
    with torch.inference_mode():
        assert float((both(x) - want).abs().max()) > 1e-3  # other statistics, another output
    # saved and loaded back: detected as frozen, the same output
    path = export_safetensors(frozen, tmp_path / "frozen.safetensors",
                              {"normalisation": meta["normalisation"],
                               "generator_config": frozen.config.to_dict()})
    loaded, loaded_meta = load_generator(path)
    assert loaded_meta["config"]["norm"] == "frozen" and loaded_meta["preset"] == "lite"
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), got, atol=0, rtol=0)


def test_freeze_norms_refuses_what_it_cannot_use():
    g = GlobalGenerator(TINY)
    with pytest.raises(InputError, match="at least one input"):
        freeze_norms(g, [])
    with pytest.raises(InputError, match=r"\(N, C, H, W\)"):
        freeze_norms(g, [torch.zeros(1, 16, 16)])
    frozen = freeze_norms(g, [torch.zeros(1, 1, 16, 16)])
    with pytest.raises(InputError, match="instance-norm"):
        freeze_norms(frozen, [torch.zeros(1, 1, 16, 16)])


# --- (d) locality --------------------------------------------------------------------------
def test_frozen_generator_is_local_instance_is_not(lite):
    """A 448² crop's own pass equals the pass of the 576² frame around it, away from the crop's
    edges: with frozen norms an output pixel depends only on the input within half the
    receptive field (329 px for ``lite``: 164 px each way), so only the 164 px next to the
    crop's edges, where the two passes see different surroundings (the frame's content,
    the crop's reflection padding), may differ — a 120² interior is left at 448². The
    instance-norm generator differs there too (its statistics are the whole frame's)."""
    model, _meta = lite
    rf = receptive_field_px(model.config)
    assert rf == 329
    margin = (rf - 1) // 2
    big = _frame(576, seed=7)
    at = 64  # the crop's corner in the frame: a multiple of 2^n_downsampling (8)
    crop = big[:, :, at:at + 448, at:at + 448].clone()
    frozen = freeze_norms(model, [crop])
    inner = (slice(None), slice(None), slice(margin, 448 - margin), slice(margin, 448 - margin))
    edge = (slice(None), slice(None), slice(0, margin), slice(None))  # the top band
    with torch.inference_mode():
        alone, within = frozen(crop), frozen(big)[:, :, at:at + 448, at:at + 448]
        instance_alone, instance_within = model(crop), model(big)[:, :, at:at + 448, at:at + 448]
    assert alone[inner].shape == (1, 1, 120, 120)
    assert float((alone[inner] - within[inner]).abs().max()) < 1e-5
    # nearer the crop's edges the surroundings matter (the comparison can tell)
    assert float((alone[edge] - within[edge]).abs().max()) > 1e-3
    assert float((instance_alone[inner] - instance_within[inner]).abs().max()) > 1e-2


def test_receptive_field_of_the_presets():
    assert receptive_field_px(PRESETS["lite"]) == 329  # docs/generator-size.md: 329 (325 measured)
    assert receptive_field_px(PRESETS["paper"]) == 649
    assert receptive_field_px(TINY) == 9 + 2 * 16


# --- (e) tiled and bfloat16 passes ---------------------------------------------------------
def test_tiled_frozen_generator_equals_the_full_frame(lite):
    from napari_specktrack.learn.tiling import _Runner

    model, meta = lite
    acq = simulate("foam", 160, seed=5)
    s, r = acq.sample[:150, :136], acq.reference[:150, :136]  # 150 is not a multiple of 8
    frozen = freeze_norms(model, [_frame(128, seed=1)])
    fmeta = _frozen_meta(meta, frozen)
    full = generate_inline(s, r, device="cpu", precision="float32", _model=(frozen, fmeta))
    tiled = generate_inline(s, r, device="cpu", precision="float32", tile_px=48,
                            _model=(frozen, fmeta))
    assert tiled.shape == full.shape == (150, 136)
    assert np.abs(tiled - full).max() < 1e-3
    assert np.abs(tiled - full).max() / np.ptp(full) < 1e-4
    norm = next(m for m in frozen.modules() if isinstance(m, FrozenNorm))
    x = torch.randn(1, norm.channels, 9, 11)
    with torch.inference_mode():
        torch.testing.assert_close(_Runner.frozen_norm(x.clone(), norm), norm(x), atol=1e-5,
                                   rtol=1e-5)


@pytest.mark.skipif(not _fast.onednn_bf16_works(),
                    reason="oneDNN bfloat16 convolutions not available here")
def test_bf16_pass_of_a_frozen_generator(lite):
    from skimage.metrics import structural_similarity

    model, meta = lite
    acq = simulate("foam", 96, seed=11)
    s, r = acq.sample[:88, :80], acq.reference[:88, :80]
    frozen = freeze_norms(model, [_frame(128, seed=1)])
    fmeta = _frozen_meta(meta, frozen)
    ref = generate_inline(s, r, device="cpu", precision="float32", _model=(frozen, fmeta))
    got = generate_inline(s, r, device="cpu", precision="bfloat16", _model=(frozen, fmeta))
    assert structural_similarity(ref, got, data_range=float(np.ptp(ref))) >= 0.995
    assert np.abs(got - ref).max() < 3e-2
    tiled = generate_inline(s, r, device="cpu", precision="bfloat16", tile_px=32,
                            _model=(frozen, fmeta))
    assert np.abs(tiled - got).max() < 1e-3
    first = _fast.bf16_generator(frozen)
    with torch.no_grad():  # new statistics (no parameter changes): the packed pass is rebuilt
        next(m for m in frozen.modules() if isinstance(m, FrozenNorm)).mean.add_(0.1)
    assert _fast.bf16_generator(frozen) is not first


# --- training: --norm (the run is set up, not trained) -------------------------------------
@pytest.fixture(scope="module")
def pair_dir(tmp_path_factory):
    from napari_specktrack.simulate.pairs import write_simulated_pairs

    return write_simulated_pairs(tmp_path_factory.mktemp("pairs"), 4, 48, seed=10)


def _plan(pair_dir, run_dir, **kw):
    from napari_specktrack.learn._train_setup import prepare_run
    from napari_specktrack.learn.train import TrainConfig

    config = TrainConfig(**{**dict(preset="lite", epochs=1, crop_yx_px=(32, 32), ndf=8,
                                   n_layers_d=2, seed=3), **kw})
    return prepare_run(pair_dir, run_dir, config, resume=False, overwrite=False, overrides={})


def test_training_setup_freezes_the_initial_weights_norms(pair_dir, tmp_path, monkeypatch):
    import napari_specktrack.learn.networks as nets
    from napari_specktrack.learn._train_setup import (
        CALIBRATION_CROPS,
        _calibration_inputs,
        build_session,
    )

    monkeypatch.setitem(nets.PRESETS, "lite", TINY)
    torch.manual_seed(5)
    start = GlobalGenerator(TINY)
    weights = export_safetensors(start, tmp_path / "start.safetensors", {"normalisation": NORM})
    plan = _plan(pair_dir, tmp_path / "run", init_weights=str(weights), norm="frozen")
    session = build_session(plan)
    assert session.gen.config == GeneratorConfig(4, 2, 1, norm="frozen")
    assert session.ema.config == session.gen.config
    crops = _calibration_inputs(plan)
    assert len(crops) == min(CALIBRATION_CROPS, len(plan.training))
    assert crops[0].shape == (1, 1, 32, 32)
    want = freeze_norms(start, crops).state_dict()
    for k, v in session.gen.state_dict().items():  # the initial convolutions, calibrated norms
        torch.testing.assert_close(v, want[k], atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(session.ema.state_dict()[k], v, atol=0, rtol=0)
    assert {id(p) for p in session.opt_g.param_groups[0]["params"]} == \
        {id(p) for p in session.gen.parameters()}  # Adam trains the frozen-norm generator
    # without --norm the initial weights keep their norm; random weights get instance norms
    assert build_session(_plan(pair_dir, tmp_path / "r2", init_weights=str(weights))).gen.config == TINY
    assert build_session(_plan(pair_dir, tmp_path / "r3")).gen.config == TINY
    frozen_file = export_safetensors(session.gen, tmp_path / "frozen.safetensors",
                                     {"normalisation": NORM})
    kept = build_session(_plan(pair_dir, tmp_path / "r4", init_weights=str(frozen_file)))
    assert kept.gen.config.norm == "frozen"
    for k, v in session.gen.state_dict().items():
        torch.testing.assert_close(kept.gen.state_dict()[k], v, atol=0, rtol=0)
    with pytest.raises(InputError, match="cannot be turned back"):
        _plan(pair_dir, tmp_path / "r5", init_weights=str(frozen_file), norm="instance")
    with pytest.raises(InputError, match=r"norm \(--norm\) must be one of 'instance', 'frozen'"):
        _plan(pair_dir, tmp_path / "r6", norm="batch")


def test_cli_takes_the_norm_option():
    import argparse

    from napari_specktrack.learn._cli_train import _config, add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    base = ["--pairs", "p", "--out", "o"]
    assert _config(parser.parse_args(base)).norm is None
    assert _config(parser.parse_args([*base, "--norm", "frozen"])).norm == "frozen"
    with pytest.raises(SystemExit):
        parser.parse_args([*base, "--norm", "batch"])
