"""`python -m crm …`: the import and maintenance commands scheduled jobs and checks use.

Every failure a user can cause ends as one line on stderr and a non-zero exit, never a traceback.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from crm.db import ArchiveBusyError, open_archive, resolve_db_path
from crm.errors import failure_reason

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class CliError(Exception):
    """A failure to report as one line on stderr."""


# Commands that make a new archive when there is none: `seed` (so `make run` works on a fresh clone).
CREATES_ARCHIVE = {"seed"}


def _archive(args: argparse.Namespace):
    """The archive the command works on. A path that does not exist is an error naming it (a typo
    must not quietly give an empty archive) unless --create is given or the command is seed."""
    path = resolve_db_path(args.db)
    if not path.exists() and not (getattr(args, "create", False) or args.command in CREATES_ARCHIVE):
        from crm import config

        source = "--db" if args.db else ("环境变量 CRM_DB" if config.db_path() else "默认位置")
        folder = "" if path.parent.exists() else f"，连文件夹 {path.parent} 也不存在"
        raise CliError(f"档案文件 {path}（{source}）不存在{folder}；路径无误、要新建一个空档案请加 --create")
    try:
        archive = open_archive(path)
    except ArchiveBusyError as exc:  # the dashboard's process, or another
        from crm.inbox import busy_line

        raise CliError(busy_line(path, exc, args.command)) from None
    except Exception:  # e.g. not a DuckDB file: DuckDB's own (English) words stay out of the line
        raise CliError(f"无法打开档案文件 {path}：它不是客户档案数据库，或已损坏、没有读写权限") from None
    from crm.customers import activity

    activity.ensure_current(archive)  # as the dashboard does on opening: a no-op unless upgraded or new
    return archive


def _json_default(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def cmd_import(args: argparse.Namespace) -> int:
    from crm.imports.reader import ReadAhead

    # the first file is read (in its child process) while the import's modules and the archive load
    ahead = ReadAhead(args.files[0], include_hidden=args.hidden) if args.files else None
    from crm.errors import UserError
    from crm.imports import run

    archive = _archive(args)
    outputs: list[dict[str, Any]] = []
    failures: list[str] = []
    for file in args.files:
        try:
            outcome = run.import_file(archive, file, args.user, strict=args.strict, dry_run=args.dry_run,
                                      on_conflict=args.on_conflict, hidden=args.hidden,
                                      read_ahead=ahead if file == args.files[0] else None)
        except UserError as exc:  # the policy refused the user: the whole command ends
            raise CliError(exc.message) from None
        outputs.append(outcome.as_json())
        if outcome.failure:
            failures.append(outcome.failure)
    return run.emit(run.merge(outputs), failures, as_json=args.json, on_conflict=args.on_conflict, dry_run=args.dry_run)


def cmd_stats(args: argparse.Namespace) -> int:
    from crm.stats import archive_stats

    archive = _archive(args)
    cur = archive.cursor()
    try:
        stats = archive_stats(cur)
    finally:
        cur.close()
    if args.json:
        print(json.dumps(stats, ensure_ascii=False))
    else:
        for k, v in stats.items():
            print(f"{k}\t{v}")
    return EXIT_OK


def cmd_undo(args: argparse.Namespace) -> int:
    from crm.imports.batches import UndoError, undo_batch

    archive = _archive(args)
    try:
        result = undo_batch(archive, args.batch_id, args.user)
    except UndoError as exc:
        raise CliError(str(exc)) from None
    deleted = "，".join(f"{t} {n} 行" for t, n in result.deleted.items()) or "无"
    print(f"已撤销批次 {result.batch_id}：删除 {deleted}；恢复字段 {result.restored} 个")
    if result.kept:
        print(f"以下字段在该批次之后又被修改过，保留了较新的值：{'、'.join(result.kept[:20])}")
    if result.kept_customers:
        print(f"保留了本批次新建、之后又被使用的客户 {len(result.kept_customers)} 位：" +
              "；".join(f"{cid}（{why}）" for cid, why in list(result.kept_customers.items())[:20]))
    return EXIT_OK


def cmd_batches(args: argparse.Namespace) -> int:
    from crm.imports.batches import list_batches

    rows = list_batches(_archive(args))
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, default=_json_default))
        return EXIT_OK
    print("批次\t状态\t模板\t文件\t工作表\t导入人\t时间\t读取\t新建\t更新\t拒绝")
    for r in rows:
        print("\t".join(str(r[k]) if r[k] is not None else "" for k in
                        ("batch_id", "status", "template", "file", "sheet", "user_name", "started_at", "rows_read",
                         "created", "updated", "rejected")))
    return EXIT_OK


def cmd_template(args: argparse.Namespace) -> int:
    from crm.imports.blank_templates import write_blank_templates

    codes = ["all"] if any(c.lower() == "all" for c in args.codes) else [c.upper() for c in args.codes]
    try:
        path = write_blank_templates(codes, args.output)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    print(f"已生成模板：{path}")
    return EXIT_OK


def cmd_seed(args: argparse.Namespace) -> int:
    from crm.seed import seed_demo

    archive = _archive(args)
    if args.if_empty:
        cur = archive.cursor()
        try:
            has = cur.execute("SELECT count(*) FROM customers").fetchall()[0][0]
        finally:
            cur.close()
        if has:
            print(f"档案库已有 {has} 位客户，未生成演示数据")
            return EXIT_OK
    try:
        counts = seed_demo(archive, customers=args.customers, seed=args.seed, user=args.user)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    print("已生成演示数据：" + "，".join(f"{k} {v}" for k, v in counts.items()))
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from crm.errors import UserError
    from crm.export import export_table

    try:
        n = export_table(_archive(args), args.table, args.output, args.user)
    except UserError as exc:
        raise CliError(exc.message) from None
    except ValueError as exc:
        raise CliError(str(exc)) from None
    print(f"已导出 {args.table} {n} 行到 {args.output}")
    return EXIT_OK


def _read_password(args: argparse.Namespace) -> str:
    """From standard input with --password-stdin (scripts), else prompted twice without echo."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    import getpass

    first = getpass.getpass("密码：")
    if getpass.getpass("再输入一次：") != first:
        raise CliError("两次输入的密码不一致")
    return first


