"""The global generator's forward pass on the CPU in bfloat16, on oneDNN with prepacked weights.

Why: on a CPU the float32 pass of the ``lite`` generator is 105 GFLOP per 1024² frame, most
of it the 18 residual-block convolutions. In bfloat16 on a CPU with AMX / AVX512-BF16 those
run several times faster — but only when their weights are reordered into oneDNN's blocked
layout once, not on every call (``torch.autocast`` with ``F.conv2d`` reorders them each time:
16 vs 32 ms for one 128-channel 3×3 convolution at 128², measured), and only when the
activations stay channels-last between layers (no reorders). Once the convolutions are fast,
the instance norms dominate; ``torch.instance_norm`` hands back a channels-first tensor (a
reorder per layer), so each norm here is ``F.batch_norm`` with batch statistics on one frame —
the same arithmetic (per-channel mean and biased variance over the frame, float accumulation)
in one channels-last bfloat16 kernel — and a norm that feeds a reflection pad writes the padded
copy in the same pass (1.03–1.15× on the whole pass). A frozen norm
(:class:`~.networks.FrozenNorm`) is the same kernel with its fixed statistics and affine
(``training=False``): a per-pixel affine, float32 parameters on bfloat16 activations.

The walk below knows the modules :class:`~.networks.GlobalGenerator` is built of (the list
:mod:`.tiling` accepts) and refuses anything else; the module itself is not changed (its
state dict, training behaviour and float32 pass are untouched). Precision: activations and
weights are bfloat16 (8-bit mantissa), accumulation is float32; against the float32 pass the
in-line image differs by ≤ 0.015 flat-field units at 1024² and 2048² (SSIM 0.99997; the
held-out figures of ``benchmarks/eval_generator.py`` unchanged). Speed (``benchmarks/
bench_generator.py``, lite, 1024², 2-core shared CPU): 4.7–4.9× float32 with one torch thread
(0.40 s a frame), 2.2–3.7× with two — two threads wait on each other for every small
element-wise op when other processes hold the cores.

The oneDNN entry points (``torch.ops.mkldnn._convolution_pointwise`` and friends, what
``torch.compile`` itself emits for the CPU) are private to torch: :func:`onednn_bf16_works`
runs them once on a tiny problem against float32 ``F.conv2d`` and the callers fall back to
the float32 pass where they are missing or disagree. ``torch.compile`` (inductor, freezing)
was measured too: 1.4× faster again, but 14–54 s of compilation per frame size and thread
count, and a C++ compiler at run time — not worth it for a per-frame tool.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CancelledError, InputError
from .networks import FrozenNorm, ResnetBlock

_CL = torch.channels_last
_BF16 = torch.bfloat16


def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bfloat16 in hardware (AVX512-BF16 or AMX), oneDNN present."""
    cpu = getattr(torch, "cpu", None)
    checks = [getattr(cpu, name, None) for name in ("_is_avx512_bf16_supported",
                                                     "_is_amx_tile_supported")]
    try:
        native = any(bool(c()) for c in checks if c is not None)
        return native and torch.backends.mkldnn.is_available()
    except Exception:  # an older torch without the probes
        return False


@functools.cache
def onednn_bf16_works() -> bool:
    """Whether the prepacked bfloat16 oneDNN convolutions run here and agree with float32.

    Checked once per process on a tiny convolution and transposed convolution (1e-2
    relative: bfloat16 rounding of inputs and weights, float32 accumulation).
    """
    try:
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(1, 8, 12, 12, generator=gen)
        conv = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        up = nn.ConvTranspose2d(16, 8, 3, stride=2, padding=1, output_padding=1)
        with torch.inference_mode():
            want = up(conv(x))
            h = _Conv(conv)(x.to(_BF16).contiguous(memory_format=_CL))
            got = _Conv(up)(h).float()
        return bool(got.shape == want.shape
                    and (got - want).abs().max() <= 1e-2 * (want.abs().max() + 1e-3))
    except Exception:  # private ops missing or refusing this CPU
        return False


