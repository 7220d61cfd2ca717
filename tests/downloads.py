"""What a page's download buttons would serve, read in AppTest (shared by the no-leaks crawl and the
readable-exports test): Streamlit registers each file with its media file manager, as bytes or as a
deferred callable; this captures both."""
from __future__ import annotations

from typing import Any, Callable

import pytest


class Downloads:
    """The data behind every download button, captured as Streamlit registers it (a deferred
    callable, or bytes), so a test can read the file a click would serve."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from streamlit.runtime.media_file_manager import MediaFileManager

        self.deferred: dict[str, Callable[[], Any]] = {}
        self.static: dict[str, bytes] = {}
        add_deferred, add = MediaFileManager.add_deferred, MediaFileManager.add

        def capture_deferred(mgr: Any, data: Any, *args: Any, **kwargs: Any) -> str:
            file_id = add_deferred(mgr, data, *args, **kwargs)
            self.deferred[file_id] = data
            return file_id

        def capture(mgr: Any, data: Any, *args: Any, **kwargs: Any) -> str:
            url = add(mgr, data, *args, **kwargs)
            if isinstance(data, bytes):
                self.static[url] = data
            return url

        monkeypatch.setattr(MediaFileManager, "add_deferred", capture_deferred)
        monkeypatch.setattr(MediaFileManager, "add", capture)

    def files(self, at: Any) -> list[tuple[str, bytes]]:
        """(label, bytes) of each enabled download button of the last run."""
        out = []
        for button in at.get("download_button"):
            proto = button.proto
            if proto.disabled:
                continue
            if proto.deferred_file_id:
                data = self.deferred[proto.deferred_file_id]()
                out.append((proto.label, data if isinstance(data, bytes) else data.encode()))
            elif proto.url in self.static:
                out.append((proto.label, self.static[proto.url]))
        return out
