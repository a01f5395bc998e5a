from __future__ import annotations

import pytest

from app.chat.models import Person
from app.chat.registry import PeopleDirectory
from app.flows.definition import DEFAULT_FLOW, compile_flow
from app.runtime import load_plugins

load_plugins()


def test_default_flow_compiles_in_order() -> None:
    flow = compile_flow(DEFAULT_FLOW, 1)
    order, node = [], flow.start
    while node:
        order.append(node)
        node = flow.next_node(node, "default")
    assert order == [
        "receive",
        "identify_sender",
        "after_sales_task",
        "classify",
        "sentiment",
        "after_sales_response",
        "intervention",
        "after_sales",
        "alert",
        "reply",
        "session_update",
        "publish",
    ]


def test_branches_pick_their_target_or_default() -> None:
    definition = {
        "name": "t",
        "start": "a",
        "nodes": {
            "a": {"type": "identify_sender_role", "next": {"operator": "b", "default": "c"}},
            "b": {"type": "receive"},
            "c": {"type": "receive"},
        },
    }
    flow = compile_flow(definition, 1)
    assert flow.next_node("a", "operator") == "b"
    assert flow.next_node("a", "user") == "c"


@pytest.mark.parametrize(
    ("definition", "needle"),
    [
        ({"name": "t", "start": "x", "nodes": {"a": {"type": "receive"}}}, "起始节点"),
        ({"name": "t", "start": "a", "nodes": {"a": {"type": "receive", "next": "zz"}}}, "不存在的节点"),
        ({"name": "t", "start": "a", "nodes": {"a": {"type": "no_such_node"}}}, "未知的流程节点类型"),
    ],
)
def test_broken_definitions_are_refused(definition: dict[str, object], needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        compile_flow(definition, 1)


def person(pid: int, name: str, role: str, group_id: int | None, aliases: list[str] | None = None) -> Person:
    return Person(id=pid, display_name=name, role=role, group_id=group_id, aliases=aliases or [], skills=[])


def test_sender_roles_prefer_group_entries_then_global_then_robots() -> None:
    directory = PeopleDirectory(
        [
            person(1, "王总", "operator", 10, ["王老板"]),
            person(2, "小雨", "after_sales", None),
            person(3, "小雨", "user", 11),
        ],
        robot_names={"白班助手小晴"},
    )
    assert directory.identify("王老板", 10).role == "operator"
    assert directory.identify("王总", 12).role == "user"  # registered for another group only
    assert directory.identify("小雨", 10).role == "staff"
    assert directory.identify("小雨", 11).role == "user"  # group entry wins over global
    assert directory.identify("白班助手小晴", 10).role == "robot"
    unknown = directory.identify("路人甲", 10)
    assert (unknown.role, unknown.matched, unknown.person_id) == ("user", "none", None)
