"""The model card of a trained run: ``RUN/model_card.json`` and ``RUN/MODEL_CARD.md``.

Written by the training loop at every export (epoch ends, stop, cancel), so the card always
describes the ``generator.safetensors`` beside it:

- **data** — the pair folder (path), pair counts (training / validation), the crop, the pair
  sizes, the sources summarised from pairs.json (simulated phantoms, or measured files), the
  kinds of target, the geometry;
- **recipe** — the full :class:`~napari_specktrack.learn.train.TrainConfig`, the initial
  weights (file, SHA-256) when fine-tuned, the normalisation;
- **training** — steps, epochs done, seconds, the last step's losses and their mean over the
  last steps;
- **validation** — the latest figures and their history per epoch (SSIM, phase error ratio);
- **known limits** — what the data does not cover, stated from the data itself.

:func:`build_card` makes the JSON-ready dict, :func:`render_markdown` the text,
:func:`write_card` both files (atomically).
"""

from __future__ import annotations

import datetime as _dt
from collections import Counter
from pathlib import Path
from typing import Any

from .. import __version__

SCHEMA = "napari-specktrack/model-card/1"
JSON_NAME = "model_card.json"
MD_NAME = "MODEL_CARD.md"


def summarise_sources(records: list[dict]) -> dict[str, int]:
    """Count the pairs by where they came from: ``simulated <phantom>`` or the source files."""
    kinds: Counter[str] = Counter()
    for rec in records:
        src = rec.get("source") if isinstance(rec.get("source"), dict) else {}
        if src.get("simulated"):
            kinds[f"simulated {src.get('phantom', 'phantom')}"] += 1
            continue
        files = sorted({Path(str(v)).name for k, v in src.items()
                        if isinstance(v, str) and k not in ("kind", "note")})
        kinds[", ".join(files) if files else "unknown source"] += 1
    return dict(kinds.most_common())


def _shapes(shapes: list[tuple[int, int]]) -> dict[str, int]:
    return dict(Counter(f"{h}×{w}" for h, w in shapes).most_common())


def known_limits(card: dict[str, Any]) -> list[str]:
    """Plain statements of what the run's data and recipe do not cover."""
    data, recipe = card["data"], card["recipe"]
    geo = data.get("geometry") or {}
    limits = [f"trained on {data['n_training']} pair(s) of one set-up "
              f"({geo.get('energy_keV', '?')} keV, {1e6 * geo.get('pixel_size_m', 0):.3g} µm "
              f"pixels, {geo.get('distance_m', '?')} m sample–detector): check it against a "
              f"measured in-line image before using it on another set-up or sample class"]
    if all(k.startswith("simulated") for k in data["sources"]):
        limits.append("simulation only: measured data may differ in noise, blur and artefacts")
    if not data["n_validation"]:
        limits.append("no validation pairs were held out: the validation figures are measured "
                      "on a training pair and overstate the quality")
    latest = (card.get("validation") or {}).get("latest") or {}
    if latest and latest.get("phase_error_ratio") is None:
        limits.append("the double-exposure phase was not validated (" +
                      str(latest.get("phase_note") or "no reference crop") + ")")
    if recipe["train_config"].get("vgg_weights") is None:
        limits.append("no VGG19 perceptual loss (no weights file given): GAN + feature "
                      "matching + L1 only")
    return limits


def build_card(*, name: str, data: dict[str, Any], recipe: dict[str, Any],
               training: dict[str, Any], validation: dict[str, Any]) -> dict[str, Any]:
    """The card (JSON-ready); ``data['records']`` and ``data['shapes']`` are summarised."""
    records, shapes = data.pop("records"), data.pop("shapes")
    data = {**data, "sources": summarise_sources(records),
            "targets": dict(Counter(str(r.get("target", "in-line image")) for r in records)),
            "pair_sizes_px": _shapes(shapes)}
    card = {"schema": SCHEMA, "name": name, "weights": "generator.safetensors",
            "updated": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "version": __version__, "data": data, "recipe": recipe, "training": training,
            "validation": validation}
    card["limits"] = known_limits(card)
    return card


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def render_markdown(card: dict[str, Any]) -> str:
    """The card as Markdown (MODEL_CARD.md)."""
    d, r, t, v = card["data"], card["recipe"], card["training"], card["validation"]
    init = r.get("init_weights")
    lines = [f"# Model card: `{card['name']}`", "",
             f"Generator `{card['weights']}` at step {t['step']}, written {card['updated']} by "
             f"napari-specktrack {card['version']}.", "", "## Data", "",
             f"- pair folder: `{d['pairs']}`",
             f"- pairs: {d['n_training']} training, {d['n_validation']} validation",
             f"- pair sizes (px): {', '.join(f'{k} ({n})' for k, n in d['pair_sizes_px'].items())}",
             f"- training crop (px): {d['crop_yx_px'][0]} × {d['crop_yx_px'][1]}",
             "- sources: " + "; ".join(f"{k} ({n})" for k, n in d["sources"].items()),
             "- targets: " + "; ".join(f"{k} ({n})" for k, n in d["targets"].items()),
             "- geometry: " + ", ".join(f"{k} {_fmt(x)}" for k, x in (d["geometry"] or {}).items()),
             "", "## Recipe", "",
             "- initial weights: " + (f"`{init['path']}` (sha256 {init['sha256'][:12]}…, "
                                      f"fine-tuned)" if init else "random (trained from scratch)"),
             "- settings: " + ", ".join(f"{k} {_fmt(x)}" for k, x in r["train_config"].items()),
             "", "## Training", "",
             f"- steps: {t['step']} ({t['epochs_done']:.3g} epochs), {t['seconds']:.0f} s in this "
             f"session",
             "- last step's losses: " + ", ".join(f"{k} {_fmt(x)}" for k, x in t["last_losses"].items()),
             f"- mean losses over the last {t['mean_over_steps']} steps: " +
             ", ".join(f"{k} {_fmt(x)}" for k, x in t["mean_losses"].items()),
             "", "## Validation", ""]
    latest = v.get("latest")
    if latest:
        where = "held-out" if latest["held_out"] else "training (none held out)"
        lines.append(f"On {where} pair `{latest['pair']}` at step {latest['step']}: SSIM "
                     f"{latest['ssim']:.4f}; double-exposure phase error ratio "
                     f"{_fmt(latest['phase_error_ratio'])} (generated vs true in-line image, "
                     f"over the conventional method; 0 is best, 1 no gain).")
        lines += ["", "| step | epoch | SSIM | phase error ratio |", "|---|---|---|---|"]
        lines += [f"| {h['step']} | {h['epoch']} | {h['ssim']:.4f} | {_fmt(h['phase_error_ratio'])} |"
                  for h in v.get("history", [])[-20:]]
    else:
        lines.append("Not validated yet (figures come at each epoch end).")
    lines += ["", "## Known limits", "", *(f"- {x}" for x in card["limits"]), "",
              "## Use", "", f"`specktrack retrieve --generator {card['weights']} …` from this "
              f"folder, or choose `{card['name']}` in the Generator dock.", ""]
    return "\n".join(lines)


def write_card(card: dict[str, Any], path_of) -> tuple[Path, Path]:
    """Write model_card.json and MODEL_CARD.md; ``path_of(name)`` gives each file's path."""
    from ..io import write_json
    from ..safety import write_text_atomic

    return (write_json(path_of(JSON_NAME), card),
            write_text_atomic(path_of(MD_NAME), render_markdown(card)))
