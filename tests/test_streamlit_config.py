"""The served app's Streamlit configuration (.streamlit/config.toml)."""
from __future__ import annotations

import tomllib
from pathlib import Path

CONFIG = Path(__file__).resolve().parent.parent / ".streamlit" / "config.toml"


def test_tables_cannot_be_downloaded_around_the_audited_exports() -> None:
    config = tomllib.loads(CONFIG.read_text(encoding="utf-8"))
    assert config["client"]["disableDataExport"] is True
    assert config["client"]["toolbarMode"] == "minimal" and config["browser"]["gatherUsageStats"] is False


def test_no_full_collection_after_every_script_run() -> None:
    """gc.collect(2) after each run held the GIL for a sixth of the server's time with 20 sessions
    (BENCHMARKS.md, issue 12); the long-lived objects are frozen instead (ui/heap.py)."""
    config = tomllib.loads(CONFIG.read_text(encoding="utf-8"))
    assert config["runner"]["postScriptGC"] is False
