"""系统管理 through AppTest: an empty archive (set-up mode) and a seeded one; only admins have the page;
each view once through its widgets: users and roles, the audit log with the chain check, every
settings area, backup and restore with the confirmation, destroying a customer's archive."""
from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from crm import clock
from crm.db import fetch_one, open_archive
from crm.seed import DEMO_PASSWORDS, seed_demo

PAGE = "pages/admin.py"
TODAY = dt.date(2026, 12, 1)


@pytest.fixture(autouse=True)
def pinned() -> object:
    with clock.pinned(dt.datetime(2026, 12, 1, 10, 0)):
        yield


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("admin") / "seeded.duckdb"
    archive = open_archive(db)
    seed_demo(archive, customers=150, seed=5, today=TODAY)
    archive.close()
    return db


@pytest.fixture
def work(seeded: Path, tmp_path: Path) -> Path:
    """A copy of the seeded archive of the test's own (its backups folder too)."""
    db = tmp_path / "work.duckdb"
    shutil.copy(seeded, db)
    return db


def one(db: Path, sql: str, params: list | None = None) -> tuple:
    cur = open_archive(db).cursor()
    try:
        return fetch_one(cur, sql, params or [])
    finally:
        cur.close()


def click(at, label: str):
    next(b for b in at.button if b.label == label).click().run()
    assert not at.exception, at.exception
    return at


def texts(elements) -> list[str]:
    return [e.value for e in elements]


def test_an_empty_archive_in_set_up_mode_creates_the_first_admin(tmp_path: Path, app_test) -> None:
    db = tmp_path / "empty.duckdb"
    at = app_test(db, PAGE)
    assert texts(at.title) == ["系统管理"]
    assert list(at.button_group(key="adm_view").options) == ["用户", "操作日志", "规则设置", "备份恢复", "销毁档案"]
    assert any("还没有任何账号" in i for i in texts(at.info))
    at.text_input(key="adm_new_name").set_value("主管理员")
    at.selectbox(key="adm_new_role").set_value("管理员")
    at.text_input(key="adm_new_pw").set_value("first-admin-pass")
    at.text_input(key="adm_new_pw2").set_value("first-admin-pass")
    click(at, "新建用户")
    assert one(db, "SELECT role, active FROM users WHERE username = '主管理员'") == ("管理员", True)
    assert any("请重新登录" in w for w in texts(at.warning))  # from the first account on, everyone logs in
    for view in ("操作日志", "备份恢复", "销毁档案", "规则设置"):
        other = app_test(tmp_path / f"empty-{view}.duckdb", PAGE, session={"adm_view": view})
        assert texts(other.title) == ["系统管理"] and not other.exception


def test_only_admins_have_the_page(seeded: Path, app_test) -> None:
    at = app_test(seeded, PAGE, user="admin")
    assert texts(at.title) == ["系统管理"]
    assert any(r == "管理员" for r in at.dataframe[0].value["角色"])
    for user in ("周涛", "孙丽", "王磊", "访客"):
        other = app_test(seeded)  # as admin; then log out and in as that user, through the form
        next(b for b in other.sidebar.button if b.label == "退出登录").click().run()
        other.text_input(key="auth_username").set_value(user)
        role = one(seeded, "SELECT role FROM users WHERE username = ?", [user])[0]
        other.text_input(key="auth_password").set_value(DEMO_PASSWORDS[role])
        click(other, "登录")
        with pytest.raises(ValueError):  # not registered in their navigation at all
            other.switch_page(PAGE)


def test_users_roles_disable_and_reset(work: Path, app_test) -> None:
    at = app_test(work, PAGE)
    at.selectbox(key="adm_user_pick").set_value("李娜").run()
    at.selectbox(key="adm_role").set_value("主管")
    click(at, "更改角色")
    assert any("李娜 的角色已改为 主管" in s for s in texts(at.success))
    assert one(work, "SELECT role FROM users WHERE username = '李娜'") == ("主管",)
    at.selectbox(key="adm_user_pick").set_value("张敏").run()
    click(at, "停用账号")
    assert one(work, "SELECT active FROM users WHERE username = '张敏'") == (False,)
    assert "已停用" in set(at.dataframe[0].value["状态"])
    at.selectbox(key="adm_user_pick").set_value("刘洋").run()
    at.text_input(key="adm_reset_pw").set_value("short")
    at.text_input(key="adm_reset_pw2").set_value("short")
    click(at, "重置密码")
    assert any("密码至少需要 10 个字符" in e for e in texts(at.error))
    at.selectbox(key="adm_user_pick").set_value("admin").run()
    at.selectbox(key="adm_role").set_value("销售")
    click(at, "更改角色")
    assert any("唯一可登录的管理员" in e for e in texts(at.error))
    actions = {a for (a,) in open_archive(work).cursor().execute("SELECT action FROM audit_log WHERE user_name = 'admin'").fetchall()}
    assert {"user_role", "user_disable"} <= actions


