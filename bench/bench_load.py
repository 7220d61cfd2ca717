"""Many users at once through Streamlit's own websocket protocol (issue 12): the server's side of N sessions.

    .venv/bin/python bench/bench_load.py [ARCHIVE] [--sessions 20] [--seconds 120] [--workdir DIR]
                                         [--sheet-rows 2000] [--mem-seconds 30] [--skip-memory]
                                         [--think SECONDS]

Why not only browsers: bench/bench_sessions.py drives N headless Chromium pages, and on this
2-core machine 20 of them use 1.8 cores for drawing (260 s of CPU against the server's 33 s in a
two-minute run), so what it times is the load generator. Here each session is a websocket client
speaking the protocol the browser speaks (BackMsg rerun_script with widget states; ForwardMsg deltas
until script_finished), so the server's work and its queueing are timed, and the browser's drawing
is not (bench_pages.py measures that, one page at a time).

ARCHIVE (default: the 1 M archive kept in customer order, /tmp/b12/layout/clustered.duckdb) is
copied into --workdir. Phases, each with its own `streamlit run app.py` (127.0.0.1, headless,
CRM_CLUSTER=0, the hot folder on): 10 k / 1 session and 1 M / 1 session for --mem-seconds (the RSS
ratio), then 1 M / N sessions for --seconds. Every session logs in with its demo account (as
bench_sessions: admin, the sales users, 孙丽, 周涛, 访客 in turn), then loops: a search typed into
客户查询's box; a profile opened (`?id=`); on every second session but the viewer's a contact logged
on the profile (沟通内容 + 保存联系记录, one of the user's own customers), the confirmation checked; ←
返回搜索. While they work, a T2 sheet of --sheet-rows rows is dropped into the hot folder as admin (an
import the dashboard runs in its own thread, on the same connection). An action is timed from the
message sent until the run's script_finished (the last one, after the page's own st.rerun).
--think gives each session a reading time after every page (0.5–1.5 × the mean, seeded); the
default 0 sends the next action at once, which is a stress test: a person reads a profile first.

Errors: an exception element, a Chinese error alert, a lost log-in, a timeout, a closed socket,
Tracebacks in the server log. After the server stops: contacts counted in the archive against the
confirmed ones, the import's rows, the audit chain (`python -m crm audit verify`). RSS of the server
sampled every second. Prints one JSON object. Targets: no error, no lost write, p95 < 2 s with 20
sessions; RSS at 1 M ≤ 1.5 × at 10 k, < 1 GB with 20 sessions.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import websockets  # noqa: E402
from bench_sessions import (  # noqa: E402
    USERS,
    VIEWER_ROLE,
    Sampler,
    Workload,
    log,
    prepare_workload,
    seed_10k,
    server_log_problems,
    start_server,
    stats_ms,
    wait_until_quiet,
    written_contacts,
)
from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: E402
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402

from crm.seed import DEMO_PASSWORDS  # noqa: E402

DEFAULT_ARCHIVE = Path("/tmp/b12/layout/clustered.duckdb")
EARLY = ForwardMsg.ScriptFinishedStatus.Value("FINISHED_EARLY_FOR_RERUN")
ACTIONS = ("login", "search", "profile", "contact", "back")


class ActionFailed(Exception):
    pass


def _strings(message: Any) -> list[str]:
    """Every text field of a protobuf message, recursively (what a user would read)."""
    out: list[str] = []
    for desc, value in message.ListFields():
        repeated = desc.is_repeated if hasattr(desc, "is_repeated") else desc.label == desc.LABEL_REPEATED
        values = value if repeated else [value]
        for v in values:
            if isinstance(v, str):
                out.append(v)
            elif hasattr(v, "ListFields"):
                out.extend(_strings(v))
    return out


@dataclass
class Run:
    seconds: float
    texts: list[str]
    widgets: dict[str, str]  # label → widget id
    headings: list[str]
    errors: list[str]
    exceptions: list[str]


class WsSession:
    """One browser tab's conversation with the server, without the browser."""

    def __init__(self, base: str, timeout: float) -> None:
        self.url = base.replace("http://", "ws://") + "/_stcore/stream"
        self.timeout = timeout
        self.ws = None
        self.pages: dict[str, str] = {}  # url path → page script hash
        self.page_hash = ""

    async def open(self) -> None:
        self.ws = await websockets.connect(self.url, subprotocols=["streamlit"], max_size=None,
                                           open_timeout=self.timeout, ping_interval=None)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    async def rerun(self, *, page_name: str = "", query: str = "", widgets: list[tuple[str, str, Any]] = ()) -> Run:
        """Send one rerun (widgets: (id, kind, value), kind string/trigger) and read until it is done."""
        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string = query
        cs.page_script_hash = self.page_hash if not page_name else ""
        cs.page_name = page_name
        for wid, kind, value in widgets:
            w = cs.widget_states.widgets.add()
            w.id = wid
            if kind == "trigger":
                w.trigger_value = bool(value)
            else:
                w.string_value = str(value)
        t0 = time.perf_counter()
        await self.ws.send(msg.SerializeToString())
        texts: list[str] = []
        labels: dict[str, str] = {}
        headings: list[str] = []
        errors: list[str] = []
        exceptions: list[str] = []
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ActionFailed(f"no script_finished within {self.timeout:.0f} s")
            data = await asyncio.wait_for(self.ws.recv(), left)
            if isinstance(data, str):
                continue
            fm = ForwardMsg.FromString(data)
            kind = fm.WhichOneof("type")
            if kind == "new_session":
                self.page_hash = fm.new_session.page_script_hash or self.page_hash
                texts, labels, headings, errors, exceptions = [], {}, [], [], []  # a new run starts
            elif kind == "navigation":
                self.pages = {p.url_pathname: p.page_script_hash for p in fm.navigation.app_pages}
                self.page_hash = fm.navigation.page_script_hash or self.page_hash
            elif kind == "delta" and fm.delta.WhichOneof("type") == "new_element":
                el = fm.delta.new_element
                etype = el.WhichOneof("type")
                body = getattr(el, etype)
                strings = _strings(body)
                texts.extend(strings)
                if hasattr(body, "id") and hasattr(body, "label") and body.id:
                    labels[body.label] = body.id
                if etype == "heading":
                    headings.append(body.body)
                elif etype == "alert" and el.alert.format == el.alert.ERROR:
                    errors.append(el.alert.body)
                elif etype == "exception":
                    exceptions.append(" ".join(strings)[:300])
            elif kind == "script_finished" and fm.script_finished != EARLY:
                return Run(time.perf_counter() - t0, texts, labels, headings, errors, exceptions)

    @staticmethod
    def check(run: Run, *, heading: str | None = None, text: str | None = None) -> Run:
        if run.exceptions:
            raise ActionFailed("exception: " + run.exceptions[0])
        if run.errors:
            raise ActionFailed("error: " + run.errors[0][:200])
        if any("登录已失效" in t for t in run.texts):
            raise ActionFailed("log-in lost")
        if heading is not None and not any(heading in h for h in run.headings):
            raise ActionFailed(f"heading {heading!r} not shown (headings {run.headings[:3]})")
        if text is not None and not any(re.search(text, t) for t in run.texts):
            raise ActionFailed(f"text {text!r} not shown")
        return run


