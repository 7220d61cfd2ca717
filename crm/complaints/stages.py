"""The stages of a complaint (after GB/T 19012 / ISO 10002) and the moves between them, as data.

已登记 receipt → 已受理 acknowledged (or 不予受理, with a reason) → 调查中 investigation → 已处理
response and decision (handling method, loss, outcome, root cause) → 已回访 the customer's
satisfaction with the handling → 已关闭. A closed or refused complaint reopens to 调查中 with a
reason. A move not listed (e.g. 已登记 → 已处理) is refused with what is missing.
"""
from __future__ import annotations

REGISTERED, ACCEPTED, REFUSED, INVESTIGATING, HANDLED, REVISITED, CLOSED = (
    "已登记", "已受理", "不予受理", "调查中", "已处理", "已回访", "已关闭")
STAGES: tuple[str, ...] = (REGISTERED, ACCEPTED, REFUSED, INVESTIGATING, HANDLED, REVISITED, CLOSED)
OPEN_STAGES = frozenset({REGISTERED, ACCEPTED, INVESTIGATING})  # not yet resolved
DONE_STAGES = frozenset({HANDLED, REVISITED, CLOSED})  # resolved (the resolution clock stops)

# (from, to) → the fields the move needs (names of complaint columns, or "note" for a reason)
MOVES: dict[tuple[str, str], tuple[str, ...]] = {
    (REGISTERED, ACCEPTED): (),
    (REGISTERED, REFUSED): ("reject_reason",),
    (ACCEPTED, INVESTIGATING): (),
    (INVESTIGATING, HANDLED): ("resolution", "outcome", "root_cause"),
    (HANDLED, REVISITED): ("satisfaction",),
    (REVISITED, CLOSED): (),
    (CLOSED, INVESTIGATING): ("note",),  # reopen
    (REFUSED, INVESTIGATING): ("note",),  # reopen a refusal
    (HANDLED, INVESTIGATING): ("note",),  # the handling did not hold
}
FIELD_LABELS = {"reject_reason": "不予受理原因", "resolution": "处理方式", "outcome": "处理结果", "root_cause": "投诉原因",
                "satisfaction": "客户对处理的满意度", "note": "重新处理的原因", "loss": "损失金额"}


def next_stages(stage: str) -> list[str]:
    return [to for (frm, to) in MOVES if frm == stage]


def check_move(stage: str, to: str, given: dict[str, object]) -> list[str]:
    """What stops the move, in words (empty when it may go ahead)."""
    if (stage, to) not in MOVES:
        allowed = "、".join(next_stages(stage)) or "无"
        return [f"不能从「{stage}」直接转到「{to}」（可转到：{allowed}）"]
    missing = [FIELD_LABELS.get(f, f) for f in MOVES[(stage, to)] if given.get(f) in (None, "")]
    return [f"转到「{to}」需要填写：{'、'.join(missing)}"] if missing else []
