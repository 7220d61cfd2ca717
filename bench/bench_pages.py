"""Pages as a user meets them (issue 12): one browser session against `streamlit run` on the 1 M archive.

    .venv/bin/python bench/bench_pages.py [ARCHIVE] [--repeat 5] [--user admin] [--workdir DIR]

ARCHIVE (default /tmp/b12/profile_1m.duckdb) is copied into --workdir and never changed. One
`streamlit run app.py` child (127.0.0.1, headless, CRM_INBOX_WATCH=0, CRM_CLUSTER=0) is warmed up
(log-in, every page once, a search, a profile) and waited for until its CPU is quiet; then, --repeat
times each, in headless Chromium:

- full load: the page's url opened in the tab (a new Streamlit session: the log-in form comes
  first, the token lives in the session's state) until the form has settled, then 登录 until the
  page has settled — reported as the two parts and their sum;
- in-app: the page's link in the sidebar clicked until the page has settled;
- search as typed: a term typed into 客户查询's box and Enter until the result count is shown.

"Settled" is bench_sessions' rule (Streamlit's script state, connection, no running indicator, no
skeleton or stale element, the page's heading there); no fixed sleeps. Prints one JSON object:
median / p90 / max per page and measure. Target (issue 12): full load < 1 s, search < 0.3 s.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_sessions import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    DEFAULT_ARCHIVE,
    INIT_JS,
    Session,
    Spec,
    log,
    pct,
    prepare_workload,
    start_server,
    wait_until_quiet,
)
from playwright.async_api import async_playwright, expect  # noqa: E402

# (url path, sidebar label, heading)
PAGES = [("home", "档案概况", "档案概况"), ("customers", "客户查询", "客户查询"), ("import", "数据导入", "数据导入"),
         ("follow-ups", "跟进队列", "跟进队列"), ("complaints", "投诉分析", "投诉分析"), ("segments", "客户分类", "客户分类"),
         ("admin", "系统管理", "系统管理")]


def summary(values: list[float]) -> dict[str, object]:
    return {"n": len(values), "median_ms": round(statistics.median(values) * 1000) if values else None,
            "p90_ms": round(pct(values, 0.9) * 1000) if values else None,
            "max_ms": round(max(values) * 1000) if values else None}


async def measure(url: str, user: str, work, repeat: int, timeout_ms: int) -> dict[str, object]:
    out: dict[str, dict[str, list[float]]] = {}

    def note(page_name: str, measure_name: str, seconds: float) -> None:
        out.setdefault(page_name, {}).setdefault(measure_name, []).append(seconds)

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN",
                                            timezone_id="Asia/Shanghai")
        await context.add_init_script(INIT_JS)
        context.set_default_timeout(timeout_ms)
        page = await context.new_page()
        s = Session(Spec(0, user, work.roles[user], False, False), url, work, "pages", timeout_ms, random.Random(7))
        profile_ids = [s.pick_customer() for _ in range(repeat + 1)]

        async def full_load(path: str, heading: str) -> tuple[float, float]:
            t0 = time.perf_counter()
            form = await s.open_with_log_in(page, "/" + path)
            await expect(page.locator("h1").first).to_contain_text(heading, timeout=timeout_ms)
            await s.idle(page)
            await s.problems(page)
            return form, time.perf_counter() - t0 - form

        async def in_app(label: str, heading: str) -> float:
            t0 = time.perf_counter()
            r0 = await s.runs(page)
            await page.get_by_test_id("stSidebarNav").get_by_role("link", name=label).click()
            await s.settle(page, r0)
            await expect(page.locator("h1").first).to_contain_text(heading, timeout=timeout_ms)
            await s.idle(page)
            await s.problems(page)
            return time.perf_counter() - t0

        # warm-up: every page once, a profile, a search (the server's caches, Chromium's code chunks)
        await full_load("customers", "客户查询")
        for _, label, heading in PAGES:
            await in_app(label, heading)
        await full_load(f"customers?id={profile_ids[-1]}", profile_ids[-1])
        await s.back(page)
        await s.search(page)
        def note_full(name: str, form: float, after: float) -> None:
            note(name, "full: link → log-in form", form)
            note(name, "full: 登录 → page", after)
            note(name, "full: total", form + after)

        for k in range(repeat):
            for path, _, heading in PAGES:
                note_full(path, *await full_load(path, heading))
            cid = profile_ids[k]
            note_full("profile deep link", *await full_load(f"customers?id={cid}", cid))
            await in_app("档案概况", "档案概况")
            for path, label, heading in PAGES[1:] + PAGES[:1]:  # from home through every page back to home
                note(path, "in-app: sidebar link → page", await in_app(label, heading))
            await in_app("客户查询", "客户查询")
            for _ in range(3):
                t0 = time.perf_counter()
                await s.search(page)
                note("customers", "search as typed (Enter → result count)", time.perf_counter() - t0)
        await browser.close()
    return {p: {m: summary(v) for m, v in ms.items()} for p, ms in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("archive", nargs="?", type=Path, default=DEFAULT_ARCHIVE)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--user", default="admin")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/bench-pages"))
    ap.add_argument("--action-timeout", type=int, default=60)
    ap.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--py-spy", type=Path, default=None, metavar="FILE",
                    help="diagnosis: sample the server with py-spy (if installed) into FILE (collapsed stacks)")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    copy = args.workdir / "pages_1m.duckdb"
    log(f"copying {args.archive} → {copy}")
    shutil.copy(args.archive, copy)
    work = prepare_workload(copy, "pages", args.workdir, 0, seed=3)
    extra_env = dict(item.split("=", 1) for item in args.server_env)
    server = start_server(copy, None, args.workdir, extra_env)
    try:
        log(f"server up; quiet after {wait_until_quiet(server.proc.pid)} s")
        spy = None
        if args.py_spy and shutil.which("py-spy", path=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]):
            spy = subprocess.Popen([shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy", "record",
                                    "-p", str(server.proc.pid), "-o", str(args.py_spy), "--format", "raw", "-r", "100",
                                    "--threads"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            figures = asyncio.run(measure(server.url, args.user, work, args.repeat, args.action_timeout * 1000))
        finally:
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(timeout=60)
    finally:
        server.stop()
    tracebacks = server.log.read_text(errors="replace").count("Traceback (most recent call last)")
    print(json.dumps({"date": dt.date.today().isoformat(), "command": " ".join([".venv/bin/python", *sys.argv]),
                      "machine": f"{platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}",
                      "load_avg": [round(x, 2) for x in os.getloadavg()], "user": args.user,
                      "server_tracebacks": tracebacks, "pages": figures}, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
