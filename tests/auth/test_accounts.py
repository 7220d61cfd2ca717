"""crm.auth.accounts: argon2id hashes, sessions with idle and absolute expiry, lock-out, audit."""
from __future__ import annotations

import datetime as dt

import pytest
from conftest import one

from crm import clock
from crm.auth import accounts
from crm.auth.personal import Actor
from crm.auth.policy import PermissionDenied
from crm.db import Archive
from crm.errors import UserError

PASSWORD = "correct-horse-9"



@pytest.fixture
def team(archive: Archive) -> Archive:
    with clock.pinned(dt.datetime(2026, 12, 1, 9, 0)):
        accounts.add_user(archive, "cli", "小王", "管理员", PASSWORD)
        accounts.add_user(archive, "cli", "小李", "销售", "another-pass-7")
    return archive


def test_passwords_are_argon2id_hashes_at_the_owasp_minimum(team: Archive) -> None:
    (stored,) = one(team, "SELECT password_hash FROM users WHERE username = '小王'")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$") and PASSWORD not in stored
    details = [d for (d,) in team.cursor().execute("SELECT coalesce(detail, '') FROM audit_log").fetchall()]
    assert not any(PASSWORD in d for d in details)
    assert accounts.login_required(team)


def test_password_rules(team: Archive) -> None:
    with pytest.raises(UserError, match="至少需要 10 个字符"):
        accounts.add_user(team, "cli", "小张", "销售", "short")
    with pytest.raises(UserError, match="不能包含用户名"):
        accounts.add_user(team, "cli", "zhang", "销售", "zhang-1234567")
    with pytest.raises(UserError, match="不能超过"):
        accounts.add_user(team, "cli", "小张", "销售", "x" * 10_000)
    with pytest.raises(UserError, match="用户名须为"):
        accounts.add_user(team, "cli", "名" * 10_000, "销售", PASSWORD)
    with pytest.raises(PermissionDenied):
        accounts.add_user(team, Actor("小李", "销售"), "小张", "销售", PASSWORD)
    with pytest.raises(UserError, match="用户名或密码不正确"):
        accounts.log_in(team, "小王" * 5_000, PASSWORD)


def test_log_in_and_out(team: Archive) -> None:
    with clock.pinned(dt.datetime(2026, 12, 1, 9, 0)):
        session = accounts.log_in(team, "小王", PASSWORD)
        assert accounts.current_session(team, session.token).actor == Actor("小王", "管理员")
        accounts.log_out(team, session.token)
        assert accounts.current_session(team, session.token) is None
        with pytest.raises(UserError, match="用户名或密码不正确"):
            accounts.log_in(team, "小王", "wrong-password")
        with pytest.raises(UserError, match="用户名或密码不正确"):  # an unknown name reads the same
            accounts.log_in(team, "没有这个人", PASSWORD)
    actions = [a for (a,) in team.cursor().execute("SELECT action FROM audit_log ORDER BY id").fetchall()]
    assert actions[-4:] == ["login", "logout", "login_failed", "login_failed"]


def test_a_page_run_writes_the_session_only_when_its_last_touch_is_a_minute_old(team: Archive) -> None:
    """Every script run asks for the session twice: a write each time put every page view in line
    behind a colleague's import (crm.db.WriteGate)."""
    with clock.pinned(dt.datetime(2026, 12, 1, 9, 0)):
        session = accounts.log_in(team, "小王", PASSWORD)
    seen = lambda: one(team, "SELECT last_seen FROM sessions WHERE token = ?", [session.token])[0]  # noqa: E731
    with clock.pinned(dt.datetime(2026, 12, 1, 9, 0, 59)):
        assert accounts.current_session(team, session.token) is not None
    assert seen() == dt.datetime(2026, 12, 1, 9, 0)
    with clock.pinned(dt.datetime(2026, 12, 1, 9, 1, 0)):
        assert accounts.current_session(team, session.token) is not None
    assert seen() == dt.datetime(2026, 12, 1, 9, 1)


def test_idle_and_absolute_expiry(team: Archive) -> None:
    with clock.pinned(dt.datetime(2026, 12, 1, 9, 0)):
        session = accounts.log_in(team, "小王", PASSWORD)
    with clock.pinned(dt.datetime(2026, 12, 1, 9, 29)):
        assert accounts.current_session(team, session.token) is not None  # active: the idle clock restarts
    with clock.pinned(dt.datetime(2026, 12, 1, 10, 0)):
        assert accounts.current_session(team, session.token) is None  # 31 minutes idle
    assert one(team, "SELECT ended_reason FROM sessions WHERE token = ?", [session.token]) == ("超时",)
    with clock.pinned(dt.datetime(2026, 12, 1, 9, 0)):
        other = accounts.log_in(team, "小王", PASSWORD)
    for minute in range(25, 12 * 60 + 25, 25):  # busy all day: the absolute expiry ends it after 12 hours
        with clock.pinned(dt.datetime(2026, 12, 1, 9, 0) + dt.timedelta(minutes=minute)):
            alive = accounts.current_session(team, other.token)
    assert alive is None
    assert one(team, "SELECT ended_reason FROM sessions WHERE token = ?", [other.token]) == ("已到期",)


def test_lock_out_after_five_failures_and_unlock(team: Archive) -> None:
    with clock.pinned(dt.datetime(2026, 12, 1, 9, 0)):
        for _ in range(4):
            with pytest.raises(UserError, match="用户名或密码不正确"):
                accounts.log_in(team, "小李", "nope-nope-nope")
        with pytest.raises(UserError, match="账号已锁定 15 分钟"):
            accounts.log_in(team, "小李", "nope-nope-nope")
        with pytest.raises(UserError, match="账号已锁定"):  # even the right password, while locked
            accounts.log_in(team, "小李", "another-pass-7")
    with clock.pinned(dt.datetime(2026, 12, 1, 9, 16)):
        assert accounts.log_in(team, "小李", "another-pass-7").username == "小李"  # the lock ran out
    with clock.pinned(dt.datetime(2026, 12, 1, 9, 20)):
        for _ in range(5):
            with pytest.raises(UserError):
                accounts.log_in(team, "小李", "nope-nope-nope")
        accounts.unlock(team, Actor("小王", "管理员"), "小李")
        assert accounts.log_in(team, "小李", "another-pass-7")


def test_disabling_or_resetting_ends_sessions_at_once(team: Archive) -> None:
    with clock.pinned(dt.datetime(2026, 12, 1, 9, 0)):
        session = accounts.log_in(team, "小李", "another-pass-7")
        accounts.set_active(team, Actor("小王", "管理员"), "小李", False)
        assert accounts.current_session(team, session.token) is None
        with pytest.raises(UserError, match="已停用"):
            accounts.log_in(team, "小李", "another-pass-7")
        accounts.set_active(team, "cli", "小李", True)
        session = accounts.log_in(team, "小李", "another-pass-7")
        accounts.set_password(team, "cli", "小李", "brand-new-pass-1")
        assert accounts.current_session(team, session.token) is None
        assert accounts.log_in(team, "小李", "brand-new-pass-1")
