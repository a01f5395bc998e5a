"""The 15 message types of PRODUCT.md §3.2 and the result shapes of understanding."""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec


class MessageType(msgspec.Struct, frozen=True):
    code: str
    name: str
    category: str  # user | staff | operator
    priority: int  # 1 = highest
    description: str


MESSAGE_TYPES: tuple[MessageType, ...] = (
    MessageType("chat_daily", "日常聊天", "user", 5, "问候、寒暄、日常交流"),
    MessageType("chat_inquiry", "服务咨询", "user", 3, "咨询服务相关问题、寻求帮助"),
    MessageType("chat_after_sales", "售后任务", "user", 1, "需要扫码、绑定、认证、登录等售后处理"),
    MessageType("chat_complaint", "用户投诉", "user", 1, "不满意、指责、怀疑公司"),
    MessageType("chat_private_operation", "号主私自操作", "user", 1, "号主自行添加商品、删除或发布作品"),
    MessageType("chat_cooperation", "需要配合", "user", 3, "关于发作品、自拍视频等需要号主配合的事"),
    MessageType("chat_complain_discuss", "闲聊抱怨", "user", 4, "号主之间闲聊、发牢骚、互相怀疑"),
    MessageType("chat_other", "其他", "user", 10, "其他用户消息（含广告、无意义内容）"),
    MessageType("staff_reply_user", "回复用户", "staff", 3, "回答号主的疑虑或问题"),
    MessageType("staff_at_user", "@用户", "staff", 1, "@号主布置售后任务或提醒"),
    MessageType("staff_ask_user", "询问号主", "staff", 3, "询问号主的情况"),
    MessageType("staff_other", "其他", "staff", 10, "其他工作人员消息"),
    MessageType("operator_assign_user", "安排号主", "operator", 2, "给号主安排工作"),
    MessageType("operator_tone_hard", "语气硬", "operator", 1, "语气强硬，可能伤害号主配合度"),
    MessageType("operator_other", "其他", "operator", 10, "其他运营消息"),
)
TYPES_BY_CODE = {t.code: t for t in MESSAGE_TYPES}
CATEGORY_OF_ROLE = {"user": "user", "staff": "staff", "operator": "operator", "robot": "staff"}
TYPES_BY_CATEGORY: dict[str, tuple[str, ...]] = {
    category: tuple(t.code for t in MESSAGE_TYPES if t.category == category)
    for category in ("user", "staff", "operator")
}
OTHER_TYPE = {"user": "chat_other", "staff": "staff_other", "operator": "operator_other"}

SENTIMENT_LABELS = ("negative", "neutral", "positive")
RESPONSE_LABELS = ("response", "refusal", "none")


@dataclass(frozen=True, slots=True)
class ContextLine:
    role: str  # user | staff | operator | robot
    content: str


@dataclass(frozen=True, slots=True)
class MessageInput:
    """What the classifiers see: the text plus what the hub knows around it."""

    text: str
    sender_role: str = "user"
    at_names: tuple[str, ...] = ()  # @-mentioned display names in the text
    context: tuple[ContextLine, ...] = ()  # previous messages of the session/group, oldest first
    open_task: bool = False  # the sender has an open after-sales task in this group
    open_task_type: str | None = None  # its type (扫码登录 … 其他); read only with open_task
    media_kind: str = "text"


@dataclass(frozen=True, slots=True)
class Classification:
    type: str
    confidence: float
    reason: str
    tier: str  # rules | model | llm
    notes: tuple[str, ...] = field(default=())

    @property
    def type_name(self) -> str:
        return TYPES_BY_CODE[self.type].name

    @property
    def category(self) -> str:
        return TYPES_BY_CODE[self.type].category


@dataclass(frozen=True, slots=True)
class Sentiment:
    label: str  # negative | neutral | positive
    score: float  # -1 (very negative) … +1 (very positive)
    reason: str = ""
