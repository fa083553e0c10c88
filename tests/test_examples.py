"""The examples in examples/ run (at a small size) and say something true."""

import runpy
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name, *args):
    module = runpy.run_path(str(EXAMPLES / name))
    return module["main"](list(args))


def test_simulate_retrieve_profile():
    rms = run_example("simulate_retrieve_profile.py", "--size", "128", "--seed", "1")
    assert rms["double-exposure"] < rms["conventional"]  # the paper's point, along one line


def test_generate_pretrained():
    assert run_example("generate_pretrained.py", "--size", "256") > 0.9  # held-out 0.986 (model card)


def test_train_few_steps(tmp_path):
    weights = run_example("train_few_steps.py", "--out", str(tmp_path / "ex"), "--pairs", "2",
                          "--size", "32", "--steps", "2")
    assert weights.is_file()


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.py")), ids=lambda p: p.name)
def test_every_example_has_a_docstring_and_main(path):
    text = path.read_text()
    assert text.startswith('"""') and "def main(" in text and "__main__" in text
    assert sys.version_info >= (3, 10)
