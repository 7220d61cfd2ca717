"""Single sign-on in crm.auth.accounts: an e-mail registered per account, the provider's address
mapped to it, sessions tied to one sign-in, every attempt audited. (The log-in page's side, with
st.user faked, is tests/pages/test_sso_page.py.)"""
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

NOW = dt.datetime(2026, 12, 1, 9, 0)
CLAIMS = {"iss": "https://idp.example.com", "sub": "u-42", "iat": 1796115600, "email": "Zhou.Tao@Example.com"}


@pytest.fixture
def team(archive: Archive) -> Archive:
    with clock.pinned(NOW):
        accounts.add_user(archive, "cli", "admin", "管理员", "root-pass-2026")
        accounts.add_user(archive, "cli", "周涛", "经理", "manager-pass-2026", email=" zhou.tao@example.com ")
        accounts.add_user(archive, "cli", "王磊", "销售", "sales-pass-2026")
    return archive


def audit_rows(archive: Archive) -> list[tuple]:
    cur = archive.cursor()
    try:
        return cur.execute("SELECT user_name, action, detail FROM audit_log WHERE action LIKE 'login%' ORDER BY id").fetchall()
    finally:
        cur.close()


def test_the_providers_address_opens_a_session_of_the_account_registered_with_it(team: Archive) -> None:
    with clock.pinned(NOW):
        session = accounts.sso_log_in(team, CLAIMS["email"], accounts.sso_identity(CLAIMS))
        assert (session.username, session.role) == ("周涛", "经理")
        assert accounts.current_session(team, session.token) == session
    user, action, detail = audit_rows(team)[-1]
    assert (user, action) == ("周涛", "login") and "单点登录" in detail and "zhou.tao@example.com" in detail


def test_an_unknown_address_is_refused_in_chinese_and_audited(team: Archive) -> None:
    with clock.pinned(NOW), pytest.raises(UserError) as refused:
        accounts.sso_log_in(team, "stranger@example.com", "some-identity")
    assert refused.value.message == accounts.SSO_UNKNOWN.format(email="stranger@example.com")
    assert "系统管理" in refused.value.message
    assert audit_rows(team)[-1][:2] == ("stranger@example.com", "login_failed")
    assert one(team, "SELECT count(*) FROM sessions") == (0,)
    with clock.pinned(NOW), pytest.raises(UserError, match="没有对应的本系统账号"):
        accounts.sso_log_in(team, None)  # a provider that sent no address at all


def test_a_disabled_account_and_an_unverified_address_are_refused(team: Archive) -> None:
    with clock.pinned(NOW), pytest.raises(UserError, match="没有验证邮箱"):
        accounts.sso_log_in(team, CLAIMS["email"], verified=False)
    accounts.set_active(team, "cli", "周涛", False)
    with clock.pinned(NOW), pytest.raises(UserError, match="账号已停用"):
        accounts.sso_log_in(team, CLAIMS["email"])
    assert [a for _, a, _ in audit_rows(team)] == ["login_failed", "login_failed"]


def test_a_lock_from_wrong_passwords_does_not_block_the_provider_sign_in(team: Archive) -> None:
    with clock.pinned(NOW):
        for _ in range(5):
            with pytest.raises(UserError):
                accounts.log_in(team, "周涛", "wrong-password-1")
        with pytest.raises(UserError, match="已锁定"):
            accounts.log_in(team, "周涛", "manager-pass-2026")
        assert accounts.sso_log_in(team, CLAIMS["email"]).username == "周涛"


def test_a_refresh_resumes_the_sign_ins_session_and_an_ended_one_stays_ended(team: Archive) -> None:
    identity = accounts.sso_identity(CLAIMS)
    with clock.pinned(NOW):
        first = accounts.sso_log_in(team, CLAIMS["email"], identity)
    with clock.pinned(NOW + dt.timedelta(minutes=10)):  # a page refresh: the same identity cookie
        assert accounts.sso_log_in(team, CLAIMS["email"], identity).token == first.token
    assert one(team, "SELECT count(*) FROM sessions") == (1,)
    accounts.log_out(team, first.token)
    with clock.pinned(NOW + dt.timedelta(minutes=11)), pytest.raises(UserError) as ended:
        accounts.sso_log_in(team, CLAIMS["email"], identity)
    assert ended.value.message == accounts.SSO_ENDED
    # signing in at the provider again is a new identity, and a new session
    again = accounts.sso_identity(dict(CLAIMS, iat=CLAIMS["iat"] + 3600))
    with clock.pinned(NOW + dt.timedelta(minutes=12)):
        assert accounts.sso_log_in(team, CLAIMS["email"], again).token != first.token


def test_idle_expiry_ends_a_sign_in_like_a_password_session(team: Archive) -> None:
    identity = accounts.sso_identity(CLAIMS)
    with clock.pinned(NOW):
        accounts.sso_log_in(team, CLAIMS["email"], identity)
    with clock.pinned(NOW + dt.timedelta(minutes=31)), pytest.raises(UserError, match="已结束"):
        accounts.sso_log_in(team, CLAIMS["email"], identity)


def test_the_identity_digest_names_one_sign_in() -> None:
    assert accounts.sso_identity(CLAIMS) == accounts.sso_identity(dict(CLAIMS, email="other@example.com"))
    assert accounts.sso_identity(CLAIMS) != accounts.sso_identity(dict(CLAIMS, sub="u-43"))
    assert accounts.sso_identity({"sub": "u-42"}) is None  # no issue time: nothing to tie a session to


def test_registering_an_address_is_for_admins_one_account_each_and_audited(team: Archive) -> None:
    admin = Actor("admin", "管理员")
    assert accounts.set_email(team, admin, "王磊", "Wang.Lei@Example.com ") == "wang.lei@example.com"
    assert accounts.user_emails(team) == {"周涛": "zhou.tao@example.com", "王磊": "wang.lei@example.com"}
    with pytest.raises(UserError, match="已登记给用户「周涛」"):
        accounts.set_email(team, admin, "王磊", "ZHOU.TAO@example.com")
    with pytest.raises(UserError, match="不是有效的邮箱地址"):
        accounts.set_email(team, admin, "王磊", "not an address")
    with pytest.raises(PermissionDenied, match="只有管理员可以管理用户"):
        accounts.set_email(team, Actor("王磊", "销售"), "王磊", "me@example.com")
    with pytest.raises(UserError, match="没有用户"):
        accounts.set_email(team, admin, "陌生人", "x@example.com")
    assert accounts.set_email(team, admin, "王磊", "") is None
    assert "王磊" not in accounts.user_emails(team)
    (detail,) = one(team, "SELECT detail FROM audit_log WHERE action = 'user_email' ORDER BY id LIMIT 1")
    assert "wang.lei@example.com" in detail
    with pytest.raises(UserError, match="已登记给其他用户"):
        accounts.add_user(team, admin, "小周", "只读", "viewer-pass-2026", email="zhou.tao@example.com")
