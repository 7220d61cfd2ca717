"""系统管理 (admins only): accounts and roles, the audit log, every rule setting, backups and
restore, destroying a customer's archive.

The writes live in crm.auth.accounts, crm.settings and crm.admin (each checks the policy and is
audited there); this file lays them out. Views, not tabs: only the chosen one runs.
"""
from __future__ import annotations

from typing import Callable

import pandas as pd
import streamlit as st

from crm import clock
from crm.admin import audit_log, backup, destruction
from crm.auth import accounts, audit, policy
from crm.errors import UserError
from crm.settings import AREAS, settings_rows
from crm.vocabulary import ROLE_LABELS, ROLES, user_label
from crm.xlsx import XLSX_MIME
from ui.common import (
    code,
    current_actor,
    ensure_app_navigation,
    filter_panel,
    flash,
    get_archive,
    plain,
    settings_form,
    show_flash,
    show_table,
)

ensure_app_navigation()

archive = get_archive()
actor = current_actor()

st.title("系统管理")
if not policy.allowed(actor, "pages.admin"):  # not in a non-admin's navigation at all; and not here either
    st.error(policy.POLICY["pages.admin"].refusal)
    st.stop()
show_flash("adm")

VIEWS = ["用户", "操作日志", "规则设置", "备份恢复", "销毁档案"]
if st.session_state.get("adm_view") not in VIEWS:
    st.session_state["adm_view"] = VIEWS[0]
view = st.segmented_control("视图", VIEWS, key="adm_view", required=True, label_visibility="collapsed")
ALL = "（全部）"


def _done(message: str) -> None:
    flash("adm", "success", message)
    st.rerun()


def _refused(exc: UserError) -> None:
    flash("adm", "error", exc.message)
    st.rerun()


