"""Train the pix2pixHD generator on a pair folder (see learn/train.py for the run folder).

Checkpoints every --checkpoint-every steps, at each epoch end and on Ctrl-C or SIGTERM (the
current step finishes, the state is saved, the command exits with status 130; a second Ctrl-C
stops at once, keeping the last checkpoint); --resume continues a killed run from its last
checkpoint at the exact step. Losses go to RUN/losses.csv and the
generator to RUN/generator.safetensors (usable as --generator in `specktrack retrieve`).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pairs", type=Path, required=True,
                        help="pair folder (inputs/, targets/, pairs.json)")
    parser.add_argument("--out", type=Path, required=True, help="run folder")
    parser.add_argument("--resume", action="store_true", help="continue from RUN/checkpoint.pt")
    parser.add_argument("--epochs", type=int,
                        help="passes over the pairs (default 10); with --resume, a new larger total")
    parser.add_argument("--preset", choices=("lite", "paper"), default="lite")
    parser.add_argument("--crop", type=int, nargs=2, default=(1024, 512), metavar=("H", "W"),
                        help="crop size in pixels (default 1024 512, as the paper)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float,
                        help="Adam learning rate per step (default 2e-4, the paper's); with --resume, "
                             "a new rate for the remaining steps")
    parser.add_argument("--l1-weight", type=float,
                        help="weight of the L1 term (default 10; 0 for the paper's losses only); with "
                             "--resume, a new weight for the remaining steps")
    parser.add_argument("--vgg-weights", type=Path, help="torchvision vgg19 state dict for the VGG loss")
    parser.add_argument("--lsgan", action="store_true",
                        help="least-squares GAN loss (pix2pixHD's default) instead of sigmoid + BCE")
    parser.add_argument("--ema-decay", type=float, default=0.999,
                        help="export a moving average of the generator weights with this decay per "
                             "step (0: the raw weights)")
    parser.add_argument("--ndf", type=int, default=64, help="discriminator width")
    parser.add_argument("--checkpoint-every", type=int, default=200, help="steps between checkpoints")
    parser.add_argument("--max-steps", type=int,
                        help="stop after this many steps in total (with --resume: the run's new limit)")
    parser.add_argument("--threads", type=int,
                        help="CPU threads for torch (default: torch's choice; 1 leaves the other "
                             "cores free for a long background run)")


def run(args: argparse.Namespace) -> int:
    from ..errors import CancelledError, InputError
    from .train import TrainConfig, train

    config = TrainConfig(
        preset=args.preset, epochs=args.epochs or 10, crop_yx_px=tuple(args.crop),
        lr=2e-4 if args.lr is None else args.lr, seed=args.seed, device=args.device, lsgan=args.lsgan,
        vgg_weights=str(args.vgg_weights) if args.vgg_weights else None,
        l1_weight=10.0 if args.l1_weight is None else args.l1_weight,
        ndf=args.ndf, ema_decay=args.ema_decay, checkpoint_every_steps=args.checkpoint_every,
        max_steps=args.max_steps,
    )
    if args.threads is not None:
        if args.threads < 1:
            raise InputError(f"--threads must be ≥ 1, got {args.threads}")
        import torch

        torch.set_num_threads(args.threads)
    stop = {"now": False}

    def request_stop(signum: int, _frame: object) -> None:
        if stop["now"] and signum == signal.SIGINT:
            raise KeyboardInterrupt  # second Ctrl-C: stop now
        stop["now"] = True
        print(f"\n{signal.Signals(signum).name}: saving a checkpoint after this step "
              f"(Ctrl-C again to stop at once)", file=sys.stderr, flush=True)

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}

    def progress(step: int, total: int) -> None:
        width = 30
        k = int(width * step / max(total, 1))
        print(f"\rtrain [{'#' * k}{'.' * (width - k)}] step {step}/{total}", end="", file=sys.stderr,
              flush=True)

    try:
        summary = train(args.pairs, args.out, None if args.resume else config, resume=args.resume,
                        epochs=args.epochs if args.resume else None,
                        lr=args.lr if args.resume else None,
                        l1_weight=args.l1_weight if args.resume else None,
                        max_steps=args.max_steps if args.resume else None,
                        progress=progress, cancel=lambda: stop["now"],
                        log=lambda m: print(f"\n{m}", file=sys.stderr))
    except KeyboardInterrupt:
        print("\ninterrupted: the last checkpoint is kept; continue with --resume", file=sys.stderr)
        return 130
    except CancelledError as exc:
        print(f"\n{exc}", file=sys.stderr)
        return 130
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(f"\ntrained {summary['steps']} steps in {summary['seconds']:.0f} s; "
          f"generator: {summary['generator']}")
    return 0