class _Conv:
    """One convolution (or transposed convolution) in bfloat16 with oneDNN-packed weights.

    The packed layout depends on the input shape, so weights are packed once per shape seen.
    ``post``: an element-wise function fused into the convolution ("none" or "tanh").
    """

    def __init__(self, conv: nn.Conv2d | nn.ConvTranspose2d, post: str = "none") -> None:
        if conv.groups != 1 or conv.dilation != (1, 1) or conv.padding_mode != "zeros":
            raise InputError(f"the bfloat16 pass does not support {conv}")
        self.transposed = isinstance(conv, nn.ConvTranspose2d)
        self.weight = conv.weight.detach().to(_BF16)
        self.bias = None if conv.bias is None else conv.bias.detach().to(_BF16)
        self.kernel = int(conv.kernel_size[0])
        self.out_channels = int(conv.out_channels)
        self.stride = list(conv.stride)
        self.padding = list(conv.padding)
        self.output_padding = list(conv.output_padding) if self.transposed else []
        self.post = post
        self._packed: dict[tuple[int, ...], torch.Tensor] = {}

    def unpadded(self) -> _Conv:
        """The same convolution without zero padding (and output padding): for tiles that
        carry their own halo (:mod:`.tiling`). Shares the weights; cached."""
        sub = self.__dict__.get("_unpadded")
        if sub is None:
            sub = object.__new__(_Conv)
            sub.__dict__.update(self.__dict__, padding=[0, 0], _packed={})
            sub.output_padding = [0, 0] if self.transposed else []
            self._unpadded = sub
        return sub

    def _pack(self, shape: tuple[int, ...]) -> torch.Tensor:
        mk = torch.ops.mkldnn
        if self.transposed:
            return mk._reorder_convolution_transpose_weight(
                self.weight, self.padding, self.output_padding, self.stride, [1, 1], 1, list(shape))
        return mk._reorder_convolution_weight(self.weight, self.padding, self.stride, [1, 1], 1,
                                              list(shape))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=_CL)
        key = tuple(x.shape)
        packed = self._packed.get(key)
        if packed is None:
            packed = self._packed[key] = self._pack(key)
        mk = torch.ops.mkldnn
        if self.transposed:
            return mk._convolution_transpose_pointwise(
                x, packed, self.bias, self.padding, self.output_padding, self.stride, [1, 1], 1,
                self.post, [], "")
        return mk._convolution_pointwise(x, packed, self.bias, self.padding, self.stride, [1, 1],
                                         1, self.post, [], "")


def _padded(like: torch.Tensor, p: int) -> tuple[torch.Tensor, torch.Tensor]:
    """An empty channels-last buffer ``p`` pixels larger on each side, and its interior."""
    b, c, h, w = like.shape
    buf = torch.empty((b, c, h + 2 * p, w + 2 * p), dtype=like.dtype,
                      memory_format=_CL)
    return buf, buf[:, :, p:p + h, p:p + w]


def _reflect_frame(buf: torch.Tensor, p: int) -> torch.Tensor:
    """Fill the ``p``-pixel frame of ``buf`` from its interior as ``F.pad(mode="reflect")``
    does (reflection is separable: rows, then columns over the full height)."""
    h, w = buf.shape[2], buf.shape[3]
    cols = slice(p, w - p)
    buf[:, :, :p, cols] = buf[:, :, p + 1:2 * p + 1, cols].flip(2)
    buf[:, :, h - p:, cols] = buf[:, :, h - 2 * p - 1:h - p - 1, cols].flip(2)
    buf[:, :, :, :p] = buf[:, :, :, p + 1:2 * p + 1].flip(3)
    buf[:, :, :, w - p:] = buf[:, :, :, w - 2 * p - 1:w - p - 1].flip(3)
    return buf


def _norm(x: torch.Tensor, eps: float, relu: bool, pad: int,
          frozen: tuple[torch.Tensor, ...] | None = None):
    """Affine-free instance norm of one frame (1, C, H, W) — or, with ``frozen`` = (mean, var,
    weight, bias) of a :class:`~.networks.FrozenNorm` (float32, per channel), that fixed
    affine — an optional ReLU, and — when the next layer is a reflection pad of ``pad``
    pixels — the padded copy made in the same pass. Returns (activation, (pad, padded) or None)."""
    if frozen is None:
        y = F.batch_norm(x, None, None, training=True, eps=eps)
    else:
        y = F.batch_norm(x, *frozen, training=False, eps=eps)
    if not pad:
        return (y.relu_() if relu else y), None
    buf, inner = _padded(y, pad)
    if relu:
        torch.clamp_min(y, 0.0, out=inner)
    else:
        inner.copy_(y)
    return inner, (pad, _reflect_frame(buf, pad))


def _residual(x: torch.Tensor, y: torch.Tensor, pad: int):
    """x + y, written straight into a reflection-padded buffer when the next layer pads."""
    if not pad:
        return x + y, None
    buf, inner = _padded(y, pad)
    torch.add(x, y, out=inner)
    return inner, (pad, _reflect_frame(buf, pad))


def _leading_pad(steps: list[tuple]) -> int:
    return steps[0][1] if steps and steps[0][0] == "pad" else 0


