"""Many users at once (issue 12): N browser sessions working on the 1 M archive through `streamlit run`.

    .venv/bin/python bench/bench_sessions.py [ARCHIVE] [--sessions 20] [--seconds 120] [--port P]
                                             [--workdir DIR] [--mem-seconds 30] [--skip-memory]

ARCHIVE (default /tmp/b12/profile_1m.duckdb: 1,000,000 customers with the demo accounts) is never
changed: every phase works on a copy in --workdir. Three phases, each with its own
`streamlit run app.py` child (127.0.0.1, headless, CRM_INBOX_WATCH=0, CRM_CLUSTER=0), stopped in a
`finally`:

1. 10 k, 1 session: a 10,000-customer archive (`python -m crm seed --customers 10000`, made once in
   --workdir), one session for --mem-seconds: the baseline of the memory ratio;
2. 1 M, 1 session: the same on the copy of ARCHIVE;
3. 1 M, N sessions for --seconds: the load test.

In each phase the server is warmed up by one session (log in, search, a profile), then waited for
until its CPU is quiet (the 客户分类 runs it computes at start), then the sessions start (0.2 s apart)
in one Chromium (Playwright, async API; one context per session). Each session logs in with its demo
account (README 演示账号; admin, the six sales users, 孙丽, 周涛, 访客 in turn) and loops until the time is
up: a search typed into 客户查询's box; a profile opened by deep link (`/customers?id=C…` in the
same tab: a new Streamlit session, so the log-in form comes first — the token lives in the session
state only — and after log-in the profile); for every other session but the viewer's, a contact
logged on the profile (编辑 → 沟通内容 → 保存联系记录, on one of the user's own customers); back to the
search. Session 0 (admin) imports a small T2 sheet once on 数据导入 (upload, preview, 确认导入).

An action is timed from the click (or the navigation) until the page has settled: a script run has
started and finished since the action (`data-test-script-state` of `[data-testid="stApp"]`, counted
by a MutationObserver installed in every document), the app is connected, the status widget shows
no running indicator and no element is a skeleton or stale (tests/browser/helpers.py's rules), and
the content the action leads to is there. No fixed sleeps. Errors: any failed or timed-out action,
any `stException` element, any `Traceback` text, any st.error, a lost log-in; Tracebacks in the
server's log. After the server has stopped, the interactions rows the sessions wrote (tagged in
their text) are counted in the copy against the saves each session saw confirmed, and the audit
chain is verified (`python -m crm audit verify`).

The server's RSS (/proc/PID/status VmRSS) is sampled every second. Prints one JSON object: p50 /
p95 / max per action and overall, errors, lost writes, peak RSS per phase and the 1 M / 10 k ratio.
Targets (issue 12): no error, no lost write, p95 page time < 2 s with 20 sessions for two minutes;
RSS at 1 M ≤ 1.5 × RSS at 10 k, and < 1 GB with 20 sessions.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
import openpyxl  # noqa: E402
from playwright.async_api import Page, async_playwright, expect  # noqa: E402
from playwright.async_api import TimeoutError as PlaywrightTimeout  # noqa: E402

from crm.seed import DEMO_PASSWORDS  # noqa: E402
from tests.browser.helpers import (  # noqa: E402
    APP_CONNECTED,
    CHROMIUM,
    CHROMIUM_ARGS,
    EXCEPTION,
    LOADING,
    RUNNING_INDICATOR,
    StreamlitApp,
    start_streamlit,
)

DEFAULT_ARCHIVE = Path("/tmp/b12/profile_1m.duckdb")
UPLOAD_INPUT = '[data-testid="stFileUploaderDropzoneInput"]'  # as tests/browser/test_import_browser.py
SEARCH_LABEL = "搜索：姓名、拼音或首字母"
# Who the sessions are, in turn (their roles from the archive; passwords crm.seed.DEMO_PASSWORDS).
USERS = ["admin", "王磊", "李娜", "张敏", "刘洋", "陈静", "赵强", "孙丽", "周涛", "访客"]
VIEWER_ROLE = "只读"
FIXED_TERMS = ["伟", "zw", "wangfang", "5678", "科技", "张敏", "lina", "1380"]
UNSEEN_RUN_MS = 3000  # see Session.settle
MAIN_ACTIONS = ("login", "search", "profile", "contact", "back", "import_page", "import_preview", "import_confirm",
                "to_search")

# Installed in every document before the app's own scripts: counts the script runs the browser sees
# start (every change of stApp's data-test-script-state, old values included, so a short run is not
# missed) and answers whether the page has settled since a given count.
INIT_JS = """
(() => {
  if (window.__bench) return;
  const b = window.__bench = {runs: 0, state: null, app: null};
  const note = (v) => { if (v !== b.state) { if (v === 'running') b.runs++; b.state = v; } };
  const watch = (app) => {
    b.app = app;
    note(app.getAttribute('data-test-script-state'));
    new MutationObserver((records) => {
      if (b.app !== app) return;
      for (const r of records) note(r.oldValue);
      note(app.getAttribute('data-test-script-state'));
    }).observe(app, {attributes: true, attributeFilter: ['data-test-script-state'], attributeOldValue: true});
  };
  const find = () => {
    const app = document.querySelector('[data-testid="stApp"]');
    if (app && app !== b.app) watch(app);
    return app;
  };
  if (!find()) {
    const o = new MutationObserver(() => { if (find()) o.disconnect(); });
    o.observe(document, {childList: true, subtree: true});
  }
  b.idle = () => {
    const app = find();
    return !!app && !!document.querySelector(__CONNECTED__)
      && app.getAttribute('data-test-script-state') === 'notRunning'
      && !document.querySelector(__RUNNING__) && !document.querySelector(__LOADING__);
  };
  b.settled = (r0) => b.runs > r0 && b.idle();
  b.problems = () => ({
    exceptions: [...document.querySelectorAll(__EXCEPTION__)].map(e => e.innerText.slice(0, 400)),
    traceback: (document.body ? document.body.innerText : '').includes('Traceback (most recent call last)'),
    errors: [...document.querySelectorAll('[data-testid="stAlertContentError"]')].map(e => e.innerText.slice(0, 300)),
    expired: [...document.querySelectorAll('[data-testid="stAlertContentWarning"]')]
      .some(e => e.innerText.includes('登录已失效')),
  });
})();
"""
for _name, _selector in {"CONNECTED": APP_CONNECTED, "RUNNING": RUNNING_INDICATOR, "LOADING": LOADING,
                         "EXCEPTION": EXCEPTION}.items():
    INIT_JS = INIT_JS.replace(f"__{_name}__", json.dumps(_selector))


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    xs = sorted(values)
    return xs[max(0, math.ceil(q * len(xs)) - 1)]


def stats_ms(values: list[float]) -> dict[str, object]:
    return {"n": len(values), "p50_ms": _ms(pct(values, 0.5)), "p95_ms": _ms(pct(values, 0.95)),
            "max_ms": _ms(max(values) if values else None)}


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)


# ------------------------------------------------------------------ the server and its process
def _proc_table() -> dict[int, tuple[int, int]]:
    """pid → (ppid, utime + stime in clock ticks) of every process."""
    table: dict[int, tuple[int, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        rest = stat[stat.rfind(")") + 2:].split()  # after "pid (comm) "
        table[int(entry)] = (int(rest[1]), int(rest[11]) + int(rest[12]))
    return table


def _descendants(table: dict[int, tuple[int, int]], root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid in out:
            continue
        out.add(pid)
        todo.extend(children.get(pid, ()))
    return out


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class Sampler(threading.Thread):
    """Every second: the server's RSS (its own process, and with its children such as the import's
    reader), and the CPU seconds of the server's process tree and of this script's other children
    (Playwright's driver and Chromium), each process counted up to its last sample."""

    def __init__(self, server_pid: int) -> None:
        super().__init__(daemon=True)
        self.server_pid = server_pid
        self.samples: list[tuple[float, float, float]] = []  # (t, rss, tree rss)
        self.cpu_server: dict[int, int] = {}
        self.cpu_browser: dict[int, int] = {}
        self.marks: dict[str, float] = {}
        self._halt = threading.Event()

    def mark(self, name: str) -> None:
        self.marks[name] = time.monotonic()

    def cpu(self) -> dict[str, float]:
        tick = os.sysconf("SC_CLK_TCK")
        return {"server_s": round(sum(self.cpu_server.values()) / tick, 1),
                "browser_s": round(sum(self.cpu_browser.values()) / tick, 1)}

    def run(self) -> None:
        me = os.getpid()
        while not self._halt.is_set():
            table = _proc_table()
            server = _descendants(table, self.server_pid)
            rss = rss_mb(self.server_pid)
            if rss is not None:
                tree = sum(rss_mb(p) or 0 for p in server)
                self.samples.append((time.monotonic(), rss, tree))
            for pid in server:
                self.cpu_server[pid] = table[pid][1]
            for pid in _descendants(table, me) - server - {me}:
                self.cpu_browser[pid] = table[pid][1]
            self._halt.wait(1.0)

    def stop(self) -> None:
        self._halt.set()
        self.join(5)

    def peak(self, start: str | None = None, end: str | None = None) -> dict[str, float | None]:
        t0 = self.marks.get(start, -math.inf) if start else -math.inf
        t1 = self.marks.get(end, math.inf) if end else math.inf
        window = [s for s in self.samples if t0 <= s[0] <= t1]
        if not window:
            return {"peak_mb": None, "tree_peak_mb": None, "last_mb": None}
        return {"peak_mb": round(max(s[1] for s in window)), "tree_peak_mb": round(max(s[2] for s in window)),
                "last_mb": round(window[-1][1])}


def start_server(db: Path, port: int | None, workdir: Path, extra_env: dict[str, str]) -> StreamlitApp:
    """The dashboard on `db` as the browser tests start it, without the hot folder or the keeper
    unless `extra_env` switches them on."""
    return start_streamlit(db, workdir, env={"CRM_INBOX_WATCH": "0", "CRM_CLUSTER": "0", **extra_env}, port=port,
                           timeout=120)


def wait_until_quiet(pid: int, limit_s: float = 120.0, quiet: float = 0.10, seconds: int = 2) -> float:
    """Wait until the server's process tree used under `quiet` of a core for `seconds` consecutive
    seconds (its start-up work, such as the 客户分类 runs, is done); returns the seconds waited."""
    tick = os.sysconf("SC_CLK_TCK")
    t0 = time.monotonic()
    calm = 0

    def cpu() -> int:
        table = _proc_table()
        return sum(table[p][1] for p in _descendants(table, pid) if p in table)

    last = cpu()
    while time.monotonic() - t0 < limit_s and calm < seconds:
        time.sleep(1.0)  # a CPU sample, not a wait for the page
        now = cpu()
        calm = calm + 1 if (now - last) / tick < quiet else 0
        last = now
    return round(time.monotonic() - t0, 1)


# ------------------------------------------------------------------ what the sessions work on
@dataclass
class Workload:
    roles: dict[str, str]
    customers: list[tuple[str, str, str | None, str | None]]  # id, name, phone, owner
    by_owner: dict[str, list[str]]
    terms: list[str]
    sheet: Path | None


def prepare_workload(db: Path, tag: str, workdir: Path, sheet_rows: int, seed: int) -> Workload:
    con = duckdb.connect(str(db), read_only=True)
    try:
        roles = dict(con.execute("SELECT username, role FROM users WHERE active").fetchall())
        rows = con.execute("SELECT customer_id, name, phone, owner FROM customers "
                           f"USING SAMPLE reservoir(3000 ROWS) REPEATABLE ({int(seed)})").fetchall()
    finally:
        con.close()
    rng = random.Random(seed)
    by_owner: dict[str, list[str]] = {}
    for cid, _, _, owner in rows:
        by_owner.setdefault(owner or "", []).append(cid)
    terms = list(FIXED_TERMS)
    for _, name, phone, _ in rng.sample(rows, min(60, len(rows))):
        terms.append(name if rng.random() < 0.6 or not phone else phone[-4:])
    sheet = workdir / f"压测交易_{tag}.xlsx" if sheet_rows else None
    if sheet is not None:
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.title = "客户关系管理记录表"
        ws.append(["客户关系管理记录及分析表"])
        ws.append(["客户编号", "客户名称", "订单编号", "交易类型", "购买时间", "金额(元)", "备注"])
        for n in range(sheet_rows):
            cid, name, _, _ = rows[rng.randrange(len(rows))]
            ws.append([cid, name, f"B12-{tag}-{n:04d}", "购买", dt.date(2026, 1, 1) + dt.timedelta(days=rng.randrange(300)),
                       round(rng.lognormvariate(6, 1), 2), "压测导入"])
        ws.append(["合计"])
        wb.save(sheet)
    return Workload(roles, rows, by_owner, terms, sheet)


@dataclass
class Spec:
    index: int
    user: str
    role: str
    logs_contacts: bool
    imports: bool


def session_specs(n: int, roles: dict[str, str], imports: bool) -> list[Spec]:
    users = [u for u in USERS if u in roles]
    specs = []
    for i in range(n):
        user = users[i % len(users)]
        role = roles[user]
        specs.append(Spec(i, user, role, logs_contacts=(i % 2 == 1 or n == 1) and role != VIEWER_ROLE,
                          imports=imports and i == 0))
    return specs


# ------------------------------------------------------------------ one browser session
class ActionFailed(Exception):
    pass


@dataclass
class Session:
    spec: Spec
    base: str
    work: Workload
    tag: str
    timeout_ms: int
    rng: random.Random
    times: dict[str, list[float]] = field(default_factory=dict)
    parts: dict[str, list[float]] = field(default_factory=dict)
    errors: list[dict[str, object]] = field(default_factory=list)
    saved: list[int] = field(default_factory=list)
    attempted: int = 0
    imported: bool = False
    where: str = "unknown"
    term: str = ""
    shots: Path | None = None
    unseen_runs: int = 0

    # ---- waiting, by Streamlit's script state
    async def runs(self, page: Page) -> int:
        return int(await page.evaluate("window.__bench ? window.__bench.runs : 0"))

    async def settle(self, page: Page, r0: int, timeout: int | None = None) -> None:
        """Until a script run has started and finished since `r0` and the page is idle. A run that
        starts and ends within one browser frame (tens of ms on a small archive) may never show
        "running" in the DOM: when none is seen within UNSEEN_RUN_MS but the page is idle, the
        action counts as settled and as `unseen_runs` (its time then includes that wait)."""
        try:
            await page.wait_for_function("r0 => !!window.__bench && window.__bench.settled(r0)", arg=r0, polling=25,
                                         timeout=min(UNSEEN_RUN_MS, timeout or self.timeout_ms))
            return
        except PlaywrightTimeout:
            if not await page.evaluate("!!window.__bench && window.__bench.idle()"):
                await page.wait_for_function("r0 => !!window.__bench && window.__bench.settled(r0)", arg=r0,
                                             polling=25, timeout=timeout or self.timeout_ms)
                return
        self.unseen_runs += 1

    async def idle(self, page: Page) -> None:
        await page.wait_for_function("() => !!window.__bench && window.__bench.idle()", polling=25,
                                     timeout=self.timeout_ms)

    async def problems(self, page: Page) -> None:
        found = await page.evaluate("window.__bench.problems()")
        if found["exceptions"] or found["traceback"] or found["errors"] or found["expired"]:
            raise ActionFailed(json.dumps(found, ensure_ascii=False))

    async def act(self, kind: str, page: Page, step) -> bool:
        t0 = time.perf_counter()
        try:
            await step()
            await self.problems(page)
        except Exception as exc:  # noqa: BLE001 - every failure is a finding
            self.where = "unknown"
            self.errors.append({"session": self.spec.index, "user": self.spec.user, "action": kind,
                                "after_s": round(time.perf_counter() - t0, 2),
                                "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:400] if str(exc) else ''}"})
            log(f"s{self.spec.index} {kind} FAILED: {self.errors[-1]['error']}")
            if self.shots is not None and len(self.errors) <= 3:  # what the page showed, for the report
                shot = self.shots / f"fail-{self.tag}-s{self.spec.index}-{kind}-{len(self.errors)}.png"
                try:
                    await page.screenshot(path=str(shot), full_page=True, timeout=10_000)
                    self.errors[-1]["screenshot"] = str(shot)
                except Exception:  # noqa: BLE001 - a page that cannot be drawn has no picture
                    pass
            return False
        self.times.setdefault(kind, []).append(time.perf_counter() - t0)
        return True

    # ---- the steps
    async def log_in_form(self, page: Page) -> None:
        await page.get_by_label("用户名").fill(self.spec.user)
        await page.get_by_label("密码", exact=True).fill(DEMO_PASSWORDS[self.spec.role])
        r0 = await self.runs(page)
        await page.get_by_role("button", name="登录").click()
        await self.settle(page, r0)

    async def open_with_log_in(self, page: Page, path: str) -> float:
        """A url opened in the tab (a new Streamlit session): the log-in form, then the page; returns
        the seconds until the log-in form had settled."""
        t0 = time.perf_counter()
        await page.goto(self.base + path)
        await self.settle(page, 0)
        await expect(page.get_by_role("button", name="登录")).to_be_visible(timeout=self.timeout_ms)
        form = time.perf_counter() - t0
        await self.log_in_form(page)
        return form

    async def first_log_in(self, page: Page) -> None:
        await self.open_with_log_in(page, "/customers")
        await expect(page.locator("h1")).to_have_text("客户查询", timeout=self.timeout_ms)
        self.where = "search"

    async def search(self, page: Page) -> None:
        term = self.term
        while term == self.term:
            term = self.rng.choice(self.work.terms)
        box = page.get_by_label(SEARCH_LABEL, exact=False)
        await box.fill(term)
        r0 = await self.runs(page)
        await box.press("Enter")
        await self.settle(page, r0)
        self.term = term
        await expect(page.get_by_text(re.compile(r"共 [\d,]+ 位客户|没有找到符合条件的客户")).first).to_be_visible(
            timeout=self.timeout_ms)

    def pick_customer(self) -> str:
        own = self.work.by_owner.get(self.spec.user) if self.spec.role == "销售" else None
        pool = own or [c[0] for c in self.work.customers]
        return self.rng.choice(pool)

    async def profile(self, page: Page, cid: str) -> None:
        t0 = time.perf_counter()
        form = await self.open_with_log_in(page, f"/customers?id={cid}")
        await expect(page.locator("h1")).to_contain_text(cid, timeout=self.timeout_ms)
        await self.idle(page)
        self.parts.setdefault("profile: link → log-in form settled", []).append(form)
        self.parts.setdefault("profile: 登录 → profile settled", []).append(time.perf_counter() - t0 - form)
        self.where = "profile"

    async def contact(self, page: Page) -> None:
        k = self.attempted
        self.attempted += 1
        await page.get_by_role("tab", name="编辑").click()
        box = page.get_by_label("沟通内容")
        await box.fill(f"压测 {self.tag} s{self.spec.index:02d} #{k} 电话回访，客户询问新品报价")
        await self.idle(page)
        r0 = await self.runs(page)
        await page.get_by_role("button", name="保存联系记录").click()
        await self.settle(page, r0)
        await expect(page.get_by_text("联系记录已保存", exact=False)).to_be_visible(timeout=self.timeout_ms)
        self.saved.append(k)

    async def back(self, page: Page) -> None:
        r0 = await self.runs(page)
        await page.get_by_role("button", name="← 返回搜索").click()
        await self.settle(page, r0)
        await expect(page.locator("h1")).to_have_text("客户查询", timeout=self.timeout_ms)
        self.where = "search"
        self.term = ""

    async def nav(self, page: Page, label: str, title: str) -> None:
        r0 = await self.runs(page)
        await page.get_by_test_id("stSidebarNav").get_by_role("link", name=label).click()
        await self.settle(page, r0)
        await expect(page.locator("h1")).to_have_text(title, timeout=self.timeout_ms)

    async def import_preview(self, page: Page) -> None:
        r0 = await self.runs(page)
        await page.locator(UPLOAD_INPUT).set_input_files(str(self.work.sheet))
        await self.settle(page, r0, timeout=self.timeout_ms * 4)
        await expect(page.get_by_role("button", name="确认导入")).to_be_visible(timeout=self.timeout_ms * 4)

    async def import_confirm(self, page: Page) -> None:
        r0 = await self.runs(page)
        await page.get_by_role("button", name="确认导入").click()
        await self.settle(page, r0, timeout=self.timeout_ms * 4)
        await expect(page.locator('[data-testid="stAlertContentSuccess"]').first).to_contain_text(
            "已导入", timeout=self.timeout_ms * 4)
        self.imported = True

    # ---- the loop
    async def run(self, browser, deadline: float, start_delay: float) -> None:
        await asyncio.sleep(start_delay)  # arrival pattern (sessions 0.2 s apart), not a wait for a page
        context = await browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN",
                                            timezone_id="Asia/Shanghai")
        await context.add_init_script(INIT_JS)
        context.set_default_timeout(self.timeout_ms)
        page = await context.new_page()
        try:
            while time.monotonic() < deadline and self.where != "search":
                if not await self.act("login", page, lambda: self.first_log_in(page)):
                    continue
            while time.monotonic() < deadline:
                if self.where != "search":
                    await self.act("login", page, lambda: self.first_log_in(page))  # start over after a failure
                    continue
                await self.act("search", page, lambda: self.search(page))
                if time.monotonic() >= deadline or self.where != "search":
                    continue
                cid = self.pick_customer()
                if not await self.act("profile", page, lambda cid=cid: self.profile(page, cid)):
                    continue
                if self.spec.logs_contacts and time.monotonic() < deadline:
                    if not await self.act("contact", page, lambda: self.contact(page)):
                        continue
                if self.spec.imports and not self.imported and time.monotonic() < deadline:
                    ok = (await self.act("import_page", page, lambda: self.nav(page, "数据导入", "数据导入"))
                          and await self.act("import_preview", page, lambda: self.import_preview(page))
                          and await self.act("import_confirm", page, lambda: self.import_confirm(page)))
                    self.imported = True  # once, whatever happened (a failure is in the errors)
                    if ok and await self.act("to_search", page, lambda: self.nav(page, "客户查询", "客户查询")):
                        self.where, self.term = "search", ""
                    continue
                if time.monotonic() < deadline:
                    await self.act("back", page, lambda: self.back(page))
        finally:
            await context.close()


