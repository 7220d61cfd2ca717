"""数据导入: upload, preview (a dry run), map unknown columns, confirm, history with undo, blank templates.

Layout only: reading, previewing, mapping, importing and undoing live in crm/ (crm.imports.preview,
crm.imports.pipeline, crm.imports.rejects, crm.imports.batches). Widget and session keys start with `imp_`.
"""
from __future__ import annotations

import math
from functools import partial

import streamlit as st

from crm.imports import preview as V
from crm.imports.batches import UndoError, undo_batch
from crm.imports.reader import max_upload_bytes
from crm.imports.templates import TEMPLATES
from crm.provenance import CHOICE_LABELS, TAKE
from crm.vocabulary import user_label
from crm.xlsx import XLSX_MIME
from ui.common import current_actor, ensure_app_navigation, get_archive, plain, show_table

MB = 1024 * 1024
HISTORY_SHOWN = 20

ensure_app_navigation()
archive = get_archive()
actor = current_actor()
writer = V.can_write(archive, actor)
entries: dict[str, V.UploadEntry] = st.session_state.setdefault("imp_entries", {})


def _size_text(n: int) -> str:
    if n >= MB:
        return f"{n / MB:.1f}".removesuffix(".0") + " MB"
    return f"{max(n / 1024, 0.1):.1f}".removesuffix(".0") + " KB"


def _show_flash(where: str) -> None:
    keep = []
    for place, kind, text in st.session_state.get("imp_flash", []):
        if place != where:
            keep.append((place, kind, text))
            continue
        getattr(st, kind)(plain(text))
    st.session_state["imp_flash"] = keep


def _flash(where: str, kind: str, text: str) -> None:
    st.session_state.setdefault("imp_flash", []).append((where, kind, text))


def _count_tiles(values: dict[str, int]) -> None:
    tiles = st.columns(len(values))
    for tile, (label, n) in zip(tiles, values.items()):
        tile.metric(label, n, border=True)


# ------------------------------------------------------------------ column mapping
def mapping_step(entry: V.UploadEntry, task: V.MappingTask) -> None:
    """Template, then one selectbox per column (a field or 忽略); 应用映射 re-runs the preview with it."""
    base = f"imp_map_{entry.key}_{task.sheet}"
    codes = list(TEMPLATES)
    default = codes.index(task.current.template.code) if task.current else 0
    code = st.selectbox("按哪个模板导入", codes, index=default, format_func=V.template_label, key=f"{base}_tpl")
    tpl = TEMPLATES[code]
    suggestion = V.suggest_mapping(tpl, task.headers, task.current)
    options = V.field_options(tpl)
    with st.form(key=f"{base}_{code}_form", border=False):
        st.caption(f"表头在第 {task.header_row + 1} 行。为每一列选择对应的字段，或选「{V.IGNORE}」不导入该列；带 ＊ 的是必填字段。")
        cols = st.columns(4)
        keys: dict[int, str] = {}
        for n, (c, header) in enumerate(task.headers.items()):
            key = f"{base}_{code}_col{c}"
            keys[c] = key
            chosen = suggestion.get(c)
            with cols[n % 4]:
                st.selectbox(plain(header), options, index=options.index(V.field_label(tpl, chosen)) if chosen else 0, key=key)
                samples = V.sample_values(entry, task.sheet, task.header_row, c)
                st.caption(plain("例：" + "、".join(samples)) if samples else "（此列无数据）")
        st.caption("表格中没有的列，可为整张表指定一个固定值（如订单导出表没有「交易类型」：全部为 购买）。")
        fixed_cols = st.columns([1, 1, 2])
        current = task.current.constants if task.current and task.current.template.code == code else {}
        labels = [V.IGNORE, *(V.field_label(tpl, f.name) for f in tpl.fields)]
        first = next(iter(current.items()), (None, ""))
        fixed_cols[0].selectbox("固定值字段", labels, key=f"{base}_{code}_const_field",
                                index=labels.index(V.field_label(tpl, first[0])) if first[0] else 0)
        fixed_cols[1].text_input("固定值", value=first[1], key=f"{base}_{code}_const_value", max_chars=100)
        remember = st.checkbox("记住此映射：以后上传表头相同的表格时自动套用（命令行导入同样适用）",
                               value=True, key=f"{base}_{code}_remember")
        applied = st.form_submit_button("应用映射", type="primary")
    if applied:
        choice = {c: V.field_from_label(tpl, st.session_state[k]) for c, k in keys.items()}
        fixed_field = V.field_from_label(tpl, st.session_state[f"{base}_{code}_const_field"])
        fixed_value = st.session_state[f"{base}_{code}_const_value"]
        try:
            rec = V.build_recognition(code, task.header_row, task.headers, choice,
                                      {fixed_field: fixed_value} if fixed_field else None)
        except V.MappingError as exc:
            st.error(plain(exc))
            return
        entry.overrides[task.sheet] = rec
        missing = V.missing_required(code, [*rec.columns.values(), *rec.constants])
        if missing:
            _flash(entry.key, "warning", f"工作表「{task.sheet}」的映射缺少必填列：{'、'.join(missing)}，相关行会被拒绝。")
        if remember and writer:
            V.save_mapping(archive, task.header_list, rec, actor.username)
            _flash(entry.key, "success", f"工作表「{task.sheet}」已按 {V.template_label(code)} 映射，并已记住该映射。")
        else:
            _flash(entry.key, "success", f"工作表「{task.sheet}」已按 {V.template_label(code)} 映射。")
        st.rerun()


