"""API input of the after-sales capability."""

from __future__ import annotations

from typing import Any

import msgspec


class TaskCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    target_user: str
    group: str
    task_type: str = "其他"
    description: str = ""
    priority: str | None = None
    kind: str = "after_sales"
    staff_at: bool = False  # the user was already @-mentioned: start the response monitor


class AutoAssign(msgspec.Struct, frozen=True):
    """Seed 000 §9.1 endpoint 5. `task_id` or `session_id` (the user's chat session) names the task."""

    task_id: int | str | None = None
    task_type: str | None = None
    priority: str | None = None
    session_id: int | str | None = None


class Assign(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    staff_id: int | None = None
    staff_name: str | None = None


class StatusChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    status: str
    note: str = ""


class StaffSave(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str | None = None
    skills: list[str] | None = None
    status_override: str | None = None  # online | busy | offline | "" (derive again)
    work_start: str | None = None
    work_end: str | None = None
    active: bool | None = None


class ConflictResolve(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    resolution: str = "已调和"


class ScreenTokenCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str = "售后大屏"


SettingsBody = dict[str, Any]
