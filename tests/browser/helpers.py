"""Helpers for driving the running Streamlit app in Chromium (shared by every browser test).

Waiting follows Streamlit's own e2e suite (e2e_playwright/conftest.py `wait_for_app_run`): the
root element `[data-testid="stApp"]` carries `data-test-connection-state` (CONNECTED once the
websocket is up) and `data-test-script-state` ("initial" until the first run starts, then
"running" / "rerunRequested" / "notRunning" ...). A page is ready when the app is connected,
the script state is notRunning, the status widget shows no running indicator, and no element
is still a loading skeleton (in streamlit 1.67 st.metric and st.dataframe are lazily loaded and
first render as `stSkeleton` — seen right after notRunning on a first visit) or stale.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"

APP_CONNECTED = '[data-testid="stApp"][data-test-connection-state="CONNECTED"]'
APP_IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
RUNNING_INDICATOR = '[data-testid="stStatusWidget"] [data-testid="stStatusWidgetRunningIcon"]'
# Placeholders: lazily loaded element code (st.metric, st.dataframe ...) shows a skeleton until its
# chunk has loaded, which can be after the run has finished; stale elements of the previous run.
LOADING = '[data-testid="stSkeleton"], [data-stale="true"]'
EXCEPTION = '[data-testid="stException"]'


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_health(base_url: str, proc: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    """Poll /_stcore/health until it answers "ok"; fail early if the server died."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"streamlit exited with code {proc.returncode} before it was healthy:\n{log.read_text(errors='replace')}"
            )
        try:
            with urllib.request.urlopen(f"{base_url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200 and resp.read().strip() == b"ok":
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            last_error = exc
        time.sleep(0.1)
    raise TimeoutError(
        f"streamlit at {base_url} not healthy after {timeout}s ({last_error}):\n{log.read_text(errors='replace')}"
    )


CHROMIUM = os.environ.get("CRM_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


@dataclass
class StreamlitApp:
    url: str
    db: Path
    log: Path
    proc: subprocess.Popen

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the server and anything it spawned (its own group)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def start_streamlit(db: Path, workdir: Path, *, env: dict[str, str] | None = None, port: int | None = None,
                    timeout: float = 90) -> StreamlitApp:
    """`streamlit run app.py` on 127.0.0.1 (headless, no file watcher) with CRM_DB=db and `env` on top
    of this process's environment, in its own process group; returns once /_stcore/health answers.
    The browser tests and the load benchmarks (bench/) start their servers with it."""
    port = port or free_port()
    log = workdir / f"streamlit-{db.stem}-{port}.log"
    full_env = dict(os.environ)
    full_env.update({"CRM_DB": str(db), "PYTHONUNBUFFERED": "1", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
                     **(env or {})})
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "streamlit", "run", "app.py",
                "--server.headless", "true",
                "--server.port", str(port),
                "--server.address", "127.0.0.1",
                "--browser.gatherUsageStats", "false",
                "--server.fileWatcherType", "none",
                "--server.runOnSave", "false",
                "--client.toolbarMode", "minimal",
            ],
            cwd=REPO_ROOT,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    app = StreamlitApp(url=f"http://127.0.0.1:{port}", db=db, log=log, proc=proc)
    try:
        wait_for_health(app.url, proc, log, timeout=timeout)
    except BaseException:
        app.stop()
        raise
    return app


def wait_for_app(page: Page, timeout: float = 30_000, settle_ms: int = 100) -> None:
    """Wait until the current script run has finished and the page shows its result.

    After an interaction that triggers a rerun, the root may still say notRunning for a moment
    before the server answers; `settle_ms` (like Streamlit's own initial_wait) covers that.
    """
    if settle_ms:
        page.wait_for_timeout(settle_ms)
    page.wait_for_selector(APP_CONNECTED, state="attached", timeout=timeout)
    page.wait_for_selector(APP_IDLE, state="attached", timeout=timeout)
    expect(page.locator(RUNNING_INDICATOR)).to_have_count(0, timeout=timeout)
    expect(page.locator(LOADING)).to_have_count(0, timeout=timeout)


def goto(page: Page, base_url: str, path: str = "/", user: str = "admin") -> None:
    """Open a page of the app and wait for its script to finish; on an archive with accounts (the
    demo seed makes them) the log-in page comes first, and `user` logs in with its demo password."""
    page.goto(base_url.rstrip("/") + "/" + path.lstrip("/"))
    wait_for_app(page)
    if page.get_by_role("button", name="登录").count():
        log_in(page, user)


def log_in(page: Page, user: str, password: str | None = None) -> None:
    """Fill the log-in form as a user does (default: the demo password of the user's role)."""
    from crm.seed import DEMO_PASSWORDS

    roles = {"admin": "管理员", "周涛": "经理", "孙丽": "主管", "访客": "只读"}
    page.get_by_label("用户名").fill(user)
    page.get_by_label("密码", exact=True).fill(password or DEMO_PASSWORDS[roles.get(user, "销售")])
    page.get_by_role("button", name="登录").click()
    wait_for_app(page)


def assert_no_exception(page: Page) -> None:
    expect(page.locator(EXCEPTION)).to_have_count(0)


def metric_values(page: Page) -> dict[str, str]:
    """{label: value} of every st.metric on the page."""
    result: dict[str, str] = {}
    for tile in page.locator('[data-testid="stMetric"]').all():
        label = tile.locator('[data-testid="stMetricLabel"]').inner_text().strip()
        value = tile.locator('[data-testid="stMetricValue"]').inner_text().strip()
        result[label] = value
    return result


def metric(page: Page, label: str) -> Locator:
    """The st.metric tile whose label is exactly `label`."""
    return page.locator('[data-testid="stMetric"]').filter(
        has=page.locator('[data-testid="stMetricLabel"]', has_text=re.compile(rf"^\s*{re.escape(label)}\s*$"))
    )


def screenshot(page: Page, name: str) -> Path:
    """Full-page screenshot into test-artifacts/<name>.png (git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