@dataclass
class Worker:
    index: int
    user: str
    role: str
    logs_contacts: bool
    work: Workload
    tag: str
    rng: random.Random
    times: dict[str, list[float]] = field(default_factory=dict)
    errors: list[dict[str, object]] = field(default_factory=list)
    saved: list[int] = field(default_factory=list)
    attempted: int = 0
    think: float = 0.0  # mean reading time after each page, seconds (0: the next action at once)

    async def act(self, kind: str, step: Awaitable[Run]) -> Run | None:
        t0 = time.perf_counter()
        try:
            run = await step
        except Exception as exc:  # noqa: BLE001 - every failure is a finding
            self.errors.append({"session": self.index, "user": self.user, "action": kind,
                                "after_s": round(time.perf_counter() - t0, 2),
                                "error": f"{type(exc).__name__}: {str(exc)[:300]}"})
            log(f"s{self.index} {kind} FAILED: {self.errors[-1]['error']}")
            return None
        self.times.setdefault(kind, []).append(run.seconds)
        if self.think > 0:  # a person reads the page before the next click: 0.5–1.5 × the mean
            await asyncio.sleep(self.think * self.rng.uniform(0.5, 1.5))
        return run

    def pick_customer(self) -> str:
        own = self.work.by_owner.get(self.user) if self.role == "销售" else None
        return self.rng.choice(own or [c[0] for c in self.work.customers])

    async def run(self, base: str, deadline: float, delay: float, timeout: float) -> None:
        await asyncio.sleep(delay)  # arrival pattern (sessions 0.2 s apart), not a wait for a page
        s = WsSession(base, timeout)
        try:
            await s.open()
            form = await self.act("login", self._log_in(s))
            if form is None:
                return
            term = ""
            while time.monotonic() < deadline:
                term = self.rng.choice([t for t in self.work.terms if t != term])
                box = form.widgets.get(next((k for k in form.widgets if k.startswith("搜索")), ""), "")
                if await self.act("search", self._search(s, box, term)) is None:
                    break
                cid = self.pick_customer()
                prof = await self.act("profile", self._profile(s, cid))
                if prof is None:
                    break
                if self.logs_contacts and time.monotonic() < deadline:
                    if await self.act("contact", self._contact(s, cid, prof)) is None:
                        break
                back = await self.act("back", self._back(s, cid, prof))
                if back is None:
                    break
                form = back
        finally:
            await s.close()

    async def _log_in(self, s: WsSession) -> Run:
        first = s.check(await s.rerun(page_name="customers"), heading="登录客户档案")
        user, pw, go = first.widgets.get("用户名"), first.widgets.get("密码"), first.widgets.get("登录")
        if not (user and pw and go):
            raise ActionFailed(f"log-in form not found: {sorted(first.widgets)}")
        t0 = time.perf_counter()
        run = s.check(await s.rerun(widgets=[(user, "string", self.user), (pw, "string", DEMO_PASSWORDS[self.role]),
                                             (go, "trigger", True)]), heading="客户查询")
        run.seconds = time.perf_counter() - t0 + first.seconds
        return run

    async def _search(self, s: WsSession, box: str, term: str) -> Run:
        return s.check(await s.rerun(widgets=[(box, "string", term)]), heading="客户查询",
                       text=r"共 [\d,]+ 位客户|没有找到符合条件的客户")

    async def _profile(self, s: WsSession, cid: str) -> Run:
        return s.check(await s.rerun(query=f"id={cid}"), heading=cid)

    async def _contact(self, s: WsSession, cid: str, prof: Run) -> Run:
        box, save = prof.widgets.get("沟通内容"), prof.widgets.get("保存联系记录")
        if not (box and save):
            raise ActionFailed("contact form not found")
        k = self.attempted
        self.attempted += 1
        run = s.check(await s.rerun(query=f"id={cid}", widgets=[
            (box, "string", f"压测 {self.tag} s{self.index:02d} #{k} 电话回访，客户询问新品报价"), (save, "trigger", True)]),
            heading=cid, text="联系记录已保存")
        self.saved.append(k)
        return run

    async def _back(self, s: WsSession, cid: str, prof: Run) -> Run:
        back = prof.widgets.get("← 返回搜索")
        if not back:
            raise ActionFailed("back button not found")
        return s.check(await s.rerun(query=f"id={cid}", widgets=[(back, "trigger", True)]), heading="客户查询")


