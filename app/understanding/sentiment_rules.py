"""Chat-style sentiment rules: what a model trained on reviews (or a small chat corpus) gets wrong.

Each rule that fires contributes a signed weight on the −1…+1 polarity scale, a short Chinese tag
for the reason, and a feature token the chat model can learn from. A few rules are decisive
(``force``): short acknowledgements are neutral, sarcasm is negative.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

NEG_EMOJI = "😡😤💢👎😠🤬😞😩😫😣😖🙄💔😒😑😓😰😱🤮🖕😭😢😟😔☹"
POS_EMOJI = "👍😄❤😊😁🥰🌹🎉😃😀💯😘🤗☺🌸🌺💐😍🥳✨🎂🧧🎊😋💕💖🥂🍻"
POLITE_EMOJI = "🙏👌🤝✌💪👏"  # courtesy more than joy: weak evidence on their own
AMBIGUOUS_EMOJI = "😂🤣😅🙃"
NEG_BRACKET = "发怒|抓狂|流泪|大哭|撇嘴|难过|委屈|衰|鄙视|快哭了|生气|怒|白眼|吐|叹气|裂开|心碎"
POS_BRACKET = "强|赞|玫瑰|爱心|愉快|偷笑|呲牙|可爱|庆祝|爱你|红包|太阳|憨笑|得意"
POLITE_BRACKET = "握手|抱拳|耶|ok|鼓掌|加油|好的|拳头|胜利"

_NEG_EMOJI_RE = re.compile(f"[{NEG_EMOJI}]|\\[(?:{NEG_BRACKET})\\]")
_POS_EMOJI_RE = re.compile(f"[{POS_EMOJI}]|\\[(?:{POS_BRACKET})\\]")
_POLITE_EMOJI_RE = re.compile(f"[{POLITE_EMOJI}]|\\[(?:{POLITE_BRACKET})\\]")
_AMBIG_EMOJI_RE = re.compile(f"[{AMBIGUOUS_EMOJI}]|\\[(?:捂脸|笑哭|破涕为笑|苦涩|微笑)\\]")
_LAUGH_RE = re.compile(r"哈哈|h{3,}|嘿嘿|嘻嘻|hiahia|笑死|xswl")
_ELLIPSIS_RE = re.compile(r"。{2,}|…|\.{3,}|,{3,}|，{3,}")
_QUESTIONS_RE = re.compile(r"[?？]{2,}")
_EXCLAIMS_RE = re.compile(r"[!！]{2,}")
_POLITE_RE = re.compile(
    r"不好意思|不客气|不用谢|没关系|没事没事|不麻烦|没问题|没毛病|"
    r"(?:别|不要|不用)(?:太|那么|这么)?(?:焦虑|担心|慌|急|着急|生气|紧张|害怕|在意)"
)

_DOUBLE_NEG_RE = re.compile(
    r"(?:并?不是|也不是|倒不是|并?没有|也没有|没)(?:说|很|太|特别|啥|什么|觉得)?(?:你们|你)?(?:不|没)"
    r"(满意|开心|高兴|喜欢|好|行|愿意|认可|相信|靠谱|舒服|爽)"
)
_BUT_RE = re.compile(r"就是|只是|但是?|不过|可是")
_CALM_RE = re.compile(
    r"请问|问(?:一)?下|想问|想了解|咨询|[吗呢嘛][?？]?$|有没有|是不是|怎么(?:弄|算|操作|办|绑|扫|看|发|填)|在哪|哪里|"
    r"多少|几点|什么时候|啥时候|能不能|可不可以|可以吗|需要(?:我)?|帮(?:我|忙)"
)
_APOLOGY_RE = re.compile(r"对不起|抱歉|sorry|不好意思|见谅")
_NEG_EVAL_RE = re.compile(  # a negated judgement of the service or one's mood: clearly negative
    r"不(?:太|怎么|是很|够|大)?(?:满意|靠谱|专业|负责|给力|及时|合理|划算|值)|不怎么样|不咋(?:地|样|滴|的)|不像话|"
    r"没(?:什么|啥)用|没用(?=[了啊的吧呀!！。,，?？\s]|$)|没效果|没(?:人|谁)(?:管|理|回|处理)|不太行|不怎么行|"
    r"(?:效果|感觉|体验|服务|态度|质量|心情|结果|数据|收益)(?:也|都|真的|就|还是|一直|很|太)?"
    r"(?:不太|不怎么|不是很|很不|不)(?:好|行|理想|稳定)"
)
_NEG_POS_RE = re.compile(  # a negated positive word, often only factual ("信号不太好"): weak evidence
    r"(?<![好要])不(?:太|怎么|是很)?(?:好(?![的吧了啊呀意])|开心|高兴|舒服|爽|喜欢|理想)"
)
_STRONG_NEG_RE = re.compile(
    r"垃圾|骗子|骗人|骗钱|坑人|坑爹|退钱|投诉|举报|滚|妈的|tmd|他妈|卧槽|尼玛|傻[逼b]|\bsb\b|恶心|气死|烦死|"
    r"受不了|跑路|割韭菜|差劲|太差|失望|离谱|过分|忽悠|欺骗|敷衍|别烦|不干了|不想(?:弄|搞|做|干)了|后悔|"
    r"糟心|崩溃|火大|什么破|破(?:公司|平台|东西)|黑心|无良|坑(?:死|了)|凭什么|太坑|受够|抢钱|造假|维权|"
    r"来气|心态崩|崩了|完蛋|累成狗|谁稀罕|爱咋咋|看着办|掂量|少废话|要你命|挤牙膏|难带|不拦着|"
    r"有没有管事|白忙|白干|白发|白做|曝光|12315|解约|滚蛋|闭嘴|废物|丢人|脑子"
)
_MILD_NEG_RE = re.compile(
    r"怎么还没|到底(?:要|还|什么|怎么|行不行)|搞什么|什么鬼|怎么回事|郁闷|心累|生气|(?<!麻)烦|难受|着急|急死|"
    r"太慢|好慢|担心|害怕|焦虑|头疼|可惜|遗憾|抱怨|怀疑|靠谱吗|真的假的|又(?:被|要)?封|"
    r"被封|封号|掉粉|扣(?:钱|分|款)|没(?:到账|反应)|冻结|吃亏|唉|哎|心疼|累死|难过|伤心|委屈|"
    r"郁闷|倒霉|惨|哭了|崩|扎心|心塞|无奈|没意义|最后一次|别给我|自己看着|直接扣|淘汰|踢(?:出|了)|懒得|谁爱|还@|烦不烦|有完没完"
)
_POS_RE = re.compile(
    r"谢谢|感谢|多谢|辛苦(?:了|啦)|太好了|真好|好棒|太棒|真棒|很棒|给力|靠谱|满意|开心|高兴|厉害|牛|666|"
    r"点赞|优秀|完美|专业|耐心|热情|到账了|解决了|搞定了?|没事了|nice|棒棒|喜欢|爱了|赞|不错|顺利|放心|"
    r"太好|挺好|很好|真不错|效率高|周到|贴心|舒服|快乐|恭喜|好样的|欣慰|安康|愉快|可爱|欢迎|爽|绝了|"
    r"幸福|美滋滋|哇塞|好开心|期待|祝|感动|暖心|佩服你|太逗|好玩|有意思"
)
_SARCASM_RE = re.compile(
    r"呵呵|呵$|(?:真是|我真|真)?服了|无语|醉了|真有你的|可真行|真行啊|谢谢你们啊|真是谢谢|"
    r"(?:是按|按)?火星|佩服佩服|厉害厉害|真是(?:太)?(?:厉害|高效|快)"
)
_PRAISE_RE = re.compile(
    "好棒|真棒|太棒|(?:真|太|好|可)厉害|厉害了|牛|666|谢谢|感谢|太好了|真好|不错|可以啊|真行|绝了|优秀|佩服|"
    "效率(?:真|太)?高|高效|[👍👏🙏]|\\[(?:强|赞)\\]"
)
_NEG_EVENT_RE = re.compile(
    r"又(?:一次|被|掉|扣|挂|出|没|不|来|封|坏|错|卡|违规|限流|冻结|是|要|双叒)|再次|第[2-9二三四五六七八九十几]+次|"
    r"封号|被封|封了|扣(?:钱|分|款|了)|掉粉|骗|坑|违规|限流|冻结|没(?:到账|收到|反应|人)|不(?:回|理|管)|"
    r"出问题|出错|失败|卡(?:住|了|死)|崩了|一直没|总是|老是|折腾|白(?:忙|干|做|发)|零作品|"
    r"[一两三四五六七八九十几0-9]+(?:天|个礼拜|个星期|周|个月)(?:才|都|回|没)|才回"
)
_ACK_RE = re.compile(
    r"(?:好的?|好滴|好嘞|好哒|好吧|收到(?:了|啦)?|在的?|在呢|嗯+|恩+|哦+|噢+|喔+|行|行的|ok(?:ay)?|可以|"
    r"知道了?|明白了?|了解(?:了)?|是的?|对的?|对|来了|马上|稍等|等下|等一下|1|没问题|好的呢|好的收到|收到收到)+"
)
_STRIP_RE = re.compile(r"[\s,，.。!！~～、:：;；\-—_·…]+")
_EMOJI_ANY_RE = re.compile(
    "[\U0001f300-\U0001faff\u2600-\u27bf\u2b50\u2764\ufe0f\u200d]|\\[[^\\[\\]]{1,4}\\]"
)


RULE_KEYS = (
    "ack",
    "emoji_only",
    "neg_emoji",
    "pos_emoji",
    "polite_emoji",
    "ambig_emoji",
    "laugh",
    "ellipsis",
    "questions",
    "exclaims",
    "double_neg",
    "double_neg_but",
    "neg_eval",
    "neg_pos",
    "strong_neg",
    "mild_neg",
    "pos_word",
    "sarcasm",
    "polite",
    "apology",
    "calm",
)  # every rule's key; RuleHits.tokens are "§r:<key>"


SARCASM_DECISIVE_LENGTH = 40  # sarcasm decides short lines; in longer texts it is evidence only
NEG_EVAL_DECISIVE_LENGTH = 20


@dataclass(frozen=True, slots=True)
class RuleHits:
    delta: float  # signed polarity contribution, summed over rules
    tags: tuple[str, ...]  # short Chinese reason fragments
    tokens: tuple[str, ...]  # feature tokens for the model (§r:…)
    masked: str = ""  # text for the n-gram features: polite phrases blanked, double negations resolved
    force: str | None = None  # label the rules insist on
    intensity: float = 1.0  # ！！！ / ？？？ multiply the final polarity


def _emoji_rules(text: str, out: list[tuple[float, str, str]]) -> None:
    if _NEG_EMOJI_RE.search(text):
        out.append((-0.5, "负面表情", "neg_emoji"))
    if _POS_EMOJI_RE.search(text):
        out.append((0.35, "正面表情", "pos_emoji"))
    elif _POLITE_EMOJI_RE.search(text):
        out.append((0.15, "礼貌表情", "polite_emoji"))
    if _AMBIG_EMOJI_RE.search(text):
        out.append((0.0, "😂含义不定", "ambig_emoji"))


def _punctuation_rules(text: str, out: list[tuple[float, str, str]]) -> None:
    if _LAUGH_RE.search(text):
        out.append((0.25, "笑声", "laugh"))
    if _ELLIPSIS_RE.search(text):
        out.append((-0.15, "省略号", "ellipsis"))
    if _QUESTIONS_RE.search(text):
        out.append((-0.2, "连续问号", "questions"))
    if _EXCLAIMS_RE.search(text):
        out.append((0.0, "连续感叹号", "exclaims"))


def _lexicon_rules(text: str, out: list[tuple[float, str, str]]) -> str:
    """Lexicon hits; returns the text with double negations resolved (the model misreads them)."""
    match = _DOUBLE_NEG_RE.search(text)
    if match:  # "不是不满意，就是…" is a softened complaint: what follows the 就是/但 decides
        softened = _BUT_RE.search(text, match.end()) is not None
        out.append((0.0 if softened else 1.0, "双重否定", "double_neg_but" if softened else "double_neg"))
        text = _DOUBLE_NEG_RE.sub(r"\1", text)  # read literally: 没有不开心 → 开心
    masked = text
    if _NEG_EVAL_RE.search(text):
        out.append((-1.0, "否定评价", "neg_eval"))
        text = _NEG_EVAL_RE.sub("，", text)
    if _NEG_POS_RE.search(text):
        out.append((-0.3, "否定正面词", "neg_pos"))
        text = _NEG_POS_RE.sub("，", text)
    if _STRONG_NEG_RE.search(text):
        out.append((-0.7, "强烈负面词", "strong_neg"))
    if _MILD_NEG_RE.search(text):
        out.append((-0.3, "负面词", "mild_neg"))
    if _POS_RE.search(text):
        out.append((0.4, "正面词", "pos_word"))
    return masked


def _calm_rules(text: str, out: list[tuple[float, str, str]]) -> None:
    """Evidence for neutral: apologies, and plain questions or requests with no negative cue."""
    if _APOLOGY_RE.search(text):
        out.append((0.0, "致歉", "apology"))
    if _CALM_RE.search(text) and not any(w < 0 for w, _, _ in out):
        out.append((0.0, "普通询问", "calm"))


def _is_sarcastic(text: str) -> bool:
    if _SARCASM_RE.search(text):
        return True
    return bool(_PRAISE_RE.search(text) and _NEG_EVENT_RE.search(text))


def is_acknowledgement(text: str) -> bool:
    """A bare acknowledgement (好的 / 收到 / 在的 / 嗯嗯 …), possibly with punctuation or emoji."""
    core = _STRIP_RE.sub("", _EMOJI_ANY_RE.sub("", text))
    return bool(core) and len(core) <= 8 and _ACK_RE.fullmatch(core) is not None


def _emoji_only(text: str) -> RuleHits | None:
    """A message of emoji (and punctuation) only: the emoji decide."""
    if _STRIP_RE.sub("", _EMOJI_ANY_RE.sub("", text)):
        return None
    hits: list[tuple[float, str, str]] = []
    _emoji_rules(text, hits)
    delta = sum(w for w, _, _ in hits)
    force = "neutral" if abs(delta) < 0.3 else ("positive" if delta > 0 else "negative")
    tags = (*(t for _, t, _ in hits), "仅表情")
    return RuleHits(delta, tags, (*(f"§r:{k}" for _, _, k in hits), "§r:emoji_only"), text, force)


def _acknowledgement(text: str) -> RuleHits | None:
    if not is_acknowledgement(text):
        return None
    if _POS_EMOJI_RE.search(text):
        return RuleHits(0.15, ("简短确认", "正面表情"), ("§r:ack",), text, "neutral")
    if _POLITE_EMOJI_RE.search(text):
        return RuleHits(0.1, ("简短确认", "礼貌表情"), ("§r:ack",), text, "neutral")
    if _ELLIPSIS_RE.search(text):
        return RuleHits(-0.1, ("简短确认", "省略号"), ("§r:ack",), text, "neutral")
    return RuleHits(0.05, ("简短确认",), ("§r:ack",), text, "neutral")


@lru_cache(maxsize=4096)
def apply_rules(text: str) -> RuleHits:
    """Rules over lower-cased text (NFKC is left to the caller; emoji survive either way)."""
    decided = _acknowledgement(text) or _emoji_only(text)
    if decided is not None:
        return decided
    cleaned = _POLITE_RE.sub("，", text)
    hits: list[tuple[float, str, str]] = []
    if _is_sarcastic(text):
        hits.append((-0.9, "讽刺", "sarcasm"))
    _emoji_rules(text, hits)
    _punctuation_rules(text, hits)
    masked = _lexicon_rules(cleaned, hits)
    if cleaned != text:
        hits.append((0.1, "客套语", "polite"))
    _calm_rules(text, hits)
    return _summarise(text, masked, hits)


def _summarise(text: str, masked: str, hits: list[tuple[float, str, str]]) -> RuleHits:
    if not hits:
        return RuleHits(0.0, (), (), masked)
    sarcastic = any(tag == "sarcasm" for _, _, tag in hits)
    if sarcastic:  # praise words and 👍 are the sarcasm itself: they must not count as positive
        hits = [h for h in hits if h[0] <= 0]
    delta = sum(w for w, _, _ in hits)
    tags = tuple(
        t for w, t, _ in hits if w or t in ("😂含义不定", "连续感叹号", "双重否定", "普通询问", "致歉")
    )
    tokens = tuple(f"§r:{k}" for _, _, k in hits)
    intensity = 1.3 if (_EXCLAIMS_RE.search(text) or _QUESTIONS_RE.search(text)) else 1.0
    return RuleHits(round(delta, 3), tags, tokens, masked, _force(text, hits), intensity)


def _force(text: str, hits: list[tuple[float, str, str]]) -> str | None:
    """Sarcasm decides short lines; so does a negated judgement (不太满意, 不怎么样) with no positive cue."""
    keys = {k for _, _, k in hits}
    if "sarcasm" in keys and len(text) <= SARCASM_DECISIVE_LENGTH:
        return "negative"
    positive = any(w > 0 for w, _, _ in hits)
    if "neg_eval" in keys and not positive and len(text) <= NEG_EVAL_DECISIVE_LENGTH:
        return "negative"
    return None