def cmd_user(args: argparse.Namespace) -> int:
    from crm.auth import accounts
    from crm.errors import UserError

    archive = _archive(args)
    try:
        if args.action == "list":
            for name, display, role, active, locked, _created in accounts.list_users(archive):
                state = "已停用" if not active else ("已锁定" if locked else "正常")
                print(f"{name}\t{display or ''}\t{role}\t{state}")
            return EXIT_OK
        if not args.name:
            raise CliError("请给出用户名")
        if args.action == "add":
            role = args.role or "销售"
            accounts.add_user(archive, args.user, args.name, role, _read_password(args))
            print(f"已新建用户 {args.name}（{role}）")
        elif args.action == "reset-password":
            accounts.set_password(archive, args.user, args.name, _read_password(args))
            print(f"已重置 {args.name} 的密码，其登录已全部结束")
        elif args.action == "disable":
            accounts.set_active(archive, args.user, args.name, False)
            print(f"已停用 {args.name}，其登录已全部结束")
        elif args.action == "enable":
            accounts.set_active(archive, args.user, args.name, True)
            print(f"已启用 {args.name}")
        elif args.action == "unlock":
            accounts.unlock(archive, args.user, args.name)
            print(f"已解锁 {args.name}")
        elif args.action == "role":
            if not args.role:
                raise CliError("请用 --role 给出新角色：管理员 / 经理 / 主管 / 销售 / 只读")
            old, new = accounts.change_role(archive, args.user, args.name, args.role)
            print(f"{args.name} 的角色：{old} → {new}" if old != new else f"{args.name} 的角色已是 {new}")
    except UserError as exc:
        raise CliError(exc.message) from None
    return EXIT_OK