def test_single_sign_on_addresses_are_registered_per_user(work: Path, app_test) -> None:
    at = app_test(work, PAGE)
    at.selectbox(key="adm_user_pick").set_value("李娜").run()
    at.text_input(key="adm_email_李娜").set_value("Li.Na@Example.com")
    click(at, "保存邮箱")
    assert any("李娜 的单点登录邮箱已改为" in s and "example.com" in s for s in texts(at.success))
    assert one(work, "SELECT email FROM users WHERE username = '李娜'") == ("li.na@example.com",)
    assert "li.na@example.com" in set(at.dataframe[0].value["单点登录邮箱"])
    at.selectbox(key="adm_user_pick").set_value("张敏").run()
    at.text_input(key="adm_email_张敏").set_value("li.na@example.com")
    click(at, "保存邮箱")
    assert any("已登记给用户「李娜」" in e for e in texts(at.error))
    at.text_input(key="adm_new_name").set_value("新同事")
    at.text_input(key="adm_new_pw").set_value("colleague-pass-1")
    at.text_input(key="adm_new_pw2").set_value("colleague-pass-1")
    at.text_input(key="adm_new_email").set_value("new@example.com")
    click(at, "新建用户")
    assert one(work, "SELECT email FROM users WHERE username = '新同事'") == ("new@example.com",)


def test_the_audit_log_filters_and_checks_its_chain(work: Path, app_test) -> None:
    at = app_test(work, PAGE, session={"adm_view": "操作日志"})
    frame = at.dataframe[0].value
    assert {"登录", "生成演示数据"} <= set(frame["操作"])
    at.selectbox(key="adm_log_action").set_value("login").run()
    assert set(at.dataframe[0].value["操作"]) == {"登录"}
    at.selectbox(key="adm_log_user").set_value("admin").run()
    assert set(at.dataframe[0].value["用户"]) == {"admin"} and any("共 " in c for c in texts(at.caption))
    assert at.get("download_button")  # the export (audited when downloaded: tests/admin/test_audit_log.py)
    click(at, "校验哈希链")
    assert any("操作日志哈希链完整" in s for s in texts(at.success))
    cur = open_archive(work).cursor()
    cur.execute("UPDATE audit_log SET user_name = '别人' WHERE action = 'seed'")
    cur.close()
    click(at, "校验哈希链")
    assert any("哈希链在第" in e and "记录内容被改动" in e for e in texts(at.error))


def test_every_settings_area_is_edited_here(work: Path, app_test) -> None:
    at = app_test(work, PAGE, session={"adm_view": "规则设置"})
    assert texts(at.subheader) == ["客户分类阈值", "跟进规则", "投诉处理与满意度", "登录与安全"]
    at.number_input(key="adm_security_idle_minutes").set_value(45)
    click(at, "保存登录与安全")
    assert any("空闲退出时间 30 → 45" in s for s in texts(at.success))
    assert one(work, "SELECT value FROM settings WHERE key = 'security.idle_minutes'") == ("45",)
    at.number_input(key="adm_complaints_days_normal").set_value(5)
    click(at, "保存投诉处理与满意度")
    assert one(work, "SELECT count(*) FROM audit_log WHERE action = 'setting'") == (2,)


def test_backup_then_restore_with_the_confirmation(work: Path, app_test) -> None:
    at = app_test(work, PAGE, session={"adm_view": "备份恢复"})
    assert any("还没有备份" in i for i in texts(at.info))
    click(at, "立即备份")
    assert any("已备份为" in s for s in texts(at.success))
    listed = at.dataframe[0].value
    assert len(listed) == 1 and listed["客户数"][0] == 150
    cur = open_archive(work).cursor()
    cur.execute("DELETE FROM interactions")
    cur.close()
    restore = next(b for b in at.button if b.label == "恢复")
    assert restore.disabled  # until the confirmation is ticked
    at.checkbox(key="adm_restore_confirm").check().run()
    click(at, "恢复")
    assert any("已从备份" in s and "校验和均与备份一致" in s for s in texts(at.success)), texts(at.error)
    assert one(work, "SELECT count(*) FROM interactions")[0] > 0
    assert at.checkbox(key="adm_restore_confirm").value is False
    assert len(at.dataframe[0].value) == 2  # and the archive as it was before, backed up first
    assert one(work, "SELECT user_name FROM audit_log WHERE action = 'restore'") == ("admin",)


def test_destroying_a_customers_archive_shows_what_goes_first(work: Path, app_test) -> None:
    cid, name = one(work, "SELECT customer_id, name FROM customers c WHERE EXISTS "
                          "(SELECT 1 FROM interactions i WHERE i.customer_id = c.customer_id) ORDER BY customer_id LIMIT 1")
    at = app_test(work, PAGE, session={"adm_view": "销毁档案"})
    at.text_input(key="adm_del_id").set_value(cid)
    click(at, "预览将删除的内容")
    assert any(cid in w and name in w for w in texts(at.warning))
    plan = at.dataframe[0].value
    assert {"客户档案", "互动记录"} <= set(plan["数据表"])
    assert next(b for b in at.button if b.label == "确认销毁").disabled  # not without the box ticked
    at.checkbox(key="adm_del_confirm").check().run()
    click(at, "确认销毁")
    assert any("请填写销毁原因" in e for e in texts(at.error))  # the reason is required
    at.text_area(key="adm_del_reason").set_value("客户要求删除个人信息")
    click(at, "确认销毁")
    assert any(f"已销毁客户 {cid} 的档案" in s for s in texts(at.success))
    assert one(work, "SELECT count(*) FROM customers WHERE customer_id = ?", [cid]) == (0,)
    records = at.dataframe[0].value
    assert list(records["客户编号"]) == [cid] and list(records["原因"]) == ["客户要求删除个人信息"]
    assert name not in " ".join(str(v) for v in records.to_numpy().ravel())
