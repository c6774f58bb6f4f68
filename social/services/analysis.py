"""Language and sentiment of a message text, computed offline.

Sentiment is VADER's compound score (-1 … 1); it is tuned for English social-media text and reads other
languages as roughly neutral. Language is ``py3langid`` (a packaged naive-Bayes model, deterministic),
kept only when its normalised probability is at least 0.5; texts too short to judge get "".
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from py3langid.langid import MODEL_FILE, LanguageIdentifier  # type: ignore[import-untyped]
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer  # type: ignore[import-untyped]

_MIN_LETTERS = 3
_MIN_PROBABILITY = 0.5


@lru_cache(maxsize=1)
def _analyzer() -> Any:
    return SentimentIntensityAnalyzer()


@lru_cache(maxsize=1)
def _identifier() -> Any:
    # Loading the model takes a second or two: once per process, on first use.
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def text_language(text: str) -> str:
    if sum(ch.isalpha() for ch in text) < _MIN_LETTERS:
        return ""
    language, probability = _identifier().classify(text)
    return str(language) if probability >= _MIN_PROBABILITY else ""


def text_sentiment(text: str) -> float | None:
    if not text.strip():
        return None
    return round(float(_analyzer().polarity_scores(text)["compound"]), 4)


def text_analyse(text: str) -> tuple[str, float | None]:
    return text_language(text), text_sentiment(text)
