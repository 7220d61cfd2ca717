"""What the 系统管理 page does to accounts and settings: change a role (audited, takes effect on the
next page), the last admin cannot be demoted or disabled, the log-in settings are validated and
audited; every one of these, and every new admin write in crm/, is refused to a viewer or a sales user."""
from __future__ import annotations

import json

import pytest
from conftest import one

from crm.admin import audit_log, backup, destruction
from crm.auth import accounts
from crm.auth.personal import Actor
from crm.auth.policy import PermissionDenied
from crm.db import Archive
from crm.errors import UserError
from crm.settings import AREAS, SettingError, security_settings, set_security_setting
from crm.vocabulary import ADMIN, LEAD, SALES, VIEWER

BOSS = Actor("老板", ADMIN)


@pytest.fixture
def team(archive: Archive) -> Archive:
    accounts.add_user(archive, "cli", "老板", ADMIN, "boss-password-1")
    accounts.add_user(archive, "cli", "小李", SALES, "sales-password-1")
    return archive


def test_changing_a_role_is_audited_and_counts_from_the_next_page(team: Archive) -> None:
    session = accounts.log_in(team, "小李", "sales-password-1")
    assert accounts.change_role(team, BOSS, "小李", LEAD) == (SALES, LEAD)
    assert accounts.current_session(team, session.token).role == LEAD
    entry = one(team, "SELECT user_name, entity_id, detail FROM audit_log WHERE action = 'user_role'")
    assert entry[:2] == ("老板", "小李") and json.loads(entry[2]) == {"old": SALES, "new": LEAD}
    assert accounts.change_role(team, BOSS, "小李", LEAD) == (LEAD, LEAD)  # no change, no entry
    assert one(team, "SELECT count(*) FROM audit_log WHERE action = 'user_role'") == (1,)
    with pytest.raises(UserError, match="角色须为"):
        accounts.change_role(team, BOSS, "小李", "老大")
    with pytest.raises(UserError, match="没有用户「谁」"):
        accounts.change_role(team, BOSS, "谁", SALES)


def test_the_last_admin_keeps_the_role_and_stays_active(team: Archive) -> None:
    with pytest.raises(UserError, match="唯一可登录的管理员，不能改为其他角色"):
        accounts.change_role(team, BOSS, "老板", SALES)
    with pytest.raises(UserError, match="唯一可登录的管理员，不能停用"):
        accounts.set_active(team, BOSS, "老板", False)
    accounts.change_role(team, BOSS, "小李", ADMIN)
    accounts.change_role(team, BOSS, "老板", SALES)  # another admin exists now
    assert one(team, "SELECT role FROM users WHERE username = '老板'") == (SALES,)


def test_unlock_names_an_unknown_user(team: Archive) -> None:
    with pytest.raises(UserError, match="没有用户「谁」"):
        accounts.unlock(team, BOSS, "谁")


def test_security_settings_are_validated_and_audited(team: Archive) -> None:
    assert set_security_setting(team, BOSS, "idle_minutes", 45) == (30, 45)
    assert security_settings(team).idle_minutes == 45
    with pytest.raises(SettingError, match="空闲退出时间必须在 5 到 1440 分钟之间"):
        set_security_setting(team, BOSS, "idle_minutes", 1)
    entry = one(team, "SELECT entity_id, detail FROM audit_log WHERE action = 'setting'")
    assert entry[0] == "security.idle_minutes" and json.loads(entry[1]) == {"old": 30, "new": 45}
    assert set(AREAS) == {"segments", "followups", "complaints", "security"}


@pytest.mark.parametrize("role", [VIEWER, SALES])
def test_a_viewer_or_sales_user_is_refused_every_admin_write(team: Archive, role: str) -> None:
    actor = Actor("小李", role)
    calls = {
        "change_role": lambda: accounts.change_role(team, actor, "小李", ADMIN),
        "set_active": lambda: accounts.set_active(team, actor, "老板", False),
        "unlock": lambda: accounts.unlock(team, actor, "老板"),
        "set_password": lambda: accounts.set_password(team, actor, "老板", "new-password-99"),
        "add_user": lambda: accounts.add_user(team, actor, "新人", ADMIN, "new-password-99"),
        "backup": lambda: backup.create_backup(team, actor),
        "restore": lambda: backup.restore_backup(team, actor, "whatever.duckdb", confirmed=True),
        "destroy": lambda: destruction.destroy(team, actor, "C1", "理由"),
        "audit_export": lambda: audit_log.export(team, actor, audit_log.AuditFilter()),
        "audit_verify": lambda: audit_log.verify(team, actor),
        "audit_entries": lambda: audit_log.entries(team, actor, audit_log.AuditFilter()),
        **{f"setting_{name}": (lambda area=area: area.store(team, actor, area.specs[0].name, area.specs[0].default))
           for name, area in AREAS.items()},
    }
    for name, call in calls.items():
        with pytest.raises(PermissionDenied) as refused:
            call()
        assert "只有管理员" in refused.value.message, name
    assert one(team, "SELECT role, active FROM users WHERE username = '老板'") == (ADMIN, True)


def test_the_command_line_changes_a_role(tmp_path) -> None:
    import subprocess
    import sys
    from pathlib import Path

    from crm.db import open_archive

    db = tmp_path / "cli.duckdb"
    archive = open_archive(db)
    accounts.add_user(archive, "cli", "老板", ADMIN, "boss-password-1")
    accounts.add_user(archive, "cli", "小李", SALES, "sales-password-1")
    archive.close()

    def crm(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "crm", "user", *args, "--db", str(db)], capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parents[2], timeout=120)

    missing = crm("role", "小李")
    assert missing.returncode == 1 and "--role" in missing.stderr
    changed = crm("role", "小李", "--role", LEAD)
    assert changed.returncode == 0 and f"{SALES} → {LEAD}" in changed.stdout, changed.stderr
    last = crm("role", "老板", "--role", VIEWER)
    assert last.returncode == 1 and "唯一可登录的管理员" in last.stderr and "Traceback" not in last.stderr