async def drive(url: str, specs: list[Spec], work: Workload, tag: str, seconds: float, timeout_ms: int,
                sampler: Sampler, warm_pid: int, shots: Path) -> list[Session]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            # warm-up: one session through the log-in, a search and a profile, then the server's start-up work
            warm = Session(Spec(-1, "admin", work.roles["admin"], False, False), url, work, tag, timeout_ms * 3,
                           random.Random(0), shots=shots)
            await warm_loop(warm, browser)
            if warm.errors:
                log(f"warm-up errors: {warm.errors}")
            waited = await asyncio.to_thread(wait_until_quiet, warm_pid)
            log(f"server quiet after {waited} s; {len(specs)} sessions for {seconds} s")
            sampler.mark("load_start")
            deadline = time.monotonic() + seconds
            sessions = [Session(s, url, work, tag, timeout_ms, random.Random(1000 + s.index), shots=shots)
                        for s in specs]
            tasks = [asyncio.create_task(s.run(browser, deadline, 0.2 * s.spec.index)) for s in sessions]
            done, pending = await asyncio.wait(tasks, timeout=seconds + 4 * timeout_ms / 1000 + 60)
            for t in pending:
                t.cancel()
            for t in done:
                if t.exception() is not None:
                    log(f"session task failed: {t.exception()!r}")
            sampler.mark("load_end")
            return [warm, *sessions]
        finally:
            await browser.close()


