"""Log-in through AppTest: a visitor sees only the log-in page, on every url; roles get only
their pages; a wrong password is a message; log-out ends the session."""
from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from crm.db import close_all, open_archive
from crm.seed import DEMO_PASSWORDS, seed_demo

APP = Path(__file__).resolve().parents[2] / "app.py"


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("login") / "demo.duckdb"
    archive = open_archive(db)
    seed_demo(archive, customers=200, seed=3)
    archive.close()
    return db


@pytest.fixture
def visitor(demo: Path, monkeypatch):
    monkeypatch.setenv("CRM_DB", str(demo))
    monkeypatch.delenv("CRM_USER", raising=False)
    st.cache_resource.clear()

    def open_(page: str | None = None, query: dict | None = None) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=60)
        for k, v in (query or {}).items():
            at.query_params[k] = v
        at.run()
        if page:  # a deep link: the url path of the page asked for
            at.switch_page(Path(page).stem).run()
        assert not at.exception, at.exception
        return at

    yield open_
    st.cache_resource.clear()
    close_all()


def log_in(at: AppTest, name: str, password: str) -> AppTest:
    at.text_input(key="auth_username").set_value(name)
    at.text_input(key="auth_password").set_value(password)
    next(b for b in at.button if b.label == "登录").click().run()
    assert not at.exception, at.exception
    return at


def test_a_visitor_sees_only_the_log_in_page(visitor) -> None:
    """(Every url shows it too: tests/browser/test_login_browser.py opens the deep links.)"""
    at = visitor()
    assert [t.value for t in at.title] == ["登录客户档案"]
    assert [t.label for t in at.text_input] == ["用户名", "密码"]
    assert not at.metric and not at.dataframe  # no customer data, no counts before log-in
    assert any("演示账号" in i.value for i in at.info)


def test_a_wrong_password_is_a_message(visitor) -> None:
    at = log_in(visitor(), "admin", "not-the-password")
    assert [e.value for e in at.error] == ["用户名或密码不正确"]
    assert [t.value for t in at.title] == ["登录客户档案"]


def test_after_log_in_the_user_is_named_in_the_sidebar(visitor) -> None:
    at = log_in(visitor(), "周涛", DEMO_PASSWORDS["经理"])
    assert [t.value for t in at.title] == ["档案概况"]
    assert any("周涛（经理）" in c.value for c in at.sidebar.caption)


def test_each_role_gets_only_its_pages(visitor) -> None:
    from app import PAGES, allowed_pages
    from crm.auth.personal import Actor

    viewer = [title for _, title, *_ in allowed_pages(Actor("访客", "只读"))]
    assert "数据导入" not in viewer and "跟进队列" not in viewer and "客户查询" in viewer
    assert allowed_pages(Actor("王磊", "销售")) == [p for p in PAGES if p[3] != "admin"]  # 系统管理: admins only
    at = log_in(visitor(), "访客", DEMO_PASSWORDS["只读"])
    with pytest.raises(ValueError):  # not registered for a viewer at all
        at.switch_page("pages/import.py")


def test_log_out_ends_the_session(visitor) -> None:
    at = log_in(visitor(), "王磊", DEMO_PASSWORDS["销售"])
    assert [t.value for t in at.title] == ["档案概况"]
    token = at.session_state["auth_token"]
    next(b for b in at.sidebar.button if b.label == "退出登录").click().run()
    assert [t.value for t in at.title] == ["登录客户档案"]
    import os

    from crm.auth import accounts

    assert accounts.current_session(open_archive(os.environ["CRM_DB"]), token) is None
