from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.errors import InvalidInput
from app.ingest.dedup import RecentMessage, RecentMessages, dedup_key
from app.ingest.ratelimit import TokenBucket
from app.ingest.schemas import coerce_form, decode_json_object, to_message, to_result

DOC_EXAMPLE = {
    "spoken": "你好",
    "rawSpoken": "@me 你好",
    "receivedName": "仑哥",
    "groupName": "测试群1",
    "groupRemark": "测试群1备注名",
    "roomType": 1,
    "atMe": True,
    "textType": 1,
}


def test_documented_example_parses() -> None:
    m = to_message(DOC_EXAMPLE)
    assert (m.spoken, m.rawSpoken, m.receivedName, m.groupName, m.roomType, m.atMe, m.textType) == (
        "你好",
        "@me 你好",
        "仑哥",
        "测试群1",
        1,
        True,
        1,
    )


def test_private_chat_and_media_need_no_text_or_group() -> None:
    m = to_message({"spoken": "", "receivedName": "客户", "groupName": "", "roomType": 2, "textType": 2})
    assert m.groupName == "" and m.spoken == ""


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"roomType": "1"}, "roomType"),
        ({"atMe": "yes"}, "atMe"),
        ({"receivedName": None}, "receivedName"),
        ({"receivedName": " "}, "receivedName"),
        ({"groupName": ""}, "groupName"),
        ({"textType": -1}, "textType"),
        ({"receivedName": "长" * 121}, "receivedName"),
    ],
)
def test_wrong_fields_are_named(change: dict[str, object], needle: str) -> None:
    with pytest.raises(InvalidInput, match=needle):
        to_message({**DOC_EXAMPLE, **change})


def test_missing_text_fields_are_refused() -> None:
    data = {k: v for k, v in DOC_EXAMPLE.items() if k not in {"spoken", "rawSpoken"}}
    with pytest.raises(InvalidInput, match="spoken"):
        to_message(data)


def test_json_body_must_be_an_object() -> None:
    assert decode_json_object(b'{"a": 1}') == {"a": 1}
    for bad in (b"", b"[]", b"{", b'"x"'):
        with pytest.raises(InvalidInput):
            decode_json_object(bad)


def test_form_values_are_coerced() -> None:
    data = coerce_form({**{k: str(v) for k, v in DOC_EXAMPLE.items()}, "atMe": "false", "roomType": ["3"]})
    assert data["atMe"] is False and data["roomType"] == 3 and data["textType"] == 1
    with pytest.raises(InvalidInput, match="roomType"):
        coerce_form({"roomType": "one"})


def test_result_lists_may_arrive_as_json_strings() -> None:
    r = to_result({"messageId": 123, "errorCode": 201102, "successList": '["群1"]', "failList": "[]"})
    assert r.messageId == "123" and r.errorCode == 201102 and r.successList == ["群1"] and r.failList == []
    with pytest.raises(InvalidInput, match="messageId"):
        to_result({"errorCode": 0})


def test_dedup_key_scopes_group_chats_and_private_chats() -> None:
    a = dedup_key("群1", "张三", "你好", 1, None)
    assert a == dedup_key("群1", "张三", "你好", 1, None)
    assert a != dedup_key("群2", "张三", "你好", 1, None)
    assert a != dedup_key("群1", "李四", "你好", 1, None)
    assert dedup_key("", "张三", "你好", 1, "1") != dedup_key("", "张三", "你好", 1, "2")


def test_recent_messages_match_other_robots_within_the_window_only() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    recent = RecentMessages()
    recent.add("k", RecentMessage(7, now, {1}))
    assert recent.find("k", 1, now + timedelta(seconds=1)) is None  # same robot: a real repeat
    assert recent.find("k", 2, now + timedelta(seconds=10)) is not None
    assert recent.find("k", 2, now + timedelta(seconds=11)) is None
    recent.prune(now + timedelta(seconds=30))
    assert recent.by_key == {}


def test_token_bucket_allows_burst_then_rate() -> None:
    bucket = TokenBucket(rate=2, capacity=3)
    start = bucket.updated
    assert [bucket.take(start) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(start + 0.5) is True
    assert bucket.take(start + 0.5) is False


def test_a_busy_robots_last_seen_is_written_at_most_once_a_second() -> None:
    from app.ingest.service import IngestWriter

    writer = IngestWriter(db=None, on_stored=None)  # type: ignore[arg-type]
    t0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    assert writer._robots_to_mark_seen({2, 1}, t0) == [1, 2]
    assert writer._robots_to_mark_seen({1, 2}, t0 + timedelta(milliseconds=400)) == []
    assert writer._robots_to_mark_seen({1, 3}, t0 + timedelta(milliseconds=900)) == [3]
    assert writer._robots_to_mark_seen({1, 3}, t0 + timedelta(seconds=1)) == [1]


def test_token_bucket_refills_on_time_whatever_the_clock_value() -> None:
    bucket = TokenBucket(rate=2, capacity=1)
    bucket.updated = start = 8191.834941733  # (start + 0.5) - start is not exactly 0.5 in floats
    assert bucket.take(start) is True
    assert bucket.take(start + 0.5) is True
