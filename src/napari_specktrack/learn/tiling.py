"""Exact tiled inference for the global generator: one layer at a time, tile by tile.

Why not the usual overlapping tiles blended together? The generator normalises every
feature map by its mean and variance over the *whole image* (instance norm), and its receptive
field spans hundreds of pixels. An independent pass over a tile therefore normalises with the
tile's own statistics, and the output of every tile comes out with a slightly different
contrast — blending hides the steps between tiles, but the values differ from a full-frame pass
by ~1e-2 (measured, in tanh units) everywhere, not only at the seams.

Here the network is evaluated layer by layer instead. Each layer's full-frame activation lives
in host (CPU) memory; each convolution runs tile by tile on the compute device, every tile
reading the exact halo it needs from the stored input (so a tile's output equals the
full-frame output there); each instance norm uses per-channel statistics accumulated over the
whole frame. The result is the full-frame result (to float rounding, ~1e-6) with no seams at
all, while the device only ever holds one tile of one layer: the largest of
``channels × (tile_px + halo)²`` over the layers (e.g. 64 × 520² floats = 69 MB for the paper
preset with ``tile_px=512``). Host memory holds about three full-frame activations of the widest
full-resolution layer (3 × 64 × H × W floats for ``paper``; 0.8 GB at 1024²).

A generator with frozen norms (:class:`~.networks.FrozenNorm`,
``GeneratorConfig(norm="frozen")``) needs no frame-wide statistics: its norm is a fixed
per-channel affine, applied pixel by pixel to the stored activation, and the walk is then plain
halo tiling.

The walk knows the modules :class:`~.networks.GlobalGenerator` is built of (reflection padding,
convolutions with and without stride, transposed convolutions, instance norm, frozen norm, ReLU,
tanh, residual blocks) and refuses anything else.

In bfloat16 on the CPU (``precision="bfloat16"``, what ``"auto"`` picks on a CPU with AMX /
AVX512-BF16) the tiles run through the packed oneDNN convolutions of :mod:`._fast` and the
norms are that module's, on bfloat16 host activations: the whole-frame bfloat16 result (equal
bit for bit in the tests here), at half the host memory of the float32 walk.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CancelledError, InputError
from .networks import FrozenNorm, ResnetBlock


def _starts(length: int, tile: int) -> list[tuple[int, int]]:
    """Half-open [start, stop) ranges of at most ``tile`` covering ``range(length)``."""
    return [(a, min(a + tile, length)) for a in range(0, length, tile)]


def _tile_conv(x: torch.Tensor, k: int, s: int, out_channels: int, tile: int,
               call: Callable[[torch.Tensor], torch.Tensor],
               check: Callable[[], None]) -> torch.Tensor:
    """An unpadded k×k convolution of stride s, ``call``-ed on each output tile's input slice
    (its exact halo) and assembled in an output of ``x``'s dtype and memory format."""
    h_out = (x.shape[2] - k) // s + 1
    w_out = (x.shape[3] - k) // s + 1
    out = _empty_like(x, out_channels, h_out, w_out)
    for y0, y1 in _starts(h_out, tile):
        for x0, x1 in _starts(w_out, tile):
            check()
            out[:, :, y0:y1, x0:x1] = call(x[:, :, y0 * s:(y1 - 1) * s + k, x0 * s:(x1 - 1) * s + k])
    return out