# ------------------------------------------------------------------ one file: preview or result
def show_sheet_preview(entry: V.UploadEntry, batch, task: V.MappingTask | None) -> None:
    how = "按列映射" if task and task.current and task.current.via_mapping else "自动识别"
    st.markdown(f"**工作表「{plain(batch.sheet)}」** → {V.template_label(batch.template)}（{how}）· 读取 {batch.rows_read} 行")
    _count_tiles(V.counts(batch))
    note = V.columns_note(task) if task else None
    if note:
        st.caption(plain(note))
    if batch.column_matches:
        with st.expander(f"列对应（{len(batch.column_matches)} 列）"):
            show_table([{"表格列": h, "对应字段": f, "依据": why} for h, (f, why) in batch.column_matches.items()])
    if batch.extra_columns:
        st.caption("未对应字段的列将作为「其他信息」保存在记录上：" + "、".join(plain(h) for h in batch.extra_columns))
    if batch.unused_columns:
        st.caption("未使用的列：" + "、".join(plain(h) for h in batch.unused_columns))
    changes = V.changes_frame(archive, actor, batch)
    errors = V.problems_frame(batch, "error")
    fixes = V.problems_frame(batch, V.DROPPED)
    warnings = V.problems_frame(batch, "warning")
    if batch.conflicts:
        show_conflicts(entry, batch)
    if not changes.empty:
        key_col = "记录编号" if "记录编号" in changes else "客户编号"
        st.markdown(f"将更新的记录（{changes[key_col].nunique()} 条，{len(changes)} 处改动）")
        show_table(changes,
                     column_config={"行号": st.column_config.NumberColumn(format="%d", width="small")})
    if not errors.empty:
        st.markdown(f"将被拒绝的行（{len(batch.rejected_rows)} 行）")
        show_table(errors,
                     column_config={"行号": st.column_config.NumberColumn(format="%d", width="small"),
                                    "原因": st.column_config.TextColumn(width="large")})
    if not fixes.empty:
        st.markdown(f"将导入、但有值未写入的行（{len(batch.fix_rows)} 行：该值不合格，已在「需修正」中说明，"
                    "导入后可下载这些行改正再上传）")
        show_table(fixes, column_config={"行号": st.column_config.NumberColumn(format="%d", width="small"),
                                         "需修正": st.column_config.TextColumn(width="large")})
    if not warnings.empty:
        with st.expander(f"提示（{len(warnings)} 条，不影响导入）"):
            show_table(warnings,
                         column_config={"行号": st.column_config.NumberColumn(format="%d", width="small"),
                                        "说明": st.column_config.TextColumn(width="large")})
    if task is not None:
        with st.expander("调整列映射"):
            mapping_step(entry, task)


