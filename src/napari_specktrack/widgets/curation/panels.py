"""The curation dock's rows (magicgui), built on the dock's ``add_param`` (persisted).

:func:`build_rows` makes every row and returns them as a :class:`Rows` namespace; the dock
connects them (:mod:`.dock`). Rows, top to bottom: crop size and sources; frame and scope;
proposing crops; the counter, the current crop and its flags, the shortcuts; the review and
edit buttons; registration; the pair folder, split and export / reopen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from magicgui.widgets import ComboBox, FileEdit, FloatSpinBox, PushButton, SpinBox

from ...learn.curation import DEFAULT_CROP_YX_PX, FLAG_RULES, NETWORK_MULTIPLE
from .._base import status_label
from ..profile.panels import narrow, row
from .keys import shortcut_text

FRAME_SCOPES = ("this frame", "all frames")
PLACEMENTS = ("random", "grid")
MULTIPLES = [("×16", 16), ("×8", 8)]


@dataclass
class Rows:
    crop_h: Any
    crop_w: Any
    multiple: Any
    use_sources: Any
    sources: Any
    frame: Any
    frames: Any
    placement: Any
    n_random: Any
    seed: Any
    propose: Any
    counter: Any
    current: Any
    shortcuts: Any
    buttons: dict[str, Any]
    registration: Any
    folder: Any
    validation: Any


def _buttons(names: dict[str, str]) -> dict[str, PushButton]:
    return {key: PushButton(text=text) for key, text in names.items()}


def build_rows(dock: Any) -> Rows:
    """Append the dock's rows (see the module docstring)."""
    p = dock.add_param
    h, w = DEFAULT_CROP_YX_PX
    crop = row("crop h, w (px)")
    crop_h = p("crop_h", narrow(SpinBox(value=h, min=8, max=16384, step=16,
                                        tooltip="crop height, pixels (the network's input)")), into=crop)
    crop_w = p("crop_w", narrow(SpinBox(value=w, min=8, max=16384, step=16,
                                        tooltip="crop width, pixels")), into=crop)
    multiple = p("multiple", narrow(ComboBox(
        choices=MULTIPLES, value=NETWORK_MULTIPLE,
        tooltip="crop sides are multiples of 2^down-samplings of the generator: 16 for the "
                "paper preset, 8 for lite")), into=crop)
    multiple.native.setMinimumWidth(72)
    dock.append(crop)
    use_sources = PushButton(text="Use the Acquisition roles",
                             tooltip="reference, sample stack, in-line stack (frame i ↔ frame i), "
                                     "dark and flat, as assigned in the Acquisition dock")
    dock.append(use_sources)
    sources = status_label(2)
    dock.append(sources)
    where = row("frame")
    frame = narrow(SpinBox(value=0, min=0, max=0, tooltip="the frame shown (input and target)"))
    where.append(frame)
    frames = p("frames", narrow(ComboBox(choices=list(FRAME_SCOPES), value=FRAME_SCOPES[0],
                                         tooltip="what proposing, auto review and registration "
                                                 "work on")), into=where)
    dock.append(where)
    place = row("propose")
    placement = p("placement", narrow(ComboBox(choices=list(PLACEMENTS), value=PLACEMENTS[0],
                                               tooltip="N random boxes per frame, or a grid")),
                  into=place)
    n_random = p("n_random", narrow(SpinBox(value=8, min=1, max=10000,
                                            tooltip="random boxes per frame")), into=place)
    propose = PushButton(text="Propose")
    place.append(propose)
    dock.append(place)
    counter, current, shortcuts = status_label(1), status_label(3), status_label(2)
    current.tooltip = "\n".join(f"{k}: {v}" for k, v in FLAG_RULES.items())
    shortcuts.value = "keys (canvas): " + shortcut_text()
    buttons = _buttons({"previous": "◀", "accept": "accept", "reject": "reject", "next": "▶",
                        "undo": "undo", "add": "add", "recrop": "re-crop", "remove": "remove",
                        "measure": "Measure shifts", "correct": "Correct", "clear": "Clear",
                        "export": "Export…", "reopen": "Reopen"})
    buttons["add"].tooltip = "add the box as a pending crop"
    buttons["recrop"].tooltip = "move the current crop to the box"
    buttons["measure"].tooltip = ("measure the target's shift from the input (cross-correlation "
                                  "with the low-passed input), per frame")
    buttons["correct"].tooltip = "shift the targets by the measured shifts (recorded)"
    buttons["clear"].tooltip = "remove the shift corrections"
    buttons["export"].tooltip = ("write the accepted crops to the pair folder (asks before "
                                 "replacing a set)")
    buttons["reopen"].tooltip = "read the pair folder's set to keep editing it"
    dock.extend([counter, current, shortcuts,
                 row("review", *(buttons[k] for k in ("previous", "accept", "reject", "next",
                                                       "undo"))),
                 row("edit", *(buttons[k] for k in ("add", "recrop", "remove")))])
    dock.append(row("registration", *(buttons[k] for k in ("measure", "correct", "clear"))))
    registration = status_label(2)
    dock.append(registration)
    folder = p("folder", FileEdit(label="pair folder", mode="d",
                                  tooltip="the pair set to export to or reopen"))
    split = row("validation, seed")
    validation = p("validation_fraction", narrow(FloatSpinBox(
        value=0.1, min=0.0, max=0.9, step=0.05,
        tooltip="fraction of the new pairs held out for validation (seeded)")), into=split)
    seed = p("seed", narrow(SpinBox(value=0, min=0, max=2**31 - 1,
                                    tooltip="seed of the random boxes and of the split")), into=split)
    dock.extend([split, row("pair set", buttons["export"], buttons["reopen"])])
    return Rows(crop_h, crop_w, multiple, use_sources, sources, frame, frames, placement,
                n_random, seed, propose, counter, current, shortcuts, buttons, registration,
                folder, validation)
