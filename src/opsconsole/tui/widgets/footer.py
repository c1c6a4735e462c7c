"""The footer every screen shows: its keys, and the palette's only where there is room
for it (at 80 columns it would push the screen's own keys off; `?` lists it instead)."""

from __future__ import annotations

from textual import events
from textual.widgets import Footer

ROOM_FOR_THE_PALETTE = 100


class KeysFooter(Footer):
    def on_resize(self, event: events.Resize) -> None:
        self.show_command_palette = event.size.width >= ROOM_FOR_THE_PALETTE