def show_conflicts(entry: V.UploadEntry, batch) -> None:
    """Fields the archive changed after this sheet last set them: keep the archive's (default) or take
    the sheet's, per field (the tick), per customer, or for the whole file."""
    frame = V.conflicts_frame(archive, actor, batch)
    taken = int(frame["采用表格值"].sum())
    st.markdown(f"**与档案冲突的字段（{len(frame)} 处）**：这些字段在该表上次导入后已在系统中（或由其他表格）修改过，"
                f"默认保留档案值；勾选「采用表格值」则用表格覆盖（当前采用 {taken} 处）。")
    key = f"imp_conflicts_{entry.key}_{batch.sheet}"
    whole = st.segmented_control("整个文件的冲突", list(CHOICE_LABELS.values()), key=f"{key}_all",
                                 default=CHOICE_LABELS[entry.choices.default], selection_mode="single")
    customers = sorted({c["customer_id"] for c in batch.conflicts})
    picked = st.multiselect("以下客户全部采用表格值", customers, key=f"{key}_customers",
                            default=[c for c in entry.choices.customers if c in customers],
                            placeholder="选择客户编号（可多选）")
    take_all = whole == CHOICE_LABELS[TAKE]
    if take_all != (entry.choices.default == TAKE) or set(picked) != set(entry.choices.customers):
        V.set_sheet_choice(entry, take_all, picked)
        st.rerun()
    edited = st.data_editor(frame, key=f"{key}_{entry.choices.default}", hide_index=True, width="stretch",
                            disabled=[c for c in frame.columns if c != "采用表格值"],
                            column_config={"行号": st.column_config.NumberColumn(format="%d", width="small"),
                                           "采用表格值": st.column_config.CheckboxColumn(width="small")})
    changed = [i for i, (a, b) in enumerate(zip(frame["采用表格值"], edited["采用表格值"])) if bool(a) != bool(b)]
    if changed:
        for i in changed:
            V.set_conflict_choice(entry, batch, i, bool(edited["采用表格值"].iloc[i]))
        st.rerun()


def show_reading(entry: V.UploadEntry) -> None:
    """Hidden sheets and rows (the choice to import them) and what reading changed (NULs removed)."""
    if entry.full is not None and entry.full.has_hidden and not entry.imported:
        include = st.checkbox("导入隐藏的工作表和行", value=entry.include_hidden, key=f"imp_hidden_{entry.key}",
                              help="Excel 中隐藏的工作表和隐藏行默认不导入；勾选后一并导入")
        if include != entry.include_hidden:
            V.set_include_hidden(entry, include)
            st.rerun()
    for notice in V.reading_notices(entry):
        st.warning(plain(notice.message), icon=":material/visibility_off:")
    if entry.hidden_only:
        st.error(plain(entry.hidden_only), icon=":material/error:")


def show_preview(entry: V.UploadEntry) -> None:
    report = entry.preview
    assert report is not None and entry.workbook is not None
    tasks = V.mapping_tasks(archive, entry)
    show_reading(entry)
    st.caption(f"{_size_text(entry.size)} · {len(entry.workbook.sheets)} 个工作表 · 预览（尚未写入）")
    for batch in report.batches:
        with st.container(border=True):
            show_sheet_preview(entry, batch, tasks.get(batch.sheet))
    for skipped in report.skipped_sheets:
        task = tasks.get(skipped.sheet)
        st.warning(plain(f"工作表「{skipped.sheet}」已跳过：{skipped.reason}"), icon=":material/block:")
        if task is not None:
            note = V.columns_note(task)
            if note:
                st.caption(plain(note))
            with st.expander(f"为工作表「{plain(skipped.sheet)}」指定列映射", expanded=True):
                mapping_step(entry, task)


def show_result(entry: V.UploadEntry) -> None:
    if entry.import_error:
        st.error(plain(entry.import_error))
        return
    report = entry.result
    assert report is not None
    if report.aborted:
        st.error(plain(report.aborted), icon=":material/error:")
        if entry.rejects:
            st.download_button("下载需修正的行（.xlsx：被拒绝或有值未导入的行，改正后可直接重新上传）", data=entry.rejects,
                               file_name=entry.rejects_name, mime=XLSX_MIME, key=f"imp_rejects_{entry.key}",
                               icon=":material/download:", on_click="ignore")
        return
    totals = V.report_counts(report)
    batches = "、".join(str(b.batch_id) for b in report.batches)
    st.success(f"已导入「{plain(entry.name)}」（批次 {batches}）：新建 {totals['新建']} · 更新 {totals['更新']} · "
               f"重复 {totals['重复']} · 拒绝 {totals['拒绝']}", icon=":material/check_circle:")
    _count_tiles(totals)
    rows = [{"工作表": b.sheet, "模板": V.template_label(b.template), "批次": b.batch_id, "读取行数": b.rows_read,
             **V.counts(b)} for b in report.batches]
    show_table(rows)
    if entry.rejects:
        st.download_button("下载需修正的行（.xlsx：被拒绝或有值未导入的行，改正后可直接重新上传）", data=entry.rejects, file_name=entry.rejects_name,
                           mime=XLSX_MIME, key=f"imp_rejects_{entry.key}", icon=":material/download:",
                           on_click="ignore")
        with st.expander("被拒绝的行"):
            for b in report.batches:
                errors = V.problems_frame(b, "error")
                if not errors.empty:
                    st.caption(f"工作表「{plain(b.sheet)}」")
                    show_table(errors)
    for skipped in report.skipped_sheets:
        st.warning(plain(f"工作表「{skipped.sheet}」已跳过：{skipped.reason}"), icon=":material/block:")
    for notice in V.reading_notices(entry):
        st.warning(plain(notice.message), icon=":material/visibility_off:")