async def warm_loop(warm: Session, browser) -> None:
    context = await browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN",
                                        timezone_id="Asia/Shanghai")
    await context.add_init_script(INIT_JS)
    page = await context.new_page()
    try:
        if await warm.act("login", page, lambda: warm.first_log_in(page)):
            await warm.act("search", page, lambda: warm.search(page))
            cid = warm.pick_customer()
            if await warm.act("profile", page, lambda: warm.profile(page, cid)):
                await warm.act("back", page, lambda: warm.back(page))
    finally:
        await context.close()


# ------------------------------------------------------------------ a phase: one server, its sessions
def written_contacts(db: Path, tag: str) -> dict[int, list[int]]:
    """Session → the contact numbers found in the archive (read after the server has stopped)."""
    con = duckdb.connect(str(db))  # read-write: a WAL the stopped server left is replayed
    try:
        rows = con.execute("SELECT content FROM interactions WHERE content LIKE ?", [f"压测 {tag} s%"]).fetchall()
    finally:
        con.close()
    found: dict[int, list[int]] = {}
    for (content,) in rows:
        m = re.match(rf"压测 {re.escape(tag)} s(\d+) #(\d+) ", content)
        if m:
            found.setdefault(int(m.group(1)), []).append(int(m.group(2)))
    return found


