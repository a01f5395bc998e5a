"""Keyword lexicons per message type and sender-name patterns: defaults, editable in settings.

Lexicon hits are features of the trained model ("kw:<type>") and reasons shown to staff, so
an edit in the console changes decisions at once, without retraining.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.system.service import get_setting, put_setting
from app.understanding.types import TYPES_BY_CODE

LEXICON_KEY = "understanding.lexicons"
NAME_PATTERNS_KEY = "understanding.name_patterns"
RESPONSE_KEY = "understanding.response_words"

DEFAULT_LEXICONS: dict[str, list[str]] = {
    "chat_daily": ["早上好", "早安", "晚安", "吃了吗", "哈哈", "谢谢", "辛苦了", "周末", "天气", "下班"],
    "chat_inquiry": [
        "请问",
        "怎么",
        "如何",
        "什么时候",
        "多久",
        "能不能",
        "可以吗",
        "是不是",
        "为什么",
        "咋",
    ],
    "chat_after_sales": [
        "扫码",
        "二维码",
        "实名",
        "认证",
        "绑定",
        "换绑",
        "验证码",
        "登录",
        "登不上",
        "人脸",
        "解封",
        "手机号",
    ],
    "chat_complaint": [
        "投诉",
        "骗子",
        "骗人",
        "退钱",
        "退款",
        "举报",
        "垃圾",
        "忽悠",
        "不靠谱",
        "坑人",
        "12315",
        "太差",
        "什么破",
    ],
    "chat_private_operation": [
        "我自己发",
        "自己发了",
        "我删了",
        "删掉了",
        "删了作品",
        "自己上架",
        "加了商品",
        "自己挂",
        "我改了",
        "自己改了",
    ],
    "chat_cooperation": ["发作品", "拍视频", "自拍", "拍好了", "脚本", "剪辑", "发视频", "拍了"],
    "chat_complain_discuss": ["你们有没有", "大家", "你们呢", "我也是", "有人", "你们那", "听说"],
    "chat_other": ["兼职", "加我", "代理", "优惠券", "红包", "http", "点击链接", "招聘"],
    "staff_reply_user": ["已经", "处理好了", "帮您", "帮你", "可以了", "放心", "不用担心", "是这样的"],
    "staff_at_user": ["麻烦", "记得", "提醒", "请尽快", "扫一下", "配合", "今天内"],
    "staff_ask_user": ["请问您", "您那边", "是否", "有没有", "现在方便", "什么情况", "还在吗"],
    "staff_other": ["通知", "公告", "各位", "群规", "欢迎"],
    "operator_assign_user": ["安排", "今天", "明天", "任务", "都去", "每人", "统一", "要求"],
    "operator_tone_hard": [
        "必须",
        "赶紧",
        "马上",
        "再不",
        "否则",
        "听不懂",
        "搞快点",
        "怎么回事",
        "废物",
        "不想干",
    ],
    "operator_other": ["收到", "辛苦", "好的", "开会", "数据"],
}

# Display-name fragments that mark staff or operators when the registry has no entry (§3.1).
DEFAULT_NAME_PATTERNS: dict[str, list[str]] = {
    "staff": ["售后", "助理", "客服", "小助手"],
    "operator": ["运营", "财神爷", "老板"],
}

DEFAULT_RESPONSE_WORDS: dict[str, list[str]] = {
    "response": [
        "在的",
        "在",
        "来了",
        "好的",
        "收到",
        "马上",
        "可以",
        "行",
        "是的",
        "稍等",
        "在呢",
        "现在弄",
    ],
    "refusal": [
        "不弄了",
        "没空",
        "别烦我",
        "算了不搞了",
        "不搞了",
        "不想弄",
        "以后再说",
        "今天不行",
        "不做了",
        "太麻烦",
    ],
}


def clean_words(words: list[Any], limit: int = 200) -> list[str]:
    out: list[str] = []
    for word in words:
        word = str(word).strip()
        if word and len(word) <= 30 and word not in out:
            out.append(word)
    return out[:limit]


def validate_lexicons(value: dict[str, list[Any]]) -> dict[str, list[str]]:
    from app.errors import InvalidInput

    unknown = [k for k in value if k not in TYPES_BY_CODE]
    if unknown:
        raise InvalidInput(f"未知的消息类型：{', '.join(unknown)}")
    return {code: clean_words(value.get(code, [])) for code in TYPES_BY_CODE}


async def load_lexicons(session: AsyncSession) -> dict[str, list[str]]:
    stored = await get_setting(session, LEXICON_KEY)
    return stored if isinstance(stored, dict) else DEFAULT_LEXICONS


async def save_lexicons(session: AsyncSession, value: dict[str, list[Any]], by: str) -> dict[str, list[str]]:
    clean = validate_lexicons(value)
    await put_setting(session, LEXICON_KEY, clean, by)
    return clean


async def load_name_patterns(session: AsyncSession) -> dict[str, list[str]]:
    stored = await get_setting(session, NAME_PATTERNS_KEY)
    return stored if isinstance(stored, dict) else DEFAULT_NAME_PATTERNS


async def load_response_words(session: AsyncSession) -> dict[str, list[str]]:
    stored = await get_setting(session, RESPONSE_KEY)
    return stored if isinstance(stored, dict) else DEFAULT_RESPONSE_WORDS