# ------------------------------------------------------------------ page
st.title("数据导入")
st.caption("上传 Excel（.xlsx / .xlsm / .xls）或 CSV 文件，可一次多个：每个工作表自动识别模板，先预览将新建、更新和拒绝的行；"
           "点击「确认导入」之前不会写入任何数据。")

limit = max_upload_bytes()
generation = st.session_state.setdefault("imp_uploader_gen", 0)
uploads = st.file_uploader(
    f"选择文件（单个文件不超过 {_size_text(limit)}）",
    type=["xlsx", "xlsm", "xls", "csv"],
    accept_multiple_files=True,
    key=f"imp_upload_{generation}",
    # The browser refuses files over this size with its own message; up to it, the reader's check
    # answers in Chinese, naming the file.
    max_upload_size=max(1, math.ceil(limit / MB)) * 2,
) or []

current = {u.file_id: u for u in uploads}
for key in [k for k in entries if k not in current]:
    del entries[key]
for key, upload in current.items():
    if key not in entries:
        with st.spinner(f"正在读取「{plain(upload.name)}」…"):
            entries[key] = V.load_upload(key, upload.name, upload.getvalue(), max_bytes=limit)

stamp = V.archive_stamp(archive)
for entry in entries.values():
    if V.needs_preview(entry, stamp):
        bar = st.progress(0.0, text=f"正在检查「{plain(entry.name)}」…")
        V.preview(archive, entry, actor.username, stamp,
                  progress=lambda done, total, _t, bar=bar, name=entry.name: bar.progress(
                      done / max(total, 1), text=f"正在检查「{plain(name)}」：已处理 {done}/{total} 行"))
        bar.empty()

for entry in entries.values():
    with st.container(border=True):
        st.subheader(plain(entry.name), anchor=False)
        _show_flash(entry.key)
        if entry.error:
            st.error(plain(entry.error), icon=":material/error:")
        elif entry.imported or entry.import_error:
            show_result(entry)
        elif entry.preview is not None:
            show_preview(entry)

ready = [e for e in entries.values() if e.ready]
if ready:
    rows = sum(e.rows_to_import for e in ready)
    if not writer:
        st.info(f"当前用户「{plain(actor.username)}」是只读用户，不能导入数据。", icon=":material/lock:")
    strict = st.checkbox("严格模式：文件中只要有一行被拒绝，整个文件都不导入", key="imp_strict")
    names = "、".join(f"「{plain(e.name)}」" for e in ready)
    st.caption(f"将导入 {names} 共 {rows} 行：按列表顺序逐个文件导入，每个文件在一个事务中写入，出错时该文件不写入任何数据。")
    if st.button("确认导入", type="primary", key="imp_confirm", disabled=not writer,
                 icon=":material/upload:"):
        bar = st.progress(0.0, text="正在导入…")
        V.run_import(archive, ready, actor.username, strict=strict,
                     progress=lambda done, total, name: bar.progress(
                         done / total, text=f"正在导入「{plain(name)}」：已处理 {done}/{total} 行"))
        st.rerun()
elif entries and all(e.imported or e.import_error or e.error for e in entries.values()):
    if st.button("清空上传列表，导入其他文件", key="imp_clear", icon=":material/restart_alt:"):
        st.session_state["imp_uploader_gen"] = generation + 1
        entries.clear()
        st.rerun()


# ------------------------------------------------------------------ blank templates
st.header("空白模板", anchor=False)
st.caption("下载后填写再上传，无需列映射：带 * 的是必填列，枚举列有下拉选项，另附「填写说明」工作表。")
for n, (code, label, file_name) in enumerate(V.TEMPLATE_DOWNLOADS):
    if n % 4 == 0:  # a row of four: on a phone the rows stack in order (T1, T2, T3 …), not column by column
        buttons = st.columns(4)
    buttons[n % 4].download_button(label, data=partial(V.blank_template_bytes, code), file_name=file_name,
                                   mime=XLSX_MIME, key=f"imp_tpl_{code}", on_click="ignore",
                                   icon=":material/download:")