def _build(modules: list[nn.Module]) -> list[tuple]:
    """The steps of a GlobalGenerator's module list: ("pad", p), ("conv", _Conv),
    ("norm", eps, relu, frozen, pad_next), ("block", steps, pad_next); ``frozen`` is None for
    an instance norm, (mean, var, weight, bias) for a frozen one; ``pad_next`` is the
    reflection pad the next step begins with (0 if none), made in the same pass as the norm
    or sum."""
    steps: list[tuple] = []
    i = 0
    while i < len(modules):
        m = modules[i]
        nxt = modules[i + 1] if i + 1 < len(modules) else None
        if isinstance(m, nn.ReflectionPad2d):
            if len(set(m.padding)) != 1:
                raise InputError(f"the bfloat16 pass needs equal padding on all sides, got {m}")
            steps.append(("pad", int(m.padding[0])))
        elif isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            tanh = isinstance(nxt, nn.Tanh)
            steps.append(("conv", _Conv(m, "tanh" if tanh else "none")))
            i += tanh
        elif isinstance(m, nn.InstanceNorm2d):
            if m.affine or m.track_running_stats:
                raise InputError(f"the bfloat16 pass supports affine-free instance norm only: {m}")
            relu = isinstance(nxt, nn.ReLU)
            steps.append(("norm", float(m.eps), relu, None, 0))
            i += relu
        elif isinstance(m, FrozenNorm):
            relu = isinstance(nxt, nn.ReLU)
            frozen = tuple(t.detach().float().clone() for t in (m.mean, m.var, m.weight, m.bias))
            steps.append(("norm", float(m.eps), relu, frozen, 0))
            i += relu
        elif isinstance(m, ResnetBlock):
            steps.append(("block", _build(list(m.conv_block)), 0))
        else:
            raise InputError(f"the bfloat16 pass does not know the layer {m}")
        i += 1
    for k in range(len(steps) - 1):  # norms and sums that feed a reflection pad
        if steps[k][0] in ("norm", "block"):
            nxt = steps[k + 1]
            pad = nxt[1] if nxt[0] == "pad" else _leading_pad(nxt[1]) if nxt[0] == "block" else 0
            steps[k] = (*steps[k][:-1], pad)
    return steps


def run_steps(steps: list[tuple], x: torch.Tensor, conv: Callable, check: Callable[[], None],
              padded: tuple[int, torch.Tensor] | None = None) -> torch.Tensor:
    """Evaluate :func:`_build`'s steps on one frame; ``conv(step_conv, x)`` runs a convolution
    (whole, or tile by tile in :mod:`.tiling` — everything else is shared, so both agree).
    ``padded``: the reflection-padded ``x`` when the caller made it already."""
    for step in steps:
        check()
        kind = step[0]
        if kind == "pad":
            p = step[1]
            x = padded[1] if padded and padded[0] == p else F.pad(x, (p,) * 4, mode="reflect")
            padded = None
        elif kind == "conv":
            x, padded = conv(step[1], x), None
        elif kind == "norm":
            _, eps, relu, frozen, pad_next = step
            x, padded = _norm(x, eps, relu, pad_next, frozen)
        else:  # a residual block: its first step (a pad) reads ``padded``, x stays for the sum
            x, padded = _residual(x, run_steps(step[1], x, conv, check, padded), step[2])
    return x


class Bf16Generator:
    """A :class:`~.networks.GlobalGenerator`'s forward pass in bfloat16 on oneDNN (CPU only).

    Built once per model (weights copied to bfloat16; the module is left as it is); call it
    with a float32 batch (b, C, H, W) — sides a multiple of 2^n_downsampling as for the module
    — to get the float32 output. Frames run one at a time (instance norm is per frame).
    ``cancel()`` is checked between layers.
    """

    def __init__(self, model: nn.Module) -> None:
        self.steps = _build(list(model.model))

    def __call__(self, x: torch.Tensor, cancel: Callable[[], bool] | None = None) -> torch.Tensor:
        def check() -> None:
            if cancel is not None and cancel():
                raise CancelledError("generation cancelled")

        outs = []
        with torch.inference_mode():
            for frame in x:
                h = frame[None].to(_BF16).contiguous(memory_format=_CL)
                outs.append(run_steps(self.steps, h, lambda c, t: c(t), check).float())
            return torch.cat(outs).contiguous()


def _weights_key(model: nn.Module) -> tuple:
    """Identity and version of every weight and buffer (a frozen norm's statistics): an
    in-place update (training) changes it."""
    return tuple((p.data_ptr(), p._version) for p in (*model.parameters(), *model.buffers()))


_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def bf16_generator(model: Any) -> Bf16Generator:
    """The (cached) :class:`Bf16Generator` of ``model``; rebuilt when its weights change."""
    key = _weights_key(model)
    cached = _CACHE.get(model)
    if cached is None or cached[0] != key:
        cached = _CACHE[model] = (key, Bf16Generator(model))
    return cached[1]
