"""One training step of pix2pixHD (batch 1, as the paper) and the weight average.

The discriminator is updated on (condition, real) → 1 vs (condition, generated) → 0; the
generator on the GAN loss + feature matching (+ VGG19 when weights are given) + the L1 term
(+ an L1 term on the finite differences, ``grad_weight``; logged with the L1 term as ``g_l1``).
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import InputError
from ._train_setup import Session


def train_step(s: Session, a: Any, b: Any) -> dict[str, float]:
    """Update both networks on one (input, target) crop pair (1, h, w); returns the losses.

    Each loss is the weighted term as it enters the total (dimensionless): ``g_gan``,
    ``g_feat``, ``g_vgg``, ``g_l1`` (generator: the L1 terms on values and on finite
    differences) and ``d_real``, ``d_fake`` (discriminator).
    """
    import torch

    from .losses import feature_matching_loss, gan_loss

    c = s.config
    a, b = a[None].to(s.device), b[None].to(s.device)
    with torch.autocast("cuda", dtype=torch.float16, enabled=s.use_amp):
        fake = s.gen(a)
        d_fake = s.disc(torch.cat([a, fake.detach()], 1))
        d_real = s.disc(torch.cat([a, b], 1))
        loss_d_fake = gan_loss(d_fake, False, c.lsgan)
        loss_d_real = gan_loss(d_real, True, c.lsgan)
        loss_d = 0.5 * (loss_d_fake + loss_d_real)
    s.opt_d.zero_grad(set_to_none=True)
    s.scaler.scale(loss_d).backward()
    s.scaler.step(s.opt_d)
    with torch.autocast("cuda", dtype=torch.float16, enabled=s.use_amp):
        d_fake_g = s.disc(torch.cat([a, fake], 1))
        g_gan = gan_loss(d_fake_g, True, c.lsgan)
        g_feat = feature_matching_loss(d_fake_g, d_real, c.n_layers_d, c.feat_weight)
        g_vgg = s.vgg(fake, b) if s.vgg is not None else torch.zeros((), device=s.device)
        g_l1 = torch.nn.functional.l1_loss(fake, b) * c.l1_weight
        if c.grad_weight > 0:
            g_l1 = g_l1 + gradient_l1(fake, b) * c.grad_weight
        loss_g = g_gan + g_feat + g_vgg + g_l1
    s.opt_g.zero_grad(set_to_none=True)
    s.scaler.scale(loss_g).backward()
    s.scaler.step(s.opt_g)
    s.scaler.update()
    s.step += 1
    update_average(s)
    terms = {"g_gan": g_gan, "g_feat": g_feat, "g_vgg": g_vgg, "g_l1": g_l1,
             "d_real": loss_d_real, "d_fake": loss_d_fake}
    return {k: float(v.detach()) for k, v in terms.items()}


def gradient_l1(fake: Any, real: Any) -> Any:
    """Mean absolute difference of the two images' finite differences along y and x (the
    average of the two directions; (…, h, w) tensors)."""
    import torch

    l1 = torch.nn.functional.l1_loss
    return 0.5 * (l1(fake.diff(dim=-2), real.diff(dim=-2)) + l1(fake.diff(dim=-1), real.diff(dim=-1)))


def update_average(s: Session) -> None:
    """The moving average of the generator's weights, with the usual warm-up
    min(decay, (1 + step)/(10 + step)); buffers are copied."""
    if s.config.ema_decay <= 0:
        return
    import torch

    decay = min(s.config.ema_decay, (1.0 + s.step) / (10.0 + s.step))
    with torch.no_grad():
        for avg, cur in zip(s.ema.parameters(), s.gen.parameters(), strict=True):
            avg.lerp_(cur, 1.0 - decay)
        for avg, cur in zip(s.ema.buffers(), s.gen.buffers(), strict=True):
            avg.copy_(cur)


def check_finite(losses: dict[str, float], step: int) -> None:
    """Raise when a loss is NaN/inf (after the caller saved a checkpoint)."""
    if not all(math.isfinite(v) for v in losses.values()):
        raise InputError(f"training diverged at step {step} (non-finite loss {losses}); lower the "
                         f"learning rate (--lr) and resume")