def server_log_problems(path: Path) -> dict[str, object]:
    text = path.read_text(errors="replace")
    lines = text.splitlines()
    tracebacks = [i for i, line in enumerate(lines) if "Traceback (most recent call last)" in line]
    first = []
    for i in tracebacks[:3]:
        block = lines[i:i + 40]
        end = next((k for k, line in enumerate(block[1:], 1) if line and not line.startswith((" ", "\t"))), len(block) - 1)
        first.append("\n".join(block[:end + 1])[-1500:])
    return {"tracebacks": len(tracebacks), "first": first}


def phase(name: str, source: Path, copy: Path, n: int, seconds: float, args, extra_env: dict[str, str]) -> dict:
    log(f"== {name}: copying {source} → {copy}")
    shutil.copy(source, copy)
    wal = source.with_name(source.name + ".wal")
    if wal.exists():
        shutil.copy(wal, copy.with_name(copy.name + ".wal"))
    tag = uuid.uuid4().hex[:8]
    imports = n > 1 and not args.no_import
    work = prepare_workload(copy, tag, args.workdir, args.sheet_rows if imports else 0, seed=len(name))
    specs = session_specs(n, work.roles, imports)
    out: dict[str, object] = {"archive": str(source), "sessions": n, "seconds": seconds, "tag": tag,
                              "load_avg_start": [round(x, 2) for x in os.getloadavg()]}
    server = None
    sampler = None
    sessions: list[Session] = []
    t_start = time.monotonic()
    try:
        server = start_server(copy, args.port, args.workdir, extra_env)
        out["server_start_s"] = round(time.monotonic() - t_start, 1)
        sampler = Sampler(server.proc.pid)
        sampler.start()
        sessions = asyncio.run(drive(server.url, specs, work, tag, seconds, args.action_timeout * 1000, sampler,
                                     server.proc.pid, args.workdir))
        sampler.mark("end")
    finally:
        try:
            if sampler is not None:
                sampler.stop()
        finally:
            if server is not None:
                server.stop()
    out["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    warm, load = sessions[0], sessions[1:]
    window = sampler.marks.get("load_end", time.monotonic()) - sampler.marks.get("load_start", t_start)
    per_kind: dict[str, list[float]] = {}
    parts: dict[str, list[float]] = {}
    for s in load:
        for kind, xs in s.times.items():
            per_kind.setdefault(kind, []).extend(xs)
        for kind, xs in s.parts.items():
            parts.setdefault(kind, []).extend(xs)
    overall = [x for k in MAIN_ACTIONS for x in per_kind.get(k, [])]
    out["actions"] = {k: stats_ms(per_kind[k]) for k in MAIN_ACTIONS if k in per_kind}
    out["overall"] = stats_ms(overall)
    out["parts"] = {k: stats_ms(v) for k, v in parts.items()}
    out["warm_up"] = {k: _ms(v[0]) for k, v in warm.times.items()}
    out["load_window_s"] = round(window, 1)
    out["unseen_runs"] = sum(s.unseen_runs for s in load)
    out["actions_per_s"] = round(len(overall) / window, 2) if window > 0 else None
    errors = [e for s in load for e in s.errors]
    out["errors"] = {"count": len(errors), "by_action": _count(e["action"] for e in errors), "first": errors[:20],
                     "warm_up": warm.errors}
    found = written_contacts(copy, tag)
    believed = sum(len(s.saved) for s in load)
    lost = {s.spec.index: sorted(set(s.saved) - set(found.get(s.spec.index, []))) for s in load}
    unconfirmed = {s.spec.index: sorted(set(found.get(s.spec.index, [])) - set(s.saved)) for s in load}
    doubled = {i: sorted({k for k in ks if ks.count(k) > 1}) for i, ks in found.items()}
    out["contacts"] = {"attempted": sum(s.attempted for s in load), "confirmed": believed,
                       "rows_found": sum(len(v) for v in found.values()),
                       "lost": sum(len(v) for v in lost.values()), "lost_detail": {k: v for k, v in lost.items() if v},
                       "written_but_not_confirmed": {k: v for k, v in unconfirmed.items() if v},
                       "doubled": {k: v for k, v in doubled.items() if v}}
    out["imports_done"] = sum(1 for s in load if s.spec.imports and "import_confirm" in s.times)
    verify = subprocess.run([sys.executable, "-m", "crm", "audit", "verify", "--db", str(copy)], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    out["audit_verify"] = {"rc": verify.returncode, "out": (verify.stdout + verify.stderr).strip()[-300:]}
    out["server_log"] = server_log_problems(server.log)
    out["rss"] = {"whole_phase": sampler.peak(), "during_load": sampler.peak("load_start", "load_end"),
                  "at_end_of_load_mb": sampler.peak("load_start", "load_end")["last_mb"]}
    out["cpu"] = sampler.cpu()
    out["per_session"] = [{"i": s.spec.index, "user": s.spec.user, "actions": sum(len(v) for v in s.times.values()),
                           "errors": len(s.errors), "contacts_confirmed": len(s.saved)} for s in load]
    return out


def _count(items) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return out


def seed_10k(workdir: Path) -> Path:
    path = workdir / "seed_10k.duckdb"
    if not path.exists():
        log(f"seeding {path}")
        subprocess.run([sys.executable, "-m", "crm", "seed", "--db", str(path), "--customers", "10000"], cwd=ROOT,
                       check=True, stdout=subprocess.DEVNULL)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("archive", nargs="?", type=Path, default=DEFAULT_ARCHIVE)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--port", type=int, default=None, help="the servers' port (default: a free one per phase)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/bench-sessions"))
    ap.add_argument("--mem-seconds", type=float, default=30, help="length of the two 1-session memory phases")
    ap.add_argument("--skip-memory", action="store_true", help="only the N-session phase")
    ap.add_argument("--no-import", action="store_true")
    ap.add_argument("--sheet-rows", type=int, default=200, help="rows of the T2 sheet session 0 imports")
    ap.add_argument("--action-timeout", type=int, default=30, help="seconds an action may take (imports 4×)")
    ap.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                    help="extra environment for the server (diagnosis, e.g. CRM_WARM_SEGMENTS=0)")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    if not args.archive.exists():
        sys.exit(f"no archive at {args.archive}")
    extra_env = dict(item.split("=", 1) for item in args.server_env)
    result: dict[str, object] = {
        "date": dt.date.today().isoformat(), "command": " ".join([".venv/bin/python", *sys.argv]),
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}",
        "server_env": extra_env, "phases": {}}
    phases = result["phases"]
    if not args.skip_memory:
        phases["10k_1_session"] = phase("10k_1_session", seed_10k(args.workdir), args.workdir / "sessions_10k.duckdb",
                                        1, args.mem_seconds, args, extra_env)
        phases["1m_1_session"] = phase("1m_1_session", args.archive, args.workdir / "sessions_1m.duckdb", 1,
                                       args.mem_seconds, args, extra_env)
    big = f"1m_{args.sessions}_sessions"
    phases[big] = phase(big, args.archive, args.workdir / "sessions_1m.duckdb", args.sessions, args.seconds, args,
                        extra_env)
    load = phases[big]
    summary: dict[str, object] = {
        "actions": load["actions"], "overall": load["overall"], "errors": load["errors"]["count"],
        "server_tracebacks": load["server_log"]["tracebacks"], "lost_writes": load["contacts"]["lost"],
        "contacts_confirmed": load["contacts"]["confirmed"], "audit_chain_ok": load["audit_verify"]["rc"] == 0,
        "peak_rss_mb": {name: p["rss"]["whole_phase"]["peak_mb"] for name, p in phases.items()},
        "settled_rss_mb": {name: p["rss"]["at_end_of_load_mb"] for name, p in phases.items()},
    }
    if not args.skip_memory:
        small, one = phases["10k_1_session"]["rss"], phases["1m_1_session"]["rss"]
        if small["whole_phase"]["peak_mb"] and one["whole_phase"]["peak_mb"]:
            summary["ratio_1m_to_10k_peak"] = round(one["whole_phase"]["peak_mb"] / small["whole_phase"]["peak_mb"], 2)
        if small["at_end_of_load_mb"] and one["at_end_of_load_mb"]:
            summary["ratio_1m_to_10k_settled"] = round(one["at_end_of_load_mb"] / small["at_end_of_load_mb"], 2)
    result["summary"] = summary
    print(json.dumps(result, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