def drop_sheet(work: Workload, inbox: Path, user: str) -> Path:
    """The T2 sheet into the hot folder as `user` (a .part renamed when complete, as the CLI does)."""
    folder = inbox / user
    folder.mkdir(parents=True, exist_ok=True)
    part = folder / (work.sheet.name + ".part")
    shutil.copy(work.sheet, part)
    target = folder / work.sheet.name
    part.rename(target)
    return target


def imported_rows(db: Path, tag: str) -> int:
    import duckdb

    con = duckdb.connect(str(db))
    try:
        return int(con.execute("SELECT count(*) FROM transactions WHERE order_ref LIKE ?", [f"B12-{tag}-%"]).fetchone()[0])
    finally:
        con.close()


async def drive(url: str, workers: list[Worker], seconds: float, timeout: float, sampler: Sampler,
                inbox: Path | None, work: Workload, server_pid: int) -> dict[str, object]:
    warm = Worker(-1, "admin", work.roles["admin"], False, work, "warm", random.Random(0))
    await warm.run(url, time.monotonic() + 3, 0, timeout * 3)  # log-in, a search, a profile: the server's caches
    quiet = await asyncio.to_thread(wait_until_quiet, server_pid)
    sampler.mark("load_start")
    deadline = time.monotonic() + seconds
    tasks = [asyncio.create_task(w.run(url, deadline, 0.2 * w.index, timeout)) for w in workers]
    if inbox is not None and work.sheet is not None:
        await asyncio.sleep(min(10.0, seconds / 4))  # the import starts while the sessions work
        drop_sheet(work, inbox, "admin")
        log("sheet dropped into the hot folder")
    done, pending = await asyncio.wait(tasks, timeout=seconds + 3 * timeout + 30)
    for t in pending:
        t.cancel()
    sampler.mark("load_end")
    return {"quiet_after_s": quiet, "warm_up_errors": warm.errors, "unfinished_sessions": len(pending)}


