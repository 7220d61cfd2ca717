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
