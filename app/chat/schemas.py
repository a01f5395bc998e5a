"""API input structs for the people registry."""

from __future__ import annotations

import msgspec


class PersonIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    display_name: str
    role: str
    aliases: list[str] = []
    group: str | None = None
    skills: list[str] = []
    note: str = ""


class PersonPatch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    display_name: str | None = None
    role: str | None = None
    aliases: list[str] | None = None
    group: str | None = None
    skills: list[str] | None = None
    note: str | None = None
