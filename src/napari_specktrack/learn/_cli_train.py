"""Train the pix2pixHD generator on a pair folder (see learn/train.py for the run folder).

A run folder that already holds a run is refused: --resume continues it from its last
checkpoint at the exact step, --overwrite replaces it (the new run takes its place at its first
checkpoint). Every option and every pair is checked before anything is written.
Checkpoints every --checkpoint-every steps, at each epoch end and on Ctrl-C or SIGTERM (the
current step finishes, the state is saved, the command exits with status 130; a second Ctrl-C
stops at once, keeping the last checkpoint). --init-weights pretrained fine-tunes the shipped
generator instead of starting from random weights; with --norm frozen its norms are first
frozen at the statistics of the first 8 training crops. Losses go to RUN/losses.csv, the generator
to RUN/generator.safetensors (usable as --generator in `specktrack retrieve`) with its model
card RUN/MODEL_CARD.md; the run is added to the Generator dock's list of models.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .._cli_options import add_overwrite

    parser.add_argument("--pairs", type=Path, required=True,
                        help="pair folder (inputs/, targets/, pairs.json)")
    parser.add_argument("--out", type=Path, required=True, help="run folder")
    parser.add_argument("--resume", action="store_true", help="continue from RUN/checkpoint.pt")
    add_overwrite(parser, "run folder")
    parser.add_argument("--epochs", type=int,
                        help="passes over the pairs (default 10); with --resume, a new larger total")
    parser.add_argument("--preset", choices=("lite", "paper"), default="lite")
    parser.add_argument("--init-weights",
                        help="start the generator from these weights (a shipped model such as "
                             "'pretrained', or a weights file: fine-tuning) instead of random ones")
    parser.add_argument("--norm", choices=("instance", "frozen"),
                        help="the generator's norm: 'frozen' (fixed statistics and a learnable "
                             "affine: output independent of the frame size) from instance-norm "
                             "weights calibrates the statistics on the first 8 training crops; "
                             "default: as --init-weights (instance for random weights); a resumed "
                             "run keeps its norm")
    parser.add_argument("--crop", type=int, nargs=2, default=(1024, 512), metavar=("H", "W"),
                        help="crop size in pixels (default 1024 512, as the paper); multiples of "
                             "8 (lite) or 16 (paper), at most the pairs' size")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, mps or auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float,
                        help="Adam learning rate per step (default 2e-4, the paper's); with --resume, "
                             "a new rate for the remaining steps")
    parser.add_argument("--l1-weight", type=float,
                        help="weight of the L1 term (default 10; 0 for the paper's losses only); with "
                             "--resume, a new weight for the remaining steps")
    parser.add_argument("--grad-weight", type=float,
                        help="weight of an L1 term on the image gradients (finite differences), "
                             "which weighs the edge fringes more (default 0); with --resume, a new "
                             "weight for the remaining steps")
    parser.add_argument("--vgg-weights", type=Path, help="torchvision vgg19 state dict for the VGG loss")
    parser.add_argument("--lsgan", action="store_true",
                        help="least-squares GAN loss (pix2pixHD's default) instead of sigmoid + BCE")
    parser.add_argument("--ema-decay", type=float, default=0.999,
                        help="export a moving average of the generator weights with this decay per "
                             "step, in [0, 1) (0: the raw weights)")
    parser.add_argument("--ndf", type=int, default=64, help="discriminator width")
    parser.add_argument("--checkpoint-every", type=int, default=200, help="steps between checkpoints")
    parser.add_argument("--max-steps", type=int,
                        help="stop after this many steps in total (with --resume: the run's new limit)")
    parser.add_argument("--threads", type=int,
                        help="CPU threads for torch (default: torch's choice; 1 leaves the other "
                             "cores free for a long background run)")


def _config(args: argparse.Namespace):
    from .train import TrainConfig

    return TrainConfig(
        preset=args.preset, epochs=10 if args.epochs is None else args.epochs,
        crop_yx_px=tuple(args.crop), lr=2e-4 if args.lr is None else args.lr, seed=args.seed,
        device=args.device, lsgan=args.lsgan,
        vgg_weights=str(args.vgg_weights) if args.vgg_weights else None,
        l1_weight=10.0 if args.l1_weight is None else args.l1_weight,
        grad_weight=0.0 if args.grad_weight is None else args.grad_weight,
        ndf=args.ndf, ema_decay=args.ema_decay, checkpoint_every_steps=args.checkpoint_every,
        max_steps=args.max_steps, init_weights=args.init_weights, norm=args.norm,
    )


class _Bar:
    """A tqdm bar on stderr: steps done, the last losses, the rate and the time left."""

    def __init__(self) -> None:
        self.bar = None

    def progress(self, step: int, total: int) -> None:
        from tqdm import tqdm

        if self.bar is None:  # started at the first step run (resumed runs start late)
            self.bar = tqdm(total=total, initial=step - 1, desc="train", unit="step",
                            file=sys.stderr, mininterval=0.5, dynamic_ncols=True)
        self.bar.update(step - self.bar.n)

    def losses(self, _step: int, losses: dict[str, float]) -> None:
        if self.bar is not None:
            g = losses["g_gan"] + losses["g_feat"] + losses["g_vgg"] + losses["g_l1"]
            self.bar.set_postfix_str(f"G {g:.3g} (L1 {losses['g_l1']:.3g}) "
                                     f"D {losses['d_real'] + losses['d_fake']:.3g}", refresh=False)

    def write(self, msg: str) -> None:
        if self.bar is not None:
            self.bar.write(msg, file=sys.stderr)
        else:
            print(msg, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run(args: argparse.Namespace) -> int:
    from ..errors import CancelledError, InputError
    from .train import train

    if args.threads is not None and args.threads < 1:
        raise InputError(f"--threads must be ≥ 1, got {args.threads}")
    config = None if args.resume else _config(args)
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    stop = {"now": False}
    bar = _Bar()

    def request_stop(signum: int, _frame: object) -> None:
        if stop["now"] and signum == signal.SIGINT:
            raise KeyboardInterrupt  # second Ctrl-C: stop now
        stop["now"] = True
        bar.write(f"{signal.Signals(signum).name}: saving a checkpoint after this step "
                  f"(Ctrl-C again to stop at once)")

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    resumed = {"epochs": args.epochs, "lr": args.lr, "l1_weight": args.l1_weight,
               "grad_weight": args.grad_weight, "max_steps": args.max_steps} if args.resume else {}
    try:
        summary = train(args.pairs, args.out, config, resume=args.resume,
                        overwrite=args.overwrite, progress=bar.progress, on_step=bar.losses,
                        cancel=lambda: stop["now"], log=bar.write, **resumed)
    except KeyboardInterrupt:
        bar.write("interrupted: the last checkpoint is kept; continue with --resume")
        return 130
    except CancelledError as exc:
        bar.write(str(exc))
        return 130
    finally:
        bar.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(f"trained {summary['steps']} steps in {summary['seconds']:.0f} s; "
          f"generator: {summary['generator']}")
    return 0
