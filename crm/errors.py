"""The one error type a user reads: anything refused, with the reason in Chinese.

`UserError` carries `message` (what the page or the command line shows), `field` (the input it
belongs beside, None for the whole form) and `errors` (every invalid field of a form at once).
Refusals by the permission policy (crm.auth.policy.PermissionDenied) and invalid or conflicting
writes (crm.customers.edits, crm.followups) are all UserErrors, so a page catches one type.
"""
from __future__ import annotations

from typing import Mapping


class UserError(Exception):
    """A request refused, with the reason in Chinese."""

    def __init__(self, field: str | None, message: str, errors: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.errors: dict[str, str] = dict(errors) if errors else ({field: message} if field else {})


CONFLICT_MESSAGE = "该记录刚被其他人修改，请刷新后重试"


def failure_reason(exc: BaseException) -> str:
    """Why an unexpected failure happened, in the user's words: what DuckDB or the system said
    (English, and naming internals) is never shown; the kind of failure is, so a user knows
    whether to retry, free disk space or call the administrator. The original goes to the server's
    log (`crm` logger) for whoever investigates."""
    import logging

    import duckdb

    if isinstance(exc, UserError):
        return exc.message
    logging.getLogger("crm").warning("失败：%s", exc, exc_info=exc)
    text = str(exc).lower()
    if isinstance(exc, (MemoryError, duckdb.OutOfMemoryException)) or "out of memory" in text:
        return "内存不足，请稍后重试或缩小数据量"
    if isinstance(exc, duckdb.TransactionException) or "write-write conflict" in text:
        return CONFLICT_MESSAGE
    if "no space left" in text or "disk full" in text or "not enough space" in text:
        return "磁盘空间不足，请清理磁盘后重试"
    if "permission denied" in text or isinstance(exc, PermissionError):
        return "没有读写相关文件的权限，请联系管理员"
    if "lock" in text and isinstance(exc, (duckdb.IOException, OSError)):
        return "档案文件正被另一个程序使用，请稍后重试"
    if isinstance(exc, (duckdb.IOException, OSError)):
        return "读写文件时出错，请稍后重试或联系管理员"
    if isinstance(exc, duckdb.ConstraintException):
        return "数据与档案中已有的记录冲突（编号重复或缺少必填内容）"
    if isinstance(exc, (duckdb.ConversionException, duckdb.InvalidInputException)):
        return "有数据的格式无法处理"
    if isinstance(exc, duckdb.Error):
        return "档案数据库出错，请稍后重试或联系管理员"
    return "程序内部错误，请联系管理员（详情已记入服务器日志）"
