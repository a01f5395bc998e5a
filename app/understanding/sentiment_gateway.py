"""The flow's entry to sentiment analysis."""

from __future__ import annotations

from app.understanding.types import Sentiment


def analyse_sentiment(text: str, sender_role: str = "user") -> Sentiment:
    try:
        from app.understanding.sentiment import analyse
    except ImportError:  # model not built yet
        return Sentiment("neutral", 0.0, "情绪模型未加载")
    return analyse(text, sender_role)
