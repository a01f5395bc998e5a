"""The demo world data and the traffic simulator's pure functions (no network)."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from app.demo import data
from app.demo.simulator import (
    SUCCESS_BODY,
    CredentialsError,
    Event,
    SimState,
    build_payload,
    describe_failure,
    form_fields,
    is_success,
    load_credentials,
    next_event,
    parse_args,
    parse_credentials,
    reply_robot,
    reporters,
    script_events,
    webhook_url,
)

PAYLOAD_TYPES = {
    "spoken": str,
    "rawSpoken": str,
    "receivedName": str,
    "groupName": str,
    "groupRemark": str,
    "roomType": int,
    "atMe": bool,
    "textType": int,
}
DAY, NIGHT = 14, 23


def generate(seed: int, n: int = 600, hour: int = DAY) -> list[Event]:
    rng, state, events = random.Random(seed), SimState(), []
    for _ in range(n):
        event, state = next_event(rng, state, hour)
        events.append(event)
    return events


@pytest.fixture(scope="module")
def events() -> list[Event]:
    return generate(seed=42, n=3000)


# ── data integrity ────────────────────────────────────────────────────────────


def test_four_robots_with_the_four_roles() -> None:
    assert len(data.ROBOTS) == 4
    assert sorted(r["role"] for r in data.ROBOTS) == sorted(data.ROBOT_ROLES)
    assert {r["robot_id"] for r in data.ROBOTS} == {"demo-monitor", "demo-notify", "demo-day", "demo-night"}
    assert all(r["name"] for r in data.ROBOTS)


def test_three_groups_with_remarks_robots_and_users() -> None:
    assert len(data.GROUPS) == 3
    assert len({g["name"] for g in data.GROUPS}) == 3
    for group in data.GROUPS:
        assert group["remark"]
        assert set(group["robot_ids"]) == set(data.ALL_ROBOT_IDS)
        assert 6 <= len(group["users"]) <= 10
        assert len(set(group["users"])) == len(group["users"])


@pytest.mark.parametrize("group", [g["name"] for g in data.GROUPS])
def test_every_group_has_operator_assistant_after_sales_and_users(group: str) -> None:
    roles = Counter(p["role"] for p in data.group_members(group))
    own = Counter(p["role"] for p in data.PEOPLE if p["group"] == group)
    assert 1 <= own["operator"] <= 2
    assert own["assistant"] >= 1 and own["after_sales"] >= 1
    assert roles["user"] >= 6


def test_people_entries_are_well_formed() -> None:
    names = [(p["display_name"], p["group"]) for p in data.PEOPLE]
    assert len(names) == len(set(names))
    group_names = {g["name"] for g in data.GROUPS}
    for person in data.PEOPLE:
        assert set(person) == {"display_name", "aliases", "role", "group", "skills"}
        assert person["role"] in data.PERSON_ROLES
        assert person["group"] is None or person["group"] in group_names
        assert set(person["skills"]) <= set(data.TASK_SKILLS)
        if person["role"] == "after_sales":
            assert person["skills"]
    registry = {p["display_name"] for p in data.PEOPLE}
    assert not registry & {u for g in data.GROUPS for u in g["users"]}


def test_library_covers_every_type_code_with_15_lines() -> None:
    codes = set(data.USER_TYPES) | set(data.STAFF_TYPES) | set(data.OPERATOR_TYPES)
    assert len(codes) == 15
    assert set(data.MESSAGE_LIBRARY) == codes
    for code, lines in data.MESSAGE_LIBRARY.items():
        assert len(lines) >= 15, code
        assert len(set(lines)) == len(lines), code
        assert all(line.strip() for line in lines), code
    for kind, lines in data.USER_RESPONSES.items():
        assert len(lines) >= 15, kind
    assert {"在的", "好的", "收到", "马上"} <= set(data.USER_RESPONSES["response"])
    assert {"不弄了", "没空"} <= set(data.USER_RESPONSES["refusal"])


def test_user_lines_have_no_placeholders_and_at_user_lines_do() -> None:
    for code in data.USER_TYPES:
        assert not any("{" in line for line in data.MESSAGE_LIBRARY[code]), code
    assert all(line.startswith("@{user} ") for line in data.MESSAGE_LIBRARY["staff_at_user"])
    assert data.fill_user("@{user} 在吗", "阿杰🏀") == "@阿杰🏀 在吗"


def test_scripts_use_members_of_their_group() -> None:
    assert len(data.SCRIPTS) >= 3
    for script in data.SCRIPTS:
        members = {p["display_name"] for p in data.group_members(script.group)}
        assert len(script.lines) >= 3
        for sender, text in script.lines:
            assert sender in members, (script.name, sender)
            assert text


def test_lookups() -> None:
    assert data.robot_by_role("monitor")["robot_id"] == "demo-monitor"
    assert data.group_by_name(data.GROUP_2)["name"] == data.GROUP_2
    with pytest.raises(KeyError):
        data.group_by_name("不存在的群")
    assert all(p["role"] == "after_sales" for p in data.people_in_group(data.GROUP_1, "after_sales"))
    assert any(p["group"] is None for p in data.people_in_group(data.GROUP_1, "after_sales"))


# ── payloads ──────────────────────────────────────────────────────────────────


def test_payloads_have_exactly_the_worktool_fields(events: list[Event]) -> None:
    for event in events:
        payload = build_payload(event)
        assert set(payload) == set(PAYLOAD_TYPES)
        for key, kind in PAYLOAD_TYPES.items():
            assert type(payload[key]) is kind, (key, payload)
        assert payload["receivedName"]
        assert payload["roomType"] in (1, 2)


def test_private_chats_have_empty_group_and_room_type_2(events: list[Event]) -> None:
    private = [build_payload(e) for e in events if e.room_type == 2]
    assert private
    assert all(p["groupName"] == "" and p["groupRemark"] == "" and p["roomType"] == 2 for p in private)
    group = [build_payload(e) for e in events if e.room_type == 1]
    assert all(p["groupName"] and p["groupRemark"] for p in group)


def test_media_messages(events: list[Event]) -> None:
    media = [build_payload(e) for e in events if e.kind == "media"]
    assert media
    assert {p["textType"] for p in media} <= {2, 3, 5, 8}
    assert all(p["textType"] != 1 and p["spoken"] == "" and not p["atMe"] for p in media)
    assert all(build_payload(e)["textType"] == 1 for e in events if e.kind != "media")


def test_at_me_iff_raw_spoken_has_the_robot_prefix(events: list[Event]) -> None:
    robot_names = {r["name"] for r in data.ROBOTS}
    at_me = 0
    for payload in map(build_payload, events):
        prefixed = [n for n in robot_names if payload["rawSpoken"].startswith(f"@{n} ")]
        assert payload["atMe"] == bool(prefixed)
        if payload["atMe"]:
            at_me += 1
            assert payload["rawSpoken"] == f"@{prefixed[0]} {payload['spoken']}"
        else:
            assert payload["rawSpoken"] == payload["spoken"]
    assert at_me > 0


def test_at_mentions_name_the_reply_robot_on_shift() -> None:
    assert reply_robot(9)["role"] == "day_reply" and reply_robot(20)["role"] == "day_reply"
    assert reply_robot(21)["role"] == "night_reply" and reply_robot(3)["role"] == "night_reply"
    night = {e.at_robot for e in generate(seed=5, n=2000, hour=NIGHT) if e.at_robot}
    assert night == {data.robot_by_role("night_reply")["name"]}


def test_documented_example_shape() -> None:
    event = Event(
        kind="chat_daily",
        sender="仑哥",
        text="你好",
        group="测试群1",
        group_remark="测试群1备注名",
        at_robot="me",
    )
    assert json.dumps(build_payload(event), ensure_ascii=False, separators=(",", ":")) == (
        '{"spoken":"你好","rawSpoken":"@me 你好","receivedName":"仑哥","groupName":"测试群1",'
        '"groupRemark":"测试群1备注名","roomType":1,"atMe":true,"textType":1}'
    )


def test_form_fields_are_strings() -> None:
    event = Event(kind="chat_daily", sender="阿杰🏀", text="早～", group=data.GROUP_1, group_remark="r")
    fields = form_fields(build_payload(event))
    assert fields["atMe"] == "false" and fields["roomType"] == "1" and fields["textType"] == "1"
    assert all(isinstance(v, str) for v in fields.values())


def test_payloads_pass_the_hubs_own_validation(events: list[Event]) -> None:
    schemas = pytest.importorskip("app.ingest.schemas")
    for event in events[:500]:
        payload = build_payload(event)
        assert schemas.to_message(payload).receivedName == event.sender
        assert schemas.to_message(schemas.coerce_form(form_fields(payload))).atMe == payload["atMe"]


# ── the event stream ──────────────────────────────────────────────────────────


def test_same_seed_same_traffic_and_different_seed_differs() -> None:
    first = [build_payload(e) for e in generate(seed=7)]
    assert first == [build_payload(e) for e in generate(seed=7)]
    assert generate(seed=7) == generate(seed=7)
    assert first != [build_payload(e) for e in generate(seed=8)]


def test_traffic_mixes_every_kind_of_message(events: list[Event]) -> None:
    kinds = Counter(e.kind.split(":")[0] for e in events)
    for code in data.MESSAGE_TYPES:
        assert kinds[code] > 0, code
    for kind in ("media", "script", "after_sales_response", "after_sales_refusal"):
        assert kinds[kind] > 0, kind
    assert any(e.form for e in events) and sum(e.form for e in events) < len(events) / 3
    assert all(e.group for e in events if e.room_type == 1)


def test_scripts_play_whole_and_in_order(events: list[Event]) -> None:
    started: list[str] = []
    i = 0
    while i < len(events):
        kind = events[i].kind
        if kind.startswith("script:"):
            script = next(s for s in data.SCRIPTS if f"script:{s.name}" == kind)
            played = events[i : i + len(script.lines)]
            assert [e.sender for e in played] == [sender for sender, _ in script.lines]
            assert all(e.group == script.group for e in played)
            started.append(script.name)
            i += len(script.lines)
        else:
            i += 1
    names = [s.name for s in data.SCRIPTS]
    assert len(started) >= len(names)
    assert started == [names[k % len(names)] for k in range(len(started))]


def test_script_at_robot_marker_becomes_at_me() -> None:
    script = next(s for s in data.SCRIPTS if any(t.startswith(data.AT_ROBOT) for _, t in s.lines))
    first = script_events(random.Random(1), script, DAY)[0]
    payload = build_payload(first)
    assert payload["atMe"] is True
    assert payload["rawSpoken"] == f"@{reply_robot(DAY)['name']} {payload['spoken']}"
    assert "{robot}" not in payload["rawSpoken"]


def test_staff_at_user_targets_a_group_user_who_may_answer(events: list[Event]) -> None:
    for index, event in enumerate(events[:-1]):
        if event.kind in ("staff_at_user", "operator_assign_user") and event.target:
            assert event.target in data.group_by_name(event.group)["users"]
            assert f"@{event.target}" in event.text
            following = events[index + 1]
            if following.kind.startswith("after_sales_"):
                assert following.sender == event.target and following.group == event.group


def test_reporters_dual_reports_come_from_two_robots(events: list[Event]) -> None:
    monitor, day = "demo-monitor", "demo-day"
    dual = [e for e in events if e.dual_delay_ms is not None]
    assert 0.1 < len(dual) / len(events) < 0.5
    for event in events:
        robots = reporters(event, DAY)
        if event.room_type == 2:
            assert robots == [day] and event.dual_delay_ms is None
        elif event.dual_delay_ms is not None:
            assert sorted(robots) == sorted([monitor, day])
            assert 0 < event.dual_delay_ms < 1000
        else:
            assert robots == [day if event.at_robot else monitor]
    assert reporters(Event(kind="x", sender="s", text="t", room_type=2), NIGHT) == ["demo-night"]


# ── answers, credentials, CLI ─────────────────────────────────────────────────


def test_success_and_failure_answers() -> None:
    assert is_success(200, SUCCESS_BODY)
    assert not is_success(200, {"code": 1, "message": "x"})
    assert not is_success(401, SUCCESS_BODY)
    assert describe_failure(401, '{"code":401,"message":"回调令牌无效"}') == "code=401 回调令牌无效"
    assert describe_failure(502, "<html> Bad   gateway </html>") == "<html> Bad gateway </html>"
    assert describe_failure(500, "") == "HTTP 500"


def credentials_doc() -> dict[str, object]:
    return {
        "base_url": "http://127.0.0.1:8000",
        "robots": [
            {
                "robot_id": r["robot_id"],
                "role": r["role"],
                "token": f"tok/{r['robot_id']}+",
                "message_url": f"http://127.0.0.1:8000/webhooks/worktool/{r['robot_id']}/message?token=abc",
                "result_url": "http://127.0.0.1:8000/x",
            }
            for r in data.ROBOTS
        ],
    }


def test_credentials_use_file_urls_or_rebuild_them_for_a_base_url(tmp_path: Path) -> None:
    path = tmp_path / "demo_robots.json"
    path.write_text(json.dumps(credentials_doc()), encoding="utf-8")
    base, endpoints = load_credentials(path, None)
    assert base == "http://127.0.0.1:8000"
    assert set(endpoints) == set(data.ALL_ROBOT_IDS)
    assert endpoints["demo-day"].url.endswith("/webhooks/worktool/demo-day/message?token=abc")

    base, endpoints = load_credentials(path, "http://hub.local:9000/")
    assert base == "http://hub.local:9000"
    url = urlsplit(endpoints["demo-monitor"].url)
    assert (url.netloc, url.path) == ("hub.local:9000", "/webhooks/worktool/demo-monitor/message")
    assert parse_qs(url.query)["token"] == ["tok/demo-monitor+"]


def test_credentials_errors(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="seed-demo"):
        load_credentials(tmp_path / "missing.json", None)
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(CredentialsError):
        load_credentials(tmp_path / "bad.json", None)
    with pytest.raises(CredentialsError):
        parse_credentials({"robots": []}, None)
    with pytest.raises(CredentialsError, match="token"):
        parse_credentials({"robots": [{"robot_id": "demo-day"}]}, "http://h")


def test_webhook_url_escapes_the_token() -> None:
    assert webhook_url("http://h:1/", "demo-day", "a b&c") == (
        "http://h:1/webhooks/worktool/demo-day/message?token=a%20b%26c"
    )


def test_cli_defaults_and_validation() -> None:
    args = parse_args([])
    assert (args.base_url, args.rate, args.count, args.credentials, args.seed) == (
        None,
        2.0,
        0,
        "var/demo_robots.json",
        None,
    )
    args = parse_args(["--base-url", "http://x:1", "--rate", "5", "--count", "10", "--seed", "3"])
    assert (args.base_url, args.rate, args.count, args.seed) == ("http://x:1", 5.0, 10, 3)
    with pytest.raises(SystemExit):
        parse_args(["--rate", "0"])
