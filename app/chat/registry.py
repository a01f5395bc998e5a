"""Who is who: the people registry and robot names, loaded once per processing batch."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.chat.models import Person
from app.robots.models import Robot

# People registry roles → sender roles of PRODUCT §3.1.
SENDER_ROLE_OF = {"operator": "operator", "assistant": "staff", "after_sales": "staff", "user": "user"}


@dataclass(frozen=True, slots=True)
class Identity:
    role: str
    person_id: int | None
    matched: str  # group | global | robot | pattern | none
    person_role: str | None = None


class PeopleDirectory:
    def __init__(
        self, people: list[Person], robot_names: set[str], name_patterns: dict[str, list[str]] | None = None
    ) -> None:
        self.robot_names = robot_names
        self.name_patterns = name_patterns or {}
        self.by_group: dict[tuple[int | None, str], Person] = {}
        for person in people:
            for name in (person.display_name, *(person.aliases or [])):
                key = (person.group_id, name.strip())
                # A registry entry by display name wins over an alias of someone else.
                if key not in self.by_group or name == person.display_name:
                    self.by_group[key] = person

    @classmethod
    async def load(cls, session: AsyncSession) -> PeopleDirectory:
        from app.understanding.lexicon import load_name_patterns

        people = list((await session.execute(select(Person))).scalars())
        robot_names = set((await session.execute(select(Robot.name))).scalars())
        return cls(people, robot_names, await load_name_patterns(session))

    def identify(self, sender: str, group_id: int | None) -> Identity:
        name = sender.strip()
        if group_id is not None and (person := self.by_group.get((group_id, name))) is not None:
            return Identity(SENDER_ROLE_OF[person.role], person.id, "group", person.role)
        if (person := self.by_group.get((None, name))) is not None:
            return Identity(SENDER_ROLE_OF[person.role], person.id, "global", person.role)
        if name in self.robot_names:
            return Identity("robot", None, "robot")
        # Operators first: "运营助理" is an operator's assistant account, treated as operator.
        for role in ("operator", "staff"):
            if any(fragment and fragment in name for fragment in self.name_patterns.get(role, [])):
                return Identity(role, None, "pattern")
        return Identity("user", None, "none")
