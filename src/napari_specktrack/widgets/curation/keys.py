"""Keyboard review: the :data:`~napari_specktrack.learn.review.SHORTCUTS` as napari key bindings.

:class:`ReviewKeys` binds every shortcut on the viewer (``viewer.bind_key(...,
overwrite=True)``) and on the dock's own layers — a layer's keymap comes before the viewer's
in napari's chain, and the Shapes layer's class keys (R: rectangle mode, A: select all, P:
polygon) would otherwise take a, r and p while the crop box is selected. Bindings hold only
while the dock is active: from :meth:`ReviewKeys.enable` (the dock has sources) while its
widget is shown; hiding it (another tab raised, the dock closed) or destroying it unbinds
them and restores whatever each keymap held before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from qtpy.QtCore import QEvent, QObject

from ...learn.review import SHORTCUTS


def shortcut_text() -> str:
    """One line per action: its keys (for the dock's label)."""
    by_action: dict[str, list[str]] = {}
    for key, action in SHORTCUTS.items():
        by_action.setdefault(action, []).append(key.replace("Control", "Ctrl"))
    return " · ".join(f"{action} {'/'.join(keys)}" for action, keys in by_action.items())


class ReviewKeys(QObject):
    """Binds ``act(action)`` to each shortcut while the dock is active (module docstring).

    ``providers`` gives the objects to bind on (the viewer first, then the dock's layers);
    it is called at each binding, so new layers are included.
    """

    def __init__(self, native: Any, act: Callable[[str], Any],
                 providers: Callable[[], Iterable[Any]]) -> None:
        super().__init__(native)
        self._act = act
        self._providers = providers
        self._wanted = False
        self._saved: list[tuple[Any, str, Any]] = []  # (provider, key, what it held)
        self._native = native
        native.installEventFilter(self)
        native.destroyed.connect(self._forget)

    @property
    def bound(self) -> bool:
        return bool(self._saved)

    def enable(self) -> None:
        """Bind now and whenever the dock is shown again."""
        self._wanted = True
        self.rebind()

    def rebind(self) -> None:
        """Bind on the current providers (after layers were added)."""
        self.unbind()
        if self._wanted:
            self._bind()

    def _bind(self) -> None:
        for provider in self._providers():
            for key, action in SHORTCUTS.items():
                def press(_owner: Any, _action: str = action) -> None:
                    self._act(_action)

                old = provider.bind_key(key, press, overwrite=True)
                self._saved.append((provider, key, old))

    def unbind(self) -> None:
        """Remove the bindings, restoring what each keymap held."""
        saved, self._saved = self._saved, []
        for provider, key, old in reversed(saved):
            try:
                provider.bind_key(key, old, overwrite=True)  # None unbinds
            except (RuntimeError, ValueError, TypeError):  # a layer already gone
                pass

    def _forget(self, *_: Any) -> None:
        self._wanted = False
        self.unbind()

    def eventFilter(self, obj: Any, event: Any) -> bool:
        kind = event.type()
        if kind == QEvent.Type.Show and self._wanted and not self._saved:
            self._bind()
        elif kind == QEvent.Type.Hide:
            self.unbind()
        return False