def phase(name: str, source: Path, copy: Path, n: int, seconds: float, args) -> dict[str, object]:
    log(f"== {name}: copying {source} → {copy}")
    shutil.copy(source, copy)
    tag = uuid.uuid4().hex[:8]
    imports = n > 1 and args.sheet_rows > 0
    work = prepare_workload(copy, tag, args.workdir, args.sheet_rows if imports else 0, seed=len(name))
    users = [u for u in USERS if u in work.roles]
    workers = [Worker(i, users[i % len(users)], work.roles[users[i % len(users)]],
                      (i % 2 == 1 or n == 1) and work.roles[users[i % len(users)]] != VIEWER_ROLE, work, tag,
                      random.Random(1000 + i), think=args.think) for i in range(n)]
    inbox = args.workdir / f"inbox-{tag}"
    server = sampler = None
    out: dict[str, object] = {"archive": str(source), "sessions": n, "seconds": seconds, "tag": tag}
    try:
        server = start_server(copy, None, args.workdir, {"CRM_INBOX_WATCH": "1", "CRM_INBOX": str(inbox),
                                                         "CRM_INBOX_POLL_S": "1", **args.server_env})
        sampler = Sampler(server.proc.pid)
        sampler.start()
        out.update(asyncio.run(drive(server.url, workers, seconds, args.action_timeout, sampler,
                                     inbox if imports else None, work, server.proc.pid)))
        if imports:  # the import may still be running: wait for its report (not a fixed sleep: polled, bounded)
            t_end = time.monotonic() + 120
            while time.monotonic() < t_end and not list((inbox / "admin").glob("done/*/*.json")) \
                    and not list((inbox / "admin").glob("failed/*/*")):
                time.sleep(0.5)
        sampler.mark("end")
    finally:
        if sampler is not None:
            sampler.stop()
        if server is not None:
            server.stop()
    window = sampler.marks.get("load_end", 0) - sampler.marks.get("load_start", 0)
    all_times = {k: [x for w in workers for x in w.times.get(k, [])] for k in ACTIONS}
    overall = [x for k in ACTIONS for x in all_times[k]]
    out["actions"] = {k: stats_ms(v) for k, v in all_times.items() if v}
    out["overall"] = stats_ms(overall)
    out["actions_per_s"] = round(len(overall) / window, 2) if window > 0 else None
    errors = [e for w in workers for e in w.errors]
    out["errors"] = {"count": len(errors), "first": errors[:10]}
    found = written_contacts(copy, tag)
    confirmed = {w.index: w.saved for w in workers}
    lost = {i: sorted(set(ks) - set(found.get(i, []))) for i, ks in confirmed.items()}
    out["contacts"] = {"confirmed": sum(len(v) for v in confirmed.values()),
                       "rows_found": sum(len(v) for v in found.values()),
                       "lost": sum(len(v) for v in lost.values()),
                       "lost_detail": {k: v for k, v in lost.items() if v}}
    if imports:
        reports = list((inbox / "admin").glob("done/*/*.json"))
        failed = [str(p) for p in (inbox / "admin").glob("failed/*/*")]
        out["import"] = {"sheet_rows": args.sheet_rows, "rows_in_archive": imported_rows(copy, tag),
                         "done": len(reports), "failed": failed}
    verify = subprocess.run([sys.executable, "-m", "crm", "audit", "verify", "--db", str(copy)], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    out["audit_verify_rc"] = verify.returncode
    out["server_log"] = server_log_problems(server.log)
    out["rss"] = {"whole_phase": sampler.peak(), "during_load": sampler.peak("load_start", "load_end")}
    out["cpu"] = sampler.cpu()
    out["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("archive", nargs="?", type=Path, default=DEFAULT_ARCHIVE)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/bench-load"))
    ap.add_argument("--mem-seconds", type=float, default=30)
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--sheet-rows", type=int, default=2000)
    ap.add_argument("--action-timeout", type=float, default=60)
    ap.add_argument("--think", type=float, default=0.0,
                    help="mean reading time after each page in seconds (default 0: every session clicks without pause)")
    ap.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                    help="extra environment for the server (e.g. CRM_DB_MEMORY_LIMIT=512MB)")
    args = ap.parse_args()
    # the server's environment as `make run` gives it (MALLOC_ARENA_MAX: see the Makefile), then --server-env
    args.server_env = {"MALLOC_ARENA_MAX": "2", **dict(item.split("=", 1) for item in args.server_env)}
    args.workdir.mkdir(parents=True, exist_ok=True)
    result: dict[str, object] = {"date": dt.date.today().isoformat(),
                                 "command": " ".join([".venv/bin/python", *sys.argv]),
                                 "machine": f"{platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}",
                                 "server_env": args.server_env, "phases": {}}
    phases = result["phases"]
    if not args.skip_memory:
        phases["10k_1"] = phase("10k_1", seed_10k(args.workdir), args.workdir / "load_10k.duckdb", 1, args.mem_seconds, args)
        phases["1m_1"] = phase("1m_1", args.archive, args.workdir / "load_1m.duckdb", 1, args.mem_seconds, args)
    big = f"1m_{args.sessions}"
    phases[big] = phase(big, args.archive, args.workdir / "load_1m.duckdb", args.sessions, args.seconds, args)
    if not args.skip_memory:
        a, b = phases["10k_1"]["rss"]["during_load"], phases["1m_1"]["rss"]["during_load"]
        if a["peak_mb"] and b["peak_mb"]:
            result["rss_ratio_1m_10k"] = {"peak": round(b["peak_mb"] / a["peak_mb"], 2),
                                          "end_of_load": round(b["last_mb"] / a["last_mb"], 2)}
    print(json.dumps(result, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
