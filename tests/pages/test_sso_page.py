"""Single sign-on on the log-in page through AppTest: the `[auth]` secrets section is faked with
`AppTest.secrets` and the provider's sign-in with `AppTest.user` (what st.user reads after
st.login). The provider round trip itself (st.login's redirect) cannot run in AppTest: the button
that starts it is checked to be offered, and what follows it is the identity in `AppTest.user`."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from conftest import one
from streamlit.testing.v1 import AppTest

from crm.auth import accounts
from crm.db import close_all, open_archive
from crm.seed import seed_demo
from ui.common import plain

APP = Path(__file__).resolve().parents[2] / "app.py"
SECRETS = {"auth": {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "c" * 32,
                    "client_id": "crm", "client_secret": "secret",
                    "server_metadata_url": "https://idp.example.com/.well-known/openid-configuration"}}
IDENTITY = {"is_logged_in": True, "iss": "https://idp.example.com", "sub": "u-42", "iat": 1796115600,
            "email": "zhou.tao@example.com", "email_verified": True}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("sso") / "demo.duckdb"
    archive = open_archive(db)
    seed_demo(archive, customers=40, seed=3)
    accounts.set_email(archive, "cli", "周涛", "Zhou.Tao@example.com")
    archive.close()
    return db


@pytest.fixture
def browser(demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """open(user=None, secrets=SECRETS) → a finished AppTest of app.py on a copy of the demo archive
    (the same copy for every call in a test: several calls are a refresh of the same browser)."""
    import shutil

    db = tmp_path / "crm.duckdb"
    shutil.copy(demo, db)
    monkeypatch.setenv("CRM_DB", str(db))
    monkeypatch.delenv("CRM_USER", raising=False)
    st.cache_resource.clear()

    def open_(user: dict[str, Any] | None = None, secrets: dict[str, Any] | None = SECRETS) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=60)
        if secrets:
            at.secrets = dict(secrets)
        at.user = dict(user) if user is not None else {"is_logged_in": False}
        at.run()
        assert not at.exception, at.exception
        return at

    open_.db = db  # type: ignore[attr-defined]
    yield open_
    st.cache_resource.clear()
    close_all()


def titles(at: AppTest) -> list[str]:
    return [t.value for t in at.title]


def sessions(db: Path) -> int:
    return one(open_archive(db), "SELECT count(*) FROM sessions")[0]


def test_without_an_auth_section_only_the_password_form_is_offered(browser) -> None:
    at = browser(secrets=None)
    assert titles(at) == ["登录客户档案"]
    assert not [b for b in at.button if b.key and b.key.startswith("auth_sso")]


def test_with_an_auth_section_the_log_in_page_offers_single_sign_on(browser) -> None:
    at = browser()
    assert titles(at) == ["登录客户档案"]
    assert [b.label for b in at.button if b.key == "auth_sso_default"] == ["单点登录"]
    assert [t.label for t in at.text_input] == ["用户名", "密码"]  # passwords still work
    assert any("单点登录" in c.value for c in at.caption)


def test_named_providers_each_get_a_button(browser) -> None:
    named = {"auth": {k: v for k, v in SECRETS["auth"].items() if k in ("redirect_uri", "cookie_secret")}
             | {"microsoft": {"client_id": "a", "client_secret": "b", "server_metadata_url": "https://m/x"},
                "okta": {"client_id": "c", "client_secret": "d", "server_metadata_url": "https://o/x"}}}
    at = browser(secrets=named)
    assert [b.label for b in at.button if (b.key or "").startswith("auth_sso_")] == ["使用 microsoft 登录", "使用 okta 登录"]


def test_a_signed_in_identity_opens_the_app_as_the_user_registered_with_its_email(browser) -> None:
    at = browser(IDENTITY)
    assert titles(at) == ["档案概况"]
    assert any("周涛（经理）" in c.value for c in at.sidebar.caption)
    (user, detail) = one(open_archive(browser.db), "SELECT user_name, detail FROM audit_log WHERE action = 'login' "
                                                   "ORDER BY id DESC LIMIT 1")
    assert user == "周涛" and "单点登录" in detail
    # a page refresh (a new Streamlit session, the same identity cookie) resumes that session
    again = browser(IDENTITY)
    assert titles(again) == ["档案概况"]
    assert sessions(browser.db) == 1


def test_an_unknown_email_is_refused_in_chinese_once(browser) -> None:
    at = browser(dict(IDENTITY, email="stranger@example.com"))
    assert titles(at) == ["登录客户档案"]
    assert [e.value for e in at.error] == [plain(accounts.SSO_UNKNOWN.format(email="stranger@example.com"))]
    assert any(b.key == "auth_sso_logout" for b in at.button)  # to sign in at the provider as someone else
    at.run()  # a rerun does not try (and audit) the same refused sign-in again
    failed = one(open_archive(browser.db), "SELECT count(*) FROM audit_log WHERE action = 'login_failed' "
                                           "AND entity_id = 'stranger@example.com'")[0]
    assert failed == 1 and sessions(browser.db) == 0


def test_log_out_ends_the_session_and_the_identity(browser) -> None:
    at = browser(IDENTITY)
    token = at.session_state["auth_token"]
    next(b for b in at.sidebar.button if b.label == "退出登录").click().run()
    assert not at.exception, at.exception
    assert titles(at) == ["登录客户档案"]
    assert at.user.get("is_logged_in") is False  # st.logout cleared the provider's identity
    assert accounts.current_session(open_archive(browser.db), token) is None
    # a browser that kept the old identity cookie opens nothing with it
    stale = browser(IDENTITY)
    assert titles(stale) == ["登录客户档案"]
    assert [i.value for i in stale.info if "单点登录已结束" in i.value]
