"""Classify a mention: which monitors match it, its language and its sentiment.

``Classifier`` is compiled once from the active monitors. Each query knows the words it looks for
(``Query.trigger_words``); an inverted index from word to monitors means a text is only evaluated against
the monitors one of whose words it contains, so 200 monitors cost little more than 2. ``current_classifier()``
keeps one per process and rebuilds it when a monitor was added, changed or deleted (key: count, highest
``updated_at``, highest id; one aggregate query).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, Max

from social.listening.query import Document, Query, QuerySyntaxError, compile_query
from social.models import Mention, Monitor
from social.services.analysis import text_language, text_sentiment

# VADER's documented thresholds on the compound score.
POSITIVE_FROM = 0.05
NEGATIVE_TO = -0.05


def sentiment_label(score: float | None) -> str:
    if score is None:
        return Mention.Sentiment.NEUTRAL
    if score >= POSITIVE_FROM:
        return Mention.Sentiment.POSITIVE
    if score <= NEGATIVE_TO:
        return Mention.Sentiment.NEGATIVE
    return Mention.Sentiment.NEUTRAL


@dataclass(frozen=True)
class CompiledMonitor:
    id: int
    query: Query
    languages: frozenset[str]
    source_kinds: frozenset[str]


@dataclass(frozen=True)
class Classification:
    monitor_ids: tuple[int, ...]
    language: str
    sentiment_score: float | None
    sentiment_label: str


class Classifier:
    def __init__(self, monitors: Iterable[CompiledMonitor]) -> None:
        self.monitors = list(monitors)
        self._by_word: dict[str, list[CompiledMonitor]] = {}
        for monitor in self.monitors:
            for word in monitor.query.trigger_words:
                self._by_word.setdefault(word, []).append(monitor)

    @classmethod
    def from_monitors(cls, monitors: Iterable[Monitor]) -> Classifier:
        compiled = []
        for monitor in monitors:
            try:
                query = compile_query(monitor.query)
            except QuerySyntaxError:
                continue  # saved around the admin's validation (shell, bulk update): it cannot match anything
            compiled.append(
                CompiledMonitor(
                    id=monitor.pk,
                    query=query,
                    languages=frozenset(code.lower() for code in monitor.languages),
                    source_kinds=frozenset(monitor.source_kinds),
                )
            )
        return cls(compiled)

    def match(self, text: str, *, source_kind: str, language: str) -> tuple[int, ...]:
        doc = Document(text)
        candidates: dict[int, CompiledMonitor] = {}
        by_word = self._by_word
        for word in doc.vocabulary:
            for monitor in by_word.get(word, ()):
                candidates[monitor.id] = monitor
        matched = [
            monitor.id
            for monitor in candidates.values()
            if (not monitor.source_kinds or source_kind in monitor.source_kinds)
            and (not monitor.languages or language in monitor.languages)
            and monitor.query.matches(doc)
        ]
        return tuple(sorted(matched))

    def classify(self, text: str, *, source_kind: str, language: str = "") -> Classification:
        """Monitors, language (``language`` when the source gave a valid one, else detected) and sentiment."""
        language = language.lower() if len(language) == 2 and language.isalpha() else text_language(text)
        score = text_sentiment(text)
        return Classification(
            monitor_ids=self.match(text, source_kind=source_kind, language=language),
            language=language,
            sentiment_score=score,
            sentiment_label=sentiment_label(score),
        )


_lock = threading.Lock()
_cached: tuple[tuple[object, ...], Classifier] | None = None


def current_classifier() -> Classifier:
    """The classifier for the active monitors as they are now, compiled at most once per change."""
    global _cached
    stats = Monitor.objects.aggregate(count=Count("id"), changed=Max("updated_at"), last=Max("id"))
    key = (stats["count"], stats["changed"], stats["last"])
    with _lock:
        if _cached is not None and _cached[0] == key:
            return _cached[1]
    classifier = Classifier.from_monitors(Monitor.objects.filter(is_active=True))
    with _lock:
        _cached = (key, classifier)
    return classifier
