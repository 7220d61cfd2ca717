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
    EnvVar("CRM_DB_MEMORY_LIMIT", "512MB", "DuckDB 可用内存上限，超出部分写入临时文件"),
    EnvVar("CRM_DB_CACHE_MB", "192", "网页每次运行后 DuckDB 最多留在内存中的表数据（MB）；超出时释放最久未读的部分（之后需要时从系统文件缓存读回），0 为不释放"),
    EnvVar("CRM_DB_THREADS", "min(CPU 核数, 4)", "DuckDB 查询线程数"),
    EnvVar("CRM_MAX_UPLOAD_MB", "50", "单个上传文件的大小上限（MB）"),
    EnvVar("CRM_IMPORT_MAX_ROWS", "200000", "导入时单个工作表的行数上限（算到最后一个有内容的单元格）"),
    EnvVar("CRM_IMPORT_MAX_COLUMNS", "16384", "导入时单个工作表的列数上限（16384 即 Excel 的最大列 XFD）"),
    EnvVar("CRM_IMPORT_MAX_CELLS", "10000000", "导入时单个工作表的数据范围（行数 × 列数）上限"),
    EnvVar("CRM_IMPORT_MAX_CELL_CHARS", "1000000", "导入时单个单元格的字数上限：超过时整个文件不读取（更短的超长内容由各字段的长度规则逐行拒绝）"),
    EnvVar("CRM_IMPORT_MAX_EXPANDED_MB", "500", "xlsx 文件解压后的总大小上限（MB），防止压缩炸弹"),
    EnvVar("CRM_IMPORT_MAX_RATIO", "100", "xlsx 中单个部件（解压后超过 10 MB 时）的压缩比上限"),
    EnvVar("CRM_IMPORT_MEMORY_MB", "2048", "读取表格文件的子进程可用的内存上限（MB）；超出时只结束该子进程"),
    EnvVar("CRM_IMPORT_TIMEOUT_S", "60", "读取一个表格文件的时间上限（秒）；超出时结束读取的子进程"),
    EnvVar("CRM_WARM_SEGMENTS", "1", "设为 0 时不在后台预先计算客户分类"),
    EnvVar("CRM_WARM_EDIT_GAP_S", "60", "有人修改数据（记录联系、编辑资料）后，后台重新计算当天客户分类的最短间隔（秒）；导入和撤销后立即计算"),
    EnvVar("CRM_USER", "admin", "尚未设置登录账号时（设置模式）默认的当前用户"),
    EnvVar("CRM_TIMEZONE", "Asia/Shanghai", "判断「今天」所用的时区（跟进到期、逾期按此时区的日期计算）"),
    EnvVar("CRM_NOW", "（真实时间）", "把应用的当前时间固定为某一时刻，如 2026-02-28T09:00（用于测试和演示）"),
    EnvVar("CRM_BACKUP_DIR", "（档案文件旁的 backups 文件夹）", "档案备份所在的文件夹（python -m crm backup 和「系统管理」页面的备份都写在这里）"),
    EnvVar("CRM_INBOX", "（档案文件旁的 inbox 文件夹，即 data/inbox/）", "收件箱（热文件夹）：每个用户一个子文件夹，放进去的表格由运行中的网页以该用户身份导入；网页和命令行须用同一个"),
    EnvVar("CRM_INBOX_POLL_S", "2", "网页检查收件箱的间隔（秒）；一个文件在连续两次检查中大小和修改时间都不变才被导入"),
    EnvVar("CRM_INBOX_WATCH", "1", "设为 0 时网页不处理收件箱（命令行的 --via-inbox 随之不可用）"),
    EnvVar("CRM_MALLOC_ARENAS", "2", "网页进程中 glibc 内存分配区（arena）的个数上限；多个会话并发时减少内存碎片，0 为不限制"),
    EnvVar("CRM_FREEZE_HEAP", "1", "设为 0 时网页启动后不把常驻对象移出垃圾回收的扫描范围（ui/heap.py；测试中关闭）"),
    EnvVar("CRM_CLUSTER", "1", "设为 0 时网页不在后台整理档案（按客户重排交易、互动等记录，让客户360更快）"),
    EnvVar("CRM_CLUSTER_MIN_ROWS", "200000", "某张记录表自上次整理后新增到这么多行时才再整理一次"),
    EnvVar("CRM_CLUSTER_HOURS", "1-6", "网页在后台整理档案的时段（按 CRM_TIMEZONE 的钟点，含起不含止，如 1-6 即 1:00–6:00；0-24 为任何时候）"),
    EnvVar("CRM_CLUSTER_SLICE_ROWS", "1250000", "整理时每次（一个事务）重排的行数；越小档案文件在整理中增长越少"),
    EnvVar("CRM_CLUSTER_CHECK_S", "600", "网页检查是否需要整理档案的间隔（秒）"),
    EnvVar("CRM_CLUSTER_WAIT_S", "30", "整理一张表前最多等待进行中的修改完成的时间（秒）；等待和整理期间新的修改稍候进行"),
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
    return env("CRM_DB_MEMORY_LIMIT") or "512MB"


