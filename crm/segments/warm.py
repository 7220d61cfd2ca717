"""Computing the 客户分类 page's runs ahead of the page, in a background thread, after the archive
opens and after every write (crm.db's after-commit events)."""
from __future__ import annotations

import datetime as dt
import threading
import time
from typing import TYPE_CHECKING

from crm import clock, config, db
from crm.segments.dates import quarter_end_before
from crm.segments.model import SegmentRun
from crm.segments.runs import _locks_guard, data_version, segment_run
from crm.settings import segment_settings

if TYPE_CHECKING:

    from crm.db import Archive

# ------------------------------------------------------------------ computing ahead of the page
WARM_SWITCH = "CRM_WARM_SEGMENTS"  # "0" turns background warming off (the test suite does, to stay deterministic)
_warmers: dict[str, threading.Thread] = {}
_warm_again: dict[str, bool] = {}  # archive → go round again (True: today only)
_last_edit_warm: dict[str, float] = {}  # archive → when its last today-only round began (monotonic)


def page_dates(today: dt.date) -> list[dt.date]:
    """The runs the 客户分类 page opens with: today (every chart and both classic tables) and the
    end of last quarter (客户迁移's default start)."""
    return list(dict.fromkeys([today, quarter_end_before(today)]))


def warm(archive: "Archive", today: dt.date | None = None, *, today_only: bool = False) -> list[SegmentRun]:
    """Compute (or find cached) the runs of page_dates — or only today's — so that a manager's
    first visit after an import, an edit or a restart reads them instead of waiting for them."""
    settings = segment_settings(archive)
    version = data_version(archive)
    dates = page_dates(today or clock.today())
    return [segment_run(archive, d, version=version, settings=settings) for d in dates[:1 if today_only else None]]


def wait_for_warmer(archive: "Archive", timeout: float = 60) -> bool:
    """Wait until the archive's background warmer (if any) is done; True when none is left running."""
    with _locks_guard:
        running = _warmers.get(str(archive.path))
    if running is not None:
        running.join(timeout)
        return not running.is_alive()
    return True


_following: set[str] = set()  # archives whose writes are followed by a warm-up


def _after_commit(archive: "Archive", changes: frozenset[str]) -> None:
    """After an import or undo, the page's runs; after a person's edit, today's (see warm_in_background)."""
    if str(archive.path) in _following:
        warm_in_background(archive, today_only=db.RECORDS not in changes)


def follow_writes(archive: "Archive") -> None:
    """Warm the archive's runs after every committed write to it (the dashboard calls it when it
    opens an archive; a command-line process, which exits at once, does not)."""
    _following.add(str(archive.path))
    db.on_commit(_after_commit)


def warm_in_background(archive: "Archive", today: dt.date | None = None, *,
                       today_only: bool = False) -> threading.Thread | None:
    """Run `warm` in a daemon thread (unless WARM_SWITCH is "0"); returns the thread, None when off.

    `today_only` after a single edit: it changes every run, but only today's is worth computing
    at once (a million-customer archive spends a couple of seconds on each run), and no sooner than
    CRM_WARM_EDIT_GAP_S after the last such round (_after_edit_gap). One warmer per
    archive: asked again while it works (another import meanwhile), it goes round once more when
    done, so the runs of the newest data are the ones left computed. A run being computed holds
    the archive's run lock and a page asking for another date waits for it; the dates come in
    page order (today first) to make that wait rare. A failure only means the page computes the
    run itself later, so it is not raised.
    """
    if not config.warm_segments():
        return None
    key = str(archive.path)
    with _locks_guard:
        running = _warmers.get(key)
        if running is not None:
            _warm_again[key] = _warm_again.get(key, True) and today_only
            return running

        def work() -> None:
            only_today = today_only
            while True:
                if only_today:
                    only_today = _after_edit_gap(key)
                try:
                    warm(archive, today, today_only=only_today)
                except Exception:  # noqa: BLE001 - see the docstring
                    pass
                with _locks_guard:
                    if key not in _warm_again:
                        del _warmers[key]
                        return
                    only_today = _warm_again.pop(key)

        thread = threading.Thread(target=work, name=f"segments-warm:{key}", daemon=True)
        _warmers[key] = thread
        thread.start()
    return thread




def _after_edit_gap(key: str) -> bool:
    """Before a today-only round (after a person's edit): wait until CRM_WARM_EDIT_GAP_S have
    passed since the last one began; returns whether the round is still today-only.

    A team logging contacts all day changes the data every few seconds, and each round costs a
    core a couple of seconds at a million customers: back to back they would take a core for
    ever and slow every page. With the gap the runs stay at most a gap behind the last edit (a
    manager opening the page in between computes today's run, as without warming). An import or
    undo asked for meanwhile ends the wait: its round (every page date) starts at once.
    """
    gap = config.warm_edit_gap_seconds()
    while True:
        with _locks_guard:
            if _warm_again.get(key) is False:  # an import meanwhile: the full round, now
                _warm_again.pop(key)
                return False
            left = _last_edit_warm.get(key, -gap) + gap - time.monotonic()
            if left <= 0:
                _last_edit_warm[key] = time.monotonic()
                return True
        time.sleep(min(left, 0.5))  # a pace, not a wait for a result (a timed Condition wait never ends under faketime)