def cmd_audit(args: argparse.Namespace) -> int:
    """`audit verify`: walk the hash chain; exit 1 at the first broken link (read only, for scheduled checks)."""
    from crm.auth import audit

    report = audit.verify(_archive(args))
    if not report.ok:
        raise CliError(report.message)
    print(report.message)
    return EXIT_OK


def cmd_backup(args: argparse.Namespace) -> int:
    """`backup`: a consistent copy into the backups folder (CRM_BACKUP_DIR); `backup --list` lists them."""
    from crm.admin import backup
    from crm.auth.personal import actor_for
    from crm.errors import UserError

    archive = _archive(args)
    try:
        if args.list:
            for b in backup.list_backups(archive):
                print(f"{b.name}\t{backup.size_text(b.size)}\t{b.created_at:%Y-%m-%d %H:%M:%S}\t{b.created_by or ''}\t{b.note or ''}")
            return EXIT_OK
        made = backup.create_backup(archive, actor_for(archive, args.user))
    except UserError as exc:
        raise CliError(exc.message) from None
    print(f"已备份到 {made.path}（{backup.size_text(made.size)}）")
    return EXIT_OK


def cmd_maintain(args: argparse.Namespace) -> int:
    """`maintain`: keep each customer's records together in the file (crm.clustering) — what the
    dashboard does in its quiet hours, for a scheduled job or an archive no dashboard serves."""
    from crm import clustering, config
    from crm.tables import TABLES

    archive = _archive(args)
    cur = archive.cursor()
    try:
        tail = clustering.unclustered_rows(cur)
    finally:
        cur.close()
    if not args.force and not clustering.clustering_due(tail):
        waiting = "，".join(f"{TABLES[t].label} {n} 行" for t, n in tail.items() if n) or "无"
        print(f"无需整理：自上次整理后新增的记录（{waiting}）未达到 {config.cluster_min_rows()} 行")
        return EXIT_OK
    report = clustering.cluster_records(archive, min_rows=0 if args.force else config.cluster_min_rows())
    done = "，".join(f"{TABLES[t].label} {n} 行" for t, n in report.rewritten.items()) or "无"
    print(f"已按客户重排：{done}，用时 {report.seconds:.1f} 秒")
    if report.skipped:
        print("与同时进行的修改冲突、下次再整理：" + "，".join(TABLES[t].label for t in report.skipped))
    return EXIT_OK


def cmd_restore(args: argparse.Namespace) -> int:
    """`restore FILE --yes`: replace the archive's data with a backup's (the current archive is backed up first)."""
    from crm.admin import backup
    from crm.auth.personal import actor_for
    from crm.errors import UserError

    if not args.yes:
        raise CliError("恢复会用备份覆盖当前档案的全部数据；确认请加 --yes")
    archive = _archive(args)
    try:
        result = backup.restore_backup(archive, actor_for(archive, args.user), args.file, confirmed=True)
    except UserError as exc:
        raise CliError(exc.message) from None
    print(result.message)
    return EXIT_OK


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, as every other failure
        self.exit(EXIT_USAGE, f"参数错误：{message}（用 --help 查看用法）\n")


