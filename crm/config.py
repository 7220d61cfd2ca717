"""Every environment variable the app reads, in one place, with its default.

A deployment is configured by these variables alone; the README's 配置 section lists each
(a test holds the two in step). Values are read when asked for, not at import, so a test or a
process that sets one before use gets it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class EnvVar:
    name: str
    default: str
    meaning: str


ENV_VARS: tuple[EnvVar, ...] = (
    EnvVar("CRM_DB", "data/crm.duckdb", "档案数据库文件的路径（命令行的 --db 优先）"),
    EnvVar("CRM_DB_MEMORY_LIMIT", "1GB", "DuckDB 可用内存上限，超出部分写入临时文件"),
    EnvVar("CRM_DB_THREADS", "min(CPU 核数, 4)", "DuckDB 查询线程数"),
    EnvVar("CRM_MAX_UPLOAD_MB", "50", "单个上传文件的大小上限（MB）"),
    EnvVar("CRM_WARM_SEGMENTS", "1", "设为 0 时不在后台预先计算客户分类"),
    EnvVar("CRM_USER", "admin", "尚未设置登录账号时（设置模式）默认的当前用户"),
    EnvVar("CRM_TIMEZONE", "Asia/Shanghai", "判断「今天」所用的时区（跟进到期、逾期按此时区的日期计算）"),
    EnvVar("CRM_NOW", "（真实时间）", "把应用的当前时间固定为某一时刻，如 2026-02-28T09:00（用于测试和演示）"),
    EnvVar("CRM_BACKUP_DIR", "（档案文件旁的 backups 文件夹）", "档案备份所在的文件夹（python -m crm backup 和「系统管理」页面的备份都写在这里）"),
)


def env(name: str, default: str | None = None) -> str | None:
    """The raw value of one of ENV_VARS (a name not listed there is a programming error)."""
    if name not in _NAMES:
        raise KeyError(f"{name} is not a declared environment variable (crm.config.ENV_VARS)")
    return os.environ.get(name, default)


_NAMES = {v.name for v in ENV_VARS}


def db_path() -> str | None:
    return env("CRM_DB")


def db_memory_limit() -> str:
    return env("CRM_DB_MEMORY_LIMIT") or "1GB"


def db_threads() -> int:
    raw = env("CRM_DB_THREADS")
    return int(raw) if raw else min(os.cpu_count() or 2, 4)


def max_upload_bytes() -> int:
    return int(float(env("CRM_MAX_UPLOAD_MB") or "50") * 1024 * 1024)


def warm_segments() -> bool:
    return (env("CRM_WARM_SEGMENTS") or "1") != "0"


def default_user() -> str:
    return env("CRM_USER") or "admin"


def pinned_now() -> str | None:
    return env("CRM_NOW") or None


def timezone_name() -> str:
    return env("CRM_TIMEZONE") or "Asia/Shanghai"


def backup_dir() -> str | None:
    """The backups folder when set; None means the `backups` folder beside the archive file."""
    return env("CRM_BACKUP_DIR") or None
