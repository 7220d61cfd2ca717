"""The dashboard process's long-lived objects, set aside from the garbage collector.

A full collection (`gc.collect(2)`) walks every object the process holds: the modules the pages
use (pandas, plotly's figure classes, the pinyin dictionary) are about 300,000 of them and cost
75–100 ms on this machine, with the GIL held, so twenty sessions wait for each other's
collections. Streamlit ran one after every script run (about half of a simple page's run; its
option `runner.postScriptGC` is now off in .streamlit/config.toml) and Python's own collector runs
one whenever enough objects have survived. Those objects live as long as the process:
`settle` imports what the pages import and moves everything alive then into the collector's
permanent generation (`gc.freeze`), so the collection after a run walks only what the run made.
Objects frozen are still freed by reference counting; a cycle among them would stay (none of
the module-level data forms garbage cycles).
"""
from __future__ import annotations

import ast
import ctypes
import ctypes.util
import gc
import importlib
from pathlib import Path

M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)


def page_modules(pages_dir: Path) -> list[str]:
    """Every module the page files import (read from their source, so the list never goes stale):
    `import a.b` gives a.b, `from a import b` gives a and, if it is one, the submodule a.b."""
    names: list[str] = []
    for path in sorted(pages_dir.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level and node.module != "__future__":
                names.append(node.module)
                names += [f"{node.module}.{alias.name}" for alias in node.names]
    return list(dict.fromkeys(names))


def settle(pages_dir: Path) -> int:
    """Import the pages' modules, collect once, freeze what is left; returns how many objects
    the collector now leaves alone. A name that is not a module (a function imported by name) is
    skipped; a module that fails to import is the page's own error to show, not this one's."""
    for name in page_modules(pages_dir):
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - see the docstring
            continue
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def cap_malloc_arenas(n: int) -> bool:
    """Let glibc's allocator use at most `n` arenas from now on; True when it took the setting.

    glibc gives threads their own arenas (up to 8 per core) as they contend, and each keeps the
    memory it once held: the dashboard runs every session's script in its own thread, and with 20
    sessions at work the process held 1,070 MB where MALLOC_ARENA_MAX=2 at start held 874 MB
    (bench/bench_load.py, same speed). Called from inside the app it only limits the arenas made
    after it (measured 1,045 MB): a fallback for a server started without that variable — `make run`
    and the README's systemd unit set it. Not glibc (musl, macOS) or n = 0: nothing is changed."""
    if n <= 0:
        return False
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.mallopt(M_ARENA_MAX, n))
    except (OSError, AttributeError):
        return False
