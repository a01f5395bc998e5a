"""Auto-assignment rule (PRODUCT §6.2), as a pure function.

Candidates are ordered by, in turn:
1. skill match — the task type is among the agent's skills;
2. status — online before busy before offline;
3. workload — fewest open tasks;
4. round-robin — the agent assigned longest ago (never assigned first), then the lowest id.
The first candidate wins; the reason names the criteria that decided.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from app.aftersales.models import STAFF_STATUSES

STATUS_RANK = {"online": 0, "busy": 1, "offline": 2}
NEVER = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Candidate:
    id: int
    name: str
    skills: tuple[str, ...]
    status: str
    load: int
    last_assigned_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Choice:
    staff: Candidate | None
    reason: str


def sort_key(task_type: str, c: Candidate) -> tuple[int, int, int, datetime, int]:
    return (
        0 if task_type in c.skills else 1,
        STATUS_RANK.get(c.status, 2),
        c.load,
        c.last_assigned_at or NEVER,
        c.id,
    )


def choose(task_type: str, candidates: list[Candidate]) -> Choice:
    if not candidates:
        return Choice(None, "暂无可分配的售后人员")
    ranked = sorted(candidates, key=lambda c: sort_key(task_type, c))
    best = ranked[0]
    key = sort_key(task_type, best)
    parts = [f"技能匹配（{task_type}）" if key[0] == 0 else f"无人具备「{task_type}」技能"]
    parts.append(STAFF_STATUSES.get(best.status, best.status))
    parts.append(f"工作负载最少（{best.load} 个未完成）")
    if any(sort_key(task_type, c)[:3] == key[:3] for c in ranked[1:]):
        parts.append("同等条件轮询")
    return Choice(best, " + ".join(parts))