def db_cache_limit() -> int:
    """Bytes of table blocks DuckDB may keep cached after a page run (CRM_DB_CACHE_MB; 0: no bound)."""
    return int(_number("CRM_DB_CACHE_MB", "192", zero=True) * 1024 * 1024)


def db_threads() -> int:
    raw = env("CRM_DB_THREADS")
    return int(raw) if raw else min(os.cpu_count() or 2, 4)


def max_upload_bytes() -> int:
    return int(float(env("CRM_MAX_UPLOAD_MB") or "50") * 1024 * 1024)


def _number(name: str, default: str, *, zero: bool = False) -> float:
    """A positive number (or zero, where `zero` says 0 means "off") from one of ENV_VARS; a value
    that is not one is a ValueError naming the variable."""
    raw = env(name) or default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"环境变量 {name} 的值「{raw}」不是数字") from None
    if zero and not value >= 0:
        raise ValueError(f"环境变量 {name} 的值「{raw}」不能小于 0")
    if not zero and not value > 0:
        raise ValueError(f"环境变量 {name} 的值「{raw}」必须大于 0")
    return value


def import_max_rows() -> int:
    return int(_number("CRM_IMPORT_MAX_ROWS", "200000"))


def import_max_columns() -> int:
    return int(_number("CRM_IMPORT_MAX_COLUMNS", "16384"))


def import_max_cells() -> int:
    return int(_number("CRM_IMPORT_MAX_CELLS", "10000000"))


def import_max_cell_chars() -> int:
    return int(_number("CRM_IMPORT_MAX_CELL_CHARS", "1000000"))


def import_max_expanded_bytes() -> int:
    return int(_number("CRM_IMPORT_MAX_EXPANDED_MB", "500") * 1024 * 1024)


def import_max_ratio() -> float:
    return _number("CRM_IMPORT_MAX_RATIO", "100")


def import_memory_bytes() -> int:
    return int(_number("CRM_IMPORT_MEMORY_MB", "2048") * 1024 * 1024)


def import_timeout_seconds() -> float:
    return _number("CRM_IMPORT_TIMEOUT_S", "60")


def warm_segments() -> bool:
    return (env("CRM_WARM_SEGMENTS") or "1") != "0"


def warm_edit_gap_seconds() -> float:
    return _number("CRM_WARM_EDIT_GAP_S", "60")


def default_user() -> str:
    return env("CRM_USER") or "admin"


def pinned_now() -> str | None:
    return env("CRM_NOW") or None


def timezone_name() -> str:
    return env("CRM_TIMEZONE") or "Asia/Shanghai"


def backup_dir() -> str | None:
    """The backups folder when set; None means the `backups` folder beside the archive file."""
    return env("CRM_BACKUP_DIR") or None


def inbox_dir() -> str | None:
    """The hot folder when set; None means the `inbox` folder beside the archive file (crm.inbox)."""
    return env("CRM_INBOX") or None


def inbox_poll_seconds() -> float:
    return _number("CRM_INBOX_POLL_S", "2")


def inbox_watch() -> bool:
    return (env("CRM_INBOX_WATCH") or "1") != "0"


def malloc_arenas() -> int:
    raw = env("CRM_MALLOC_ARENAS") or "2"
    try:
        return max(0, int(raw))
    except ValueError:
        raise ValueError(f"环境变量 CRM_MALLOC_ARENAS 的值「{raw}」不是整数") from None


def freeze_heap() -> bool:
    return (env("CRM_FREEZE_HEAP") or "1") != "0"


def cluster_enabled() -> bool:
    return (env("CRM_CLUSTER") or "1") != "0"


def cluster_min_rows() -> int:
    return int(_number("CRM_CLUSTER_MIN_ROWS", "200000"))


def cluster_slice_rows() -> int:
    return int(_number("CRM_CLUSTER_SLICE_ROWS", "1250000"))


def cluster_wait_seconds() -> float:
    return _number("CRM_CLUSTER_WAIT_S", "30")


def cluster_check_seconds() -> float:
    return _number("CRM_CLUSTER_CHECK_S", "600")


def cluster_hours() -> tuple[int, int]:
    """The maintenance window as (start hour, end hour); a malformed value means the default."""
    raw = (env("CRM_CLUSTER_HOURS") or "1-6").replace("–", "-").strip()
    try:
        start, end = (int(part) for part in raw.split("-", 1))
    except ValueError:
        return (1, 6)
    if not (0 <= start <= 24 and 0 <= end <= 24):
        return (1, 6)
    return (start, end)