def _via_inbox_options(p: argparse.ArgumentParser, what: str = "网页运行时交给网页执行，并打印其结果") -> None:
    p.add_argument("--via-inbox", action="store_true",
                   help=f"{what}（没有网页在运行时照常直接执行；见 README 的 Scheduled jobs 一节）")
    p.add_argument("--wait", type=float, default=3600, metavar="秒", help="--via-inbox 最多等待多少秒（默认 3600）")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m crm", description="客户档案：导入、统计、撤销、模板、演示数据、导出、账号、操作日志、备份与恢复")
    common = _Parser(add_help=False)
    common.add_argument("--db", help="数据库文件（默认：环境变量 CRM_DB，否则 data/crm.duckdb）")
    common.add_argument("--user", default="cli", help="以哪个用户的身份操作（默认 cli）")
    common.add_argument("--create", action="store_true", help="档案文件不存在时新建一个空档案（seed 总会新建）")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("import", parents=[common], help="导入一个或多个表格文件")
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--strict", action="store_true", help="有任何被拒绝的行时，整个文件都不导入")
    p.add_argument("--json", action="store_true", help="以 JSON 输出结果")
    p.add_argument("--dry-run", action="store_true", help="试运行：检查并报告，但不写入")
    p.add_argument("--on-conflict", choices=["keep", "take"], default="keep",
                   help="档案在该表上次导入后被修改过的字段：keep 保留档案值（默认）/ take 采用表格值")
    p.add_argument("--hidden", action="store_true", help="同时导入隐藏的工作表和隐藏行（默认不导入，只报告）")
    _via_inbox_options(p, "网页运行时把文件放进收件箱，由网页以 --user 的身份导入，等待并打印其报告")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("stats", parents=[common], help="档案统计")
    p.add_argument("--json", action="store_true")
    _via_inbox_options(p)
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("undo", parents=[common], help="撤销一个导入批次")
    p.add_argument("batch_id", type=int)
    p.set_defaults(func=cmd_undo)

    p = sub.add_parser("batches", parents=[common], help="列出导入批次")
    p.add_argument("--json", action="store_true")
    _via_inbox_options(p)
    p.set_defaults(func=cmd_batches)

    p = sub.add_parser("template", parents=[common], help="生成空白模板 T1…T7 或 all")
    p.add_argument("codes", nargs="+")
    p.add_argument("-o", "--output", required=True, type=Path)
    p.set_defaults(func=cmd_template)

    p = sub.add_parser("seed", parents=[common], help="生成演示数据")
    p.add_argument("--customers", type=int, default=2000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--if-empty", action="store_true", help="档案库已有客户时什么也不做")
    p.set_defaults(func=cmd_seed)

    p = sub.add_parser("export", parents=[common], help="导出一张表到 .xlsx（已防公式注入）")
    p.add_argument("table")
    p.add_argument("-o", "--output", required=True, type=Path)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("user", parents=[common], help="管理登录账号：add / list / disable / enable / reset-password / unlock / role")
    p.add_argument("action", choices=["add", "list", "disable", "enable", "reset-password", "unlock", "role"])
    p.add_argument("name", nargs="?")
    p.add_argument("--role", help="角色：管理员 / 经理 / 主管 / 销售 / 只读（add 默认 销售；role 必填）")
    p.add_argument("--password-stdin", action="store_true", help="从标准输入读取密码（用于脚本）")
    p.set_defaults(func=cmd_user)

    p = sub.add_parser("audit", parents=[common], help="操作日志：verify 校验哈希链，报告第一处断开")
    p.add_argument("action", choices=["verify"])
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("backup", parents=[common], help="备份档案到备份文件夹（CRM_BACKUP_DIR，默认档案旁的 backups）")
    p.add_argument("--list", action="store_true", help="列出已有的备份（文件、大小、时间、创建人、说明）")
    _via_inbox_options(p)
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser("maintain", parents=[common], help="整理档案：按客户重排交易、互动、跟进、满意度记录（网页在 CRM_CLUSTER_HOURS 时段自动进行）")
    p.add_argument("--force", action="store_true", help="不论新增多少记录都整理")
    p.set_defaults(func=cmd_maintain)

    p = sub.add_parser("restore", parents=[common], help="用一个备份恢复档案（恢复前自动备份当前档案）")
    p.add_argument("file", type=Path)
    p.add_argument("--yes", action="store_true", help="确认覆盖当前档案的数据")
    p.set_defaults(func=cmd_restore)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "via_inbox", False):  # while the dashboard holds the archive, it does the work
            from crm import inbox

            try:
                handed = inbox.via_inbox(resolve_db_path(args.db), args)
            except inbox.InboxError as exc:
                raise CliError(str(exc)) from None
            if handed is not None:
                return handed
        return int(args.func(args))
    except CliError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("已中断", file=sys.stderr)
        return 130
    except Exception as exc:  # last resort: still one line, no traceback, no exception's name or English
        print(f"出错了：{failure_reason(exc)}", file=sys.stderr)  # the original goes to the `crm` logger
        return EXIT_FAILED
