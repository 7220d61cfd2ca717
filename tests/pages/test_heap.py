"""ui.heap: the dashboard's long-lived objects are set aside from Streamlit's collection after every run."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ui import heap

ROOT = Path(__file__).resolve().parents[2]


def test_the_pages_modules_are_read_from_the_page_files() -> None:
    names = heap.page_modules(ROOT / "pages")
    for module in ("pandas", "streamlit", "crm.customers.search", "crm.followups.queue", "ui.common",
                   "ui.segment_charts", "crm.complaints.analysis"):
        assert module in names, module
    assert "__future__" not in names and len(names) == len(set(names))


def test_after_settling_a_full_collection_walks_only_new_objects(tmp_path: Path) -> None:
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "one.py").write_text("import json\nfrom crm.customers.edits import add_interaction\n"
                                  "from no_such_module import thing\n", encoding="utf-8")
    probe = (
        "import gc, sys; from pathlib import Path; sys.path.insert(0, sys.argv[2]); from ui import heap\n"
        "frozen = heap.settle(Path(sys.argv[1]))\n"
        "print(frozen, len(gc.get_objects()), 'crm.customers.edits' in sys.modules, 'pypinyin' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", probe, str(pages), str(ROOT)], capture_output=True, text=True,
                         timeout=120, check=True).stdout.split()
    frozen, walked, searched, pinyin = int(out[0]), int(out[1]), out[2], out[3]
    assert searched == "True" and pinyin == "True"  # the page's module and what it needs were imported
    assert frozen > 50_000 and walked < frozen / 10  # the collector now walks a small rest


def test_the_allocators_arenas_are_capped_on_glibc() -> None:
    import platform

    assert heap.cap_malloc_arenas(0) is False  # 0: left as glibc has it
    if platform.libc_ver()[0] == "glibc":
        assert heap.cap_malloc_arenas(8) is True  # (the default of a 1-core machine: harmless in a test)
