"""Text matching shared by validation and evaluation: folding, words, and regular expressions with a time limit."""

from __future__ import annotations

import importlib
import re
import unicodedata
from typing import Any

import regex

# The standard library's own regular expression parser (``sre_parse`` before 3.11, deprecated under that name),
# used only to inspect a pattern's structure; ``regex`` runs the patterns.
sre_parse: Any = importlib.import_module("re._parser")

# Matching looks at most at this much of a message (a 1 MB e-mail must not make every rule slow).
MAX_TEXT = 4000
REGEX_TIMEOUT_SECONDS = 0.05
MAX_PATTERN = 300
_WORD = re.compile(r"\w+")
# "(…+…)+" or "(…*…){2,}" written without the parser's help: a quantified group that contains a quantifier.
_NESTED_TEXTUAL = re.compile(r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)(?:[+*]|\{\d*,)")


def fold(text: str) -> str:
    """Case- and accent-insensitive form: "Ñandú" and "nandu" fold alike."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def normalise_term(value: str) -> str:
    """A word or phrase as matching sees it: folded, punctuation dropped ("Money-back!" → "money back")."""
    return " ".join(_WORD.findall(fold(value)))


def words(folded: str) -> frozenset[str]:
    return frozenset(_WORD.findall(folded))


def spaced_words(folded: str) -> str:
    """The words of ``folded`` joined by single spaces and padded: " my order is late " (phrase lookups)."""
    return f" {' '.join(_WORD.findall(folded))} "


def _repeats(tree: Any, inside_repeat: bool) -> str | None:
    for op, arg in tree:
        name = str(op)
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            _low, high, sub = arg
            unbounded = high is sre_parse.MAXREPEAT or high > 1
            if inside_repeat and unbounded:
                return "nested quantifiers such as (a+)+ can take exponential time"
            found = _repeats(sub, inside_repeat or unbounded)
            if found:
                return found
        elif name == "SUBPATTERN":
            found = _repeats(arg[-1], inside_repeat)
            if found:
                return found
        elif name == "BRANCH":
            for branch in arg[1]:
                found = _repeats(branch, inside_repeat)
                if found:
                    return found
        elif name in ("ASSERT", "ASSERT_NOT"):
            found = _repeats(arg[1], inside_repeat)
            if found:
                return found
    return None


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` is refused (does not compile, too long, or catastrophic), or ``None``."""
    if not isinstance(pattern, str) or not pattern:
        return "enter a regular expression"
    if len(pattern) > MAX_PATTERN:
        return f"a regular expression has at most {MAX_PATTERN} characters"
    try:
        regex.compile(pattern, regex.IGNORECASE)
    except regex.error as exc:
        return f"“{pattern}” is not a valid regular expression: {exc}"
    try:
        tree = sre_parse.parse(pattern)
    except re.error:
        # Syntax only the ``regex`` module knows: fall back to the textual check.
        return "nested quantifiers such as (a+)+ can take exponential time" if _NESTED_TEXTUAL.search(pattern) else None
    return _repeats(tree, inside_repeat=False)


def compile_pattern(pattern: str) -> Any:
    return regex.compile(pattern, regex.IGNORECASE)


def search(compiled: Any, text: str) -> bool | None:
    """True/False, or ``None`` when the time limit ran out (the condition then fails)."""
    try:
        return compiled.search(text[:MAX_TEXT], timeout=REGEX_TIMEOUT_SECONDS) is not None
    except TimeoutError:
        return None