# ------------------------------------------------------------------ users and roles
def users_view() -> None:
    now = clock.now()
    rows = accounts.list_users(archive)
    emails = accounts.user_emails(archive)
    frame = pd.DataFrame([{"用户名": name, "姓名": display, "角色": ROLE_LABELS.get(role, role),
                           "状态": "已停用" if not active else ("已锁定" if locked and locked > now else "正常"),
                           "单点登录邮箱": emails.get(name), "创建时间": created}
                          for name, display, role, active, locked, created in rows],
                         columns=["用户名", "姓名", "角色", "状态", "单点登录邮箱", "创建时间"])
    if frame.empty:
        st.info("还没有任何账号。请先新建一位管理员：之后所有人都需要登录。")
    else:
        show_table(frame, column_config={"创建时间": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")})

    with st.expander("新建用户", icon=":material/person_add:", expanded=frame.empty):
        with st.form("adm_add_user", border=False):
            c1, c2, c3 = st.columns(3)
            name = c1.text_input("用户名", key="adm_new_name", max_chars=64)
            display = c2.text_input("姓名（可选）", key="adm_new_display", max_chars=64)
            role = c3.selectbox("角色", ROLES, key="adm_new_role", format_func=lambda r: ROLE_LABELS.get(r, r))
            c4, c5, c6 = st.columns(3)
            first = c4.text_input("密码", type="password", key="adm_new_pw", max_chars=accounts.MAX_INPUT)
            again = c5.text_input("再次输入密码", type="password", key="adm_new_pw2", max_chars=accounts.MAX_INPUT)
            email = c6.text_input("单点登录邮箱（可选）", key="adm_new_email", max_chars=254,
                                  help="配置了单点登录时，身份提供方确认的这个邮箱登录为该用户")
            submitted = st.form_submit_button("新建用户", type="primary")
        if submitted:
            if first != again:
                st.error("两次输入的密码不一致")
            else:
                try:
                    accounts.add_user(archive, actor, name, role, first, display.strip() or None, email or None)
                except UserError as exc:
                    st.error(plain(exc.message))
                else:
                    _done(f"已新建用户 {name.strip()}（{role}）")

    if frame.empty:
        return
    st.subheader("管理用户")
    by_name = {r[0]: r for r in rows}
    pick = st.selectbox("用户", list(by_name), key="adm_user_pick")
    _, _, role, active, locked, _ = by_name[pick]
    c1, c2, c3 = st.columns(3)
    if active:
        if c1.button("停用账号", key="adm_disable", icon=":material/block:", help="停用后该用户的登录立即结束"):
            _act(lambda: accounts.set_active(archive, actor, pick, False), f"已停用 {pick}，其登录已全部结束")
    elif c1.button("启用账号", key="adm_enable", icon=":material/check_circle:"):
        _act(lambda: accounts.set_active(archive, actor, pick, True), f"已启用 {pick}")
    if c2.button("解锁", key="adm_unlock", icon=":material/lock_open:", disabled=not (locked and locked > clock.now()),
                 help="密码错误次数过多被锁定的账号，可在此立即解锁"):
        _act(lambda: accounts.unlock(archive, actor, pick), f"已解锁 {pick}")
    with c3.form("adm_role_form", border=False):
        new_role = st.selectbox("角色", ROLES, index=ROLES.index(role) if role in ROLES else 0, key="adm_role",
                                format_func=lambda r: ROLE_LABELS.get(r, r))
        if st.form_submit_button("更改角色"):
            _act(lambda: accounts.change_role(archive, actor, pick, new_role), f"{pick} 的角色已改为 {new_role}")
    with st.form("adm_email_form"):
        address = st.text_input(f"{pick} 的单点登录邮箱（留空则取消）", value=emails.get(pick, ""), key=f"adm_email_{pick}",
                                max_chars=254, help="配置了单点登录时，身份提供方确认的这个邮箱登录为该用户")
        if st.form_submit_button("保存邮箱"):
            _act(lambda: accounts.set_email(archive, actor, pick, address or None),
                 f"{pick} 的单点登录邮箱已改为 {address.strip().lower()}" if address.strip() else f"已取消 {pick} 的单点登录邮箱")
    with st.form("adm_password_form"):
        st.caption(plain(f"为 {pick} 重置密码：其现有登录会全部结束。"))
        p1, p2 = st.columns(2)
        first = p1.text_input("新密码", type="password", key="adm_reset_pw", max_chars=accounts.MAX_INPUT)
        again = p2.text_input("再次输入新密码", type="password", key="adm_reset_pw2", max_chars=accounts.MAX_INPUT)
        if st.form_submit_button("重置密码"):
            if first != again:
                st.error("两次输入的密码不一致")
            else:
                _act(lambda: accounts.set_password(archive, actor, pick, first), f"已重置 {pick} 的密码，其登录已全部结束")


def _act(call: Callable[[], object], message: str) -> None:
    """Run one account action: its refusal or its success as the next run's message."""
    try:
        call()
    except UserError as exc:
        _refused(exc)
    else:
        _done(message)


# ------------------------------------------------------------------ the audit log
def log_view() -> None:
    state = st.session_state
    shown = audit_log.AuditFilter(None if state.get("adm_log_user") in (None, ALL) else state["adm_log_user"],
                                  None if state.get("adm_log_action") in (None, ALL) else state["adm_log_action"],
                                  state.get("adm_log_start"), state.get("adm_log_end"),
                                  (state.get("adm_log_customer") or "").strip() or None)
    with filter_panel("筛选：" + plain(audit_log.filter_text(shown)), key="adm_log_filters"):
        f1, f2, f3, f4, f5 = st.columns(5)
        user = f1.selectbox("用户", [ALL, *audit_log.users(archive)], key="adm_log_user", format_func=user_label)
        action = f2.selectbox("操作", [ALL, *audit.ACTIONS], key="adm_log_action",
                              format_func=lambda a: audit.ACTIONS.get(a, a))
        start = f3.date_input("开始日期", value=None, key="adm_log_start")
        end = f4.date_input("结束日期", value=None, key="adm_log_end")
        customer = f5.text_input("客户编号", key="adm_log_customer", help="该客户的档案、其跟进、投诉等记录上的操作")
    filters = audit_log.AuditFilter(None if user == ALL else user, None if action == ALL else action, start, end,
                                    customer.strip() or None)
    if start and end and start > end:
        st.warning("开始日期晚于结束日期。")
    frame, total = audit_log.entries(archive, actor, filters)
    st.caption(f"共 {total} 条" + (f"（显示最新 {audit_log.PAGE_ROWS} 条，导出包含全部）" if total > audit_log.PAGE_ROWS else ""))
    if frame.empty:
        st.info("没有符合条件的操作日志。")
    else:
        show_table(frame, column_config={"编号": st.column_config.NumberColumn(format="%d"),
                                         "时间": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss"),
                                         "详情": st.column_config.TextColumn(width="large")})
    c1, c2 = st.columns(2)
    c1.download_button("导出操作日志（Excel）", data=lambda: audit_log.export(archive, actor, filters),
                       file_name=f"操作日志_{clock.today():%Y%m%d}.xlsx", mime=XLSX_MIME, key="adm_log_export",
                       on_click="ignore", icon=":material/download:", disabled=frame.empty)
    if c2.button("校验哈希链", key="adm_log_verify", icon=":material/verified:",
                 help="逐条重算操作日志的哈希链，报告第一处被改动、删除或插入的记录"):
        report = audit_log.verify(archive, actor)
        flash("adm", "success" if report.ok else "error", report.message)
        st.rerun()


# ------------------------------------------------------------------ every setting
def settings_view() -> None:
    st.caption("每项设置都会校验取值范围，修改记入操作日志，保存后立即生效（无需重启）。")
    for name, area in AREAS.items():
        st.subheader(area.label)
        show_table(pd.DataFrame([{"设置": r["label"], "当前值": r["value"], "默认值": r["default"], "单位": r["unit"],
                                  "含义": r["help"]} for r in settings_rows(archive, name)]))
        try:
            changed = settings_form(f"adm_settings_{name}", f"adm_{name}_", area.specs, area.read(archive),
                                    lambda field, value, area=area: area.store(archive, actor, field, value),
                                    f"保存{area.label}", 3)
        except UserError as exc:
            _refused(exc)
        if changed is not None:
            _done("已保存：" + "；".join(changed) if changed else f"{area.label}没有变化")


# ------------------------------------------------------------------ backups and restore
def _restore() -> None:
    """The 恢复 button's callback (it runs before the page, so the confirmation can be cleared)."""
    name = st.session_state.get("adm_restore_pick")
    try:
        result = backup.restore_backup(archive, actor, backup.find_backup(archive, name),
                                       confirmed=bool(st.session_state.get("adm_restore_confirm")))
    except UserError as exc:
        flash("adm", "error", exc.message)
        return
    st.session_state["adm_restore_confirm"] = False
    st.cache_data.clear()  # pages' cached results were computed from the data just replaced
    flash("adm", "success", result.message)


def backup_view() -> None:
    folder = backup.backup_dir(archive)
    st.caption(f"备份保存在 {code(folder)}（环境变量 `CRM_BACKUP_DIR` 可改）。定时备份可用命令 `python -m crm backup`，"
               "恢复用 `python -m crm restore 文件 --yes`。")
    if st.button("立即备份", key="adm_backup", type="primary", icon=":material/backup:"):
        try:
            made = backup.create_backup(archive, actor)
        except UserError as exc:
            _refused(exc)
        else:
            _done(f"已备份为 {made.name}（{backup.size_text(made.size)}）")
    backups = backup.list_backups(archive)
    if not backups:
        st.info("还没有备份。")
        return
    show_table(pd.DataFrame([{"文件": b.name, "大小": backup.size_text(b.size), "时间": b.created_at, "创建人": b.created_by,
                              "客户数": b.customers, "说明": b.note} for b in backups]),
               column_config={"时间": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss"),
                              "客户数": st.column_config.NumberColumn(format="%d")})
    st.subheader("从备份恢复")
    st.selectbox("备份", [b.name for b in backups], key="adm_restore_pick")
    st.warning("恢复会用所选备份替换当前档案的全部数据（客户、记录、设置、操作日志）；账号和登录保持不变。"
               "恢复前会自动备份当前档案，备份之后销毁的客户档案会再次销毁。", icon=":material/warning:")
    confirmed = st.checkbox("我确认用所选备份覆盖当前档案", key="adm_restore_confirm")
    st.button("恢复", key="adm_restore", type="primary", disabled=not confirmed, on_click=_restore,
              icon=":material/settings_backup_restore:")


# ------------------------------------------------------------------ destroying a customer's archive
def _summary(removed: dict[str, int]) -> str:
    return "、".join(f"{destruction.table_label(t)} {n}" for t, n in removed.items())


def destroy_view() -> None:
    st.caption("销毁会从档案的每一张表中删除该客户的个人信息和记录，操作日志保留（其中的修改内容被抹去），"
               "并留下销毁记录（谁、何时、原因、删除了多少，不含数据本身）。此操作无法撤销。")
    c1, c2 = st.columns([1, 2])
    cid = c1.text_input("客户编号", key="adm_del_id").strip()
    reason = c2.text_area("销毁原因（必填）", key="adm_del_reason", max_chars=destruction.MAX_REASON, height=80)
    if st.button("预览将删除的内容", key="adm_del_preview", icon=":material/preview:"):
        try:
            st.session_state["adm_del_plan"] = destruction.plan(archive, actor, cid)
        except UserError as exc:
            st.session_state.pop("adm_del_plan", None)
            st.error(plain(exc.message))
    plan = st.session_state.get("adm_del_plan")
    if plan is not None and plan.customer_id == cid:
        st.warning(plain(f"将销毁客户 {plan.customer_id}（{plan.name or '未填姓名'}）的档案，以下内容将被删除："),
                   icon=":material/delete_forever:")
        show_table(pd.DataFrame([{"数据表": destruction.table_label(t), "行数": n} for t, n in plan.removed.items()]))
        if plan.backups:
            st.caption(plain("以下备份仍含有该客户的资料（销毁不会改动备份，会写入销毁记录）：" + "、".join(plan.backups)))
        confirmed = st.checkbox("我确认销毁该客户的档案，且知道无法撤销", key="adm_del_confirm")
        if st.button("确认销毁", key="adm_del_go", type="primary", disabled=not confirmed, icon=":material/delete_forever:"):
            try:
                record = destruction.destroy(archive, actor, cid, reason)
            except UserError as exc:
                st.error(plain(exc.message))
            else:
                st.session_state.pop("adm_del_plan", None)
                st.cache_data.clear()
                _done(f"已销毁客户 {record.customer_id} 的档案（销毁记录 {record.id}）：{_summary(record.removed)}")
    st.subheader("销毁记录")
    records = destruction.list_destructions(archive, actor)
    if not records:
        st.caption("还没有销毁记录。")
        return
    show_table(pd.DataFrame([{"时间": r.destroyed_at, "客户编号": r.customer_id, "操作人": r.destroyed_by, "原因": r.reason,
                              "删除内容": _summary(r.removed), "仍含该客户的备份": "、".join(r.backups) or "无"}
                             for r in records]),
               column_config={"时间": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss")})


{"用户": users_view, "操作日志": log_view, "规则设置": settings_view, "备份恢复": backup_view, "销毁档案": destroy_view}[view]()
