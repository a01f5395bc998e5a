"""API input structs for robots."""

from __future__ import annotations

import msgspec


class RobotCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    robot_id: str
    name: str
    role: str
    shift: str | None = None
    groups: list[str] = []
    note: str = ""


class RobotUpdate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str | None = None
    role: str | None = None
    shift: str | None = None
    groups: list[str] | None = None
    note: str | None = None
    active: bool | None = None
