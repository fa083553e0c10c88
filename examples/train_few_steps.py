"""Make a few simulated training pairs, train the lite generator a few steps, and use it.

A real run trains for hours (see learn/pretrained/MODEL_CARD.md); this shows the moving parts.

    python examples/train_few_steps.py --out RUN [--pairs 4] [--steps 3]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from napari_specktrack.learn.train import TrainConfig, train
from napari_specktrack.pipeline import Frames, GeneratorSpec, generate
from napari_specktrack.simulate import simulate
from napari_specktrack.simulate.pairs import write_simulated_pairs


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="a new folder for pairs and run")
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--size", type=int, default=64, help="pair image side, pixels")
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args(argv)

    pairs = write_simulated_pairs(args.out / "pairs", args.pairs, args.size, phantoms=["spheres"])
    config = TrainConfig(preset="lite", epochs=1, crop_yx_px=(args.size // 2, args.size // 2),
                         max_steps=args.steps, checkpoint_every_steps=args.steps)
    summary = train(pairs, args.out / "run", config, register=False)  # not in the model list
    weights = summary["generator"]
    acq = simulate("spheres", args.size, seed=99)
    inline = generate(Frames(acq.sample, acq.reference), GeneratorSpec(str(weights), device="cpu")).inline
    print(f"trained {summary['steps']} steps → {weights}; generated an in-line image {inline.shape}")
    return Path(weights)


if __name__ == "__main__":
    main()