def _tile_conv_transpose(x: torch.Tensor, k: int, s: int, p: int, output_padding: tuple[int, int],
                         out_channels: int, tile: int,
                         call: Callable[[torch.Tensor], torch.Tensor],
                         check: Callable[[], None]) -> torch.Tensor:
    """A transposed convolution (padding p) tile by tile over its output; ``call`` is the
    same convolution without padding, applied to each tile's input slice.

    Output row o receives input rows i with o = s·i − p + k (k < K). For outputs [o0, o1)
    those are i in [⌈(o0 + p − K + 1)/s⌉, ⌊(o1 − 1 + p)/s⌋]; the slice's own transposed
    convolution (no padding) puts global row o at local row o − s·a + p.
    """
    h, w = x.shape[2], x.shape[3]
    h_out = (h - 1) * s - 2 * p + k + output_padding[0]
    w_out = (w - 1) * s - 2 * p + k + output_padding[1]
    out = _empty_like(x, out_channels, h_out, w_out)

    def span(o0: int, o1: int, n: int) -> tuple[int, int]:
        a = max(0, -((k - 1 - o0 - p) // s))  # ceil((o0 + p - k + 1) / s)
        b = min(n, (o1 - 1 + p) // s + 1)
        return a, b

    for y0, y1 in _starts(h_out, tile):
        ya, yb = span(y0, y1, h)
        for x0, x1 in _starts(w_out, tile):
            check()
            xa, xb = span(x0, x1, w)
            local = call(x[:, :, ya:yb, xa:xb])
            qy, qx = y0 - s * ya + p, x0 - s * xa + p
            out[:, :, y0:y1, x0:x1] = local[:, :, qy:qy + (y1 - y0), qx:qx + (x1 - x0)]
    return out


def _empty_like(x: torch.Tensor, channels: int, h: int, w: int) -> torch.Tensor:
    fmt = torch.channels_last if x.dtype == torch.bfloat16 else torch.contiguous_format
    return torch.empty((1, channels, h, w), dtype=x.dtype).contiguous(memory_format=fmt)


class _Runner:
    def __init__(self, tile_px: int, device: str, half: bool,
                 cancel: Callable[[], bool] | None, *,
                 autocast_dtype: torch.dtype = torch.float16) -> None:
        self.tile = tile_px
        self.device = device
        self.half = half
        self.autocast_dtype = autocast_dtype  #: CUDA autocast's dtype when ``half``
        self.cancel = cancel

    def _check(self) -> None:
        if self.cancel is not None and self.cancel():
            raise CancelledError("generation cancelled")

    def _device_call(self, fn, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cuda", dtype=self.autocast_dtype, enabled=self.half):
            return fn(x.to(self.device)).float().cpu()

    # --- layers -------------------------------------------------------------------------
    def conv(self, x: torch.Tensor, conv: nn.Conv2d, pad: tuple[int, str] | None) -> torch.Tensor:
        """A convolution (after an optional reflection pad) tile by tile over its output."""
        if conv.groups != 1 or conv.dilation != (1, 1) or conv.padding_mode != "zeros":
            raise InputError(f"tiled inference does not support {conv}")
        p, mode = pad if pad is not None else (conv.padding[0], "constant")
        if conv.padding[0] != conv.padding[1]:
            raise InputError(f"tiled inference needs square padding, got {conv}")
        if pad is not None and conv.padding != (0, 0):
            raise InputError(f"reflection padding followed by a padded convolution: {conv}")
        if p:
            x = F.pad(x, (p, p, p, p), mode=mode)
        s = conv.stride[0]
        fn = lambda t: F.conv2d(t, conv.weight, conv.bias, stride=s)  # noqa: E731
        return _tile_conv(x, conv.kernel_size[0], s, conv.out_channels, self.tile,
                          lambda t: self._device_call(fn, t), self._check)

    def conv_transpose(self, x: torch.Tensor, conv: nn.ConvTranspose2d) -> torch.Tensor:
        """A transposed convolution tile by tile over its output (:func:`_tile_conv_transpose`)."""
        if conv.groups != 1 or conv.dilation != (1, 1):
            raise InputError(f"tiled inference does not support {conv}")
        s = conv.stride[0]
        fn = lambda t: F.conv_transpose2d(t, conv.weight, conv.bias, stride=s)  # noqa: E731
        return _tile_conv_transpose(x, conv.kernel_size[0], s, conv.padding[0],
                                    tuple(conv.output_padding), conv.out_channels, self.tile,
                                    lambda t: self._device_call(fn, t), self._check)

    @staticmethod
    def instance_norm(x: torch.Tensor, norm: nn.InstanceNorm2d) -> torch.Tensor:
        """Normalise each channel by its mean and (biased) variance over the whole frame."""
        if norm.affine or norm.track_running_stats:
            raise InputError(f"tiled inference supports affine-free instance norm only, got {norm}")
        for c in range(x.shape[1]):
            xc = x[0, c]
            d = xc.double()
            mean = d.mean()
            var = ((d - mean) ** 2).mean()
            xc.sub_(float(mean)).div_(float(torch.sqrt(var + norm.eps)))
        return x

    @staticmethod
    def frozen_norm(x: torch.Tensor, norm: FrozenNorm) -> torch.Tensor:
        """The frozen norm's fixed per-channel affine, in place, pixel by pixel: no statistics
        (the same on a tile as on the whole frame)."""
        scale, shift = (t.to(x.device, x.dtype).view(1, -1, 1, 1) for t in norm.scale_shift())
        return x.mul_(scale).add_(shift)

    def sequence(self, x: torch.Tensor, modules: list[nn.Module]) -> torch.Tensor:
        pad: tuple[int, str] | None = None
        for m in modules:
            if isinstance(m, nn.ReflectionPad2d):
                p = m.padding
                if len(set(p)) != 1:
                    raise InputError(f"tiled inference needs equal padding on all sides, got {m}")
                pad = (p[0], "reflect")
                continue
            if isinstance(m, nn.Conv2d):
                x = self.conv(x, m, pad)
            elif pad is not None:
                raise InputError(f"reflection padding must precede a convolution, not {m}")
            elif isinstance(m, nn.ConvTranspose2d):
                x = self.conv_transpose(x, m)
            elif isinstance(m, nn.InstanceNorm2d):
                x = self.instance_norm(x, m)
            elif isinstance(m, FrozenNorm):
                x = self.frozen_norm(x, m)
            elif isinstance(m, nn.ReLU):
                x.clamp_(min=0.0)
            elif isinstance(m, nn.Tanh):
                x.tanh_()
            elif isinstance(m, ResnetBlock):
                # the block's first layer (a padding) copies x, so x is intact for the sum
                x = x + self.sequence(x, list(m.conv_block))
            else:
                raise InputError(f"tiled inference does not know the layer {m}")
            pad = None
        return x


class _Bf16Runner:
    """The bfloat16 CPU pass of :mod:`._fast`, its convolutions tile by tile.

    Walks the steps of :class:`~._fast.Bf16Generator` with its very operations — the same
    packed oneDNN convolutions (without padding, on slices with their halo), the same norm on
    the whole frame — so the result equals the whole-frame bfloat16 pass (bit for bit where
    oneDNN's accumulation order does not depend on the tile's size, as measured here).
    Frame-wide activations are held as bfloat16, half the memory of the float32 walk.
    """

    def __init__(self, tile_px: int, cancel: Callable[[], bool] | None) -> None:
        self.tile = tile_px
        self.cancel = cancel

    def _check(self) -> None:
        if self.cancel is not None and self.cancel():
            raise CancelledError("generation cancelled")

    def conv(self, c, x: torch.Tensor) -> torch.Tensor:
        if c.transposed:
            return _tile_conv_transpose(x, c.kernel, c.stride[0], c.padding[0],
                                        tuple(c.output_padding), c.out_channels, self.tile,
                                        c.unpadded(), self._check)
        if c.padding[0]:
            p = c.padding[0]
            x = F.pad(x, (p, p, p, p))
        return _tile_conv(x, c.kernel, c.stride[0], c.out_channels, self.tile, c.unpadded(),
                          self._check)

    def sequence(self, x: torch.Tensor, steps: list[tuple]) -> torch.Tensor:
        from ._fast import run_steps

        return run_steps(steps, x, self.conv, self._check)


def forward_tiled(model: nn.Module, x: torch.Tensor, tile_px: int, *, device: str = "cpu",
                  half: bool = False, cancel: Callable[[], bool] | None = None,
                  precision: str | None = None) -> torch.Tensor:
    """``model(x)`` for a global generator, computed layer by layer in tiles (module docstring).

    ``x``: (1, C, H, W) float32 on the CPU, sides a multiple of 2^n_downsampling as for a
    full-frame pass. ``tile_px``: tile side in pixels of each layer's own grid (≥ 16).
    ``precision`` ("float32", "float16", "bfloat16"; default from ``half``: float16 or
    float32) as :func:`~.inference.resolve_precision` gives it: bfloat16 on the CPU runs the
    tiles through the oneDNN pass of :mod:`._fast` (:class:`_Bf16Runner`), on CUDA under
    autocast. Returns (1, C_out, H, W) float32 on the CPU.
    """
    if tile_px < 16:
        raise InputError(f"tile_px must be at least 16 pixels, got {tile_px}")
    if x.ndim != 4 or x.shape[0] != 1:
        raise InputError(f"expected one image as (1, C, H, W), got {tuple(x.shape)}")
    precision = precision or ("float16" if half else "float32")
    with torch.inference_mode():
        if precision == "bfloat16" and device == "cpu":
            from ._fast import bf16_generator

            steps = bf16_generator(model).steps
            h = x.detach().cpu().to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
            return _Bf16Runner(int(tile_px), cancel).sequence(h, steps).float().contiguous()
        dtype = torch.bfloat16 if precision == "bfloat16" else torch.float16
        runner = _Runner(int(tile_px), device, precision != "float32", cancel,
                         autocast_dtype=dtype)
        return runner.sequence(x.detach().float().cpu().clone(), list(model.model))