# ------------------------------------------------------------------ history
def _clear_pending() -> None:
    st.session_state.pop("imp_undo_pending", None)


@st.dialog("撤销导入批次", on_dismiss=_clear_pending)
def confirm_undo(batch: dict) -> None:
    bid = batch["batch_id"]
    st.markdown(f"确定撤销批次 **{bid}** 吗？\n\n"
                f"- 文件：{plain(batch['file'])}" + (f"，工作表：{plain(batch['sheet'])}" if batch.get("sheet") else "") + "\n"
                f"- 模板：{plain(batch['template_label'])}，导入人：{plain(user_label(batch['user_name']))}，时间：{batch['when']}\n"
                f"- 将删除该批次新建的 {batch['created']} 条记录"
                + (f"，并把它更新过的 {batch['updated']} 条记录恢复为原值" if batch["updated"] else ""))
    left, right = st.columns(2)
    if left.button("确认撤销", type="primary", key="imp_undo_confirm"):
        try:
            result = undo_batch(archive, int(bid), actor.username)
        except UndoError as exc:
            st.error(plain(f"无法撤销：{exc}"), icon=":material/error:")
            return
        _clear_pending()
        _flash("history", "success", V.undo_message(result))
        st.rerun()
    if right.button("取消", key="imp_undo_cancel"):
        _clear_pending()
        st.rerun()


st.header("导入历史", anchor=False)
_show_flash("history")
show_all = st.session_state.get("imp_history_all", False)
history = V.batch_history(archive, limit=200 if show_all else HISTORY_SHOWN + 1)
if not history:
    st.caption("还没有导入记录。")
else:
    rows_box = st.container(key="imp_history_table_rows")  # on a phone: rows that scroll sideways (ui.common)
    widths = [0.5, 2.6, 1.4, 1.6, 2.2, 0.7, 0.8, 0.8]
    head = rows_box.columns(widths)
    for col, label in zip(head, ["批次", "文件 / 工作表", "模板", "导入人 / 时间", "读取 · 新建 · 更新 · 拒绝", "状态", "拒绝行",
                                 "操作"]):
        col.caption(f"**{label}**")
    for batch in history[: None if show_all else HISTORY_SHOWN]:
        cols = rows_box.columns(widths, vertical_alignment="center")
        cols[0].write(str(batch["batch_id"]))
        cols[1].write(plain(batch["file"] + (f" / {batch['sheet']}" if batch.get("sheet") else "")))
        cols[2].write(plain(batch["template_label"]))
        cols[3].write(f"{plain(user_label(batch['user_name']))}  \n:gray[{batch['when']}]")
        cols[4].write(" · ".join(str(batch[n]) for n in ("rows_read", "created", "updated", "rejected")))
        cols[5].write(batch["status_label"] if batch["status"] == "active" else f":gray[{batch['status_label']}]")
        if batch.get("has_problems") and V.may_have_problems(actor, batch.get("user_name")):
            kept = V.batch_problems_download(archive, int(batch["batch_id"]), actor)
            if kept is not None:
                cols[6].download_button("下载", data=kept[1], file_name=kept[0], mime=XLSX_MIME,
                                        key=f"imp_kept_rejects_{batch['batch_id']}", on_click="ignore",
                                        icon=":material/download:", help="该批次需修正的行（改正后可直接重新上传）")
        if batch["status"] == "active":
            allowed = V.can_undo(actor, batch, writer)
            reason = None if allowed else ("只读用户不能撤销" if not writer else
                                           "只能撤销自己导入的批次（主管、经理、管理员可撤销任何批次）")
            if cols[7].button("撤销", key=f"imp_undo_{batch['batch_id']}", disabled=not allowed, help=reason):
                st.session_state["imp_undo_pending"] = batch["batch_id"]
    if len(history) > HISTORY_SHOWN or show_all:
        st.toggle("显示更早的批次（最多 200 个）", key="imp_history_all")

pending = st.session_state.get("imp_undo_pending")
if pending is not None:
    match = next((b for b in V.batch_history(archive, limit=200) if b["batch_id"] == pending), None)
    if match is None or match["status"] != "active":
        _clear_pending()
    else:
        confirm_undo(match)
