"""The monitor query language: boolean keyword queries compiled once into a fast matcher.

Syntax (operators are upper-case words; everything else is a search term)::

    acme OR "acme corp"                      either the word or the phrase
    acme -jobs                               implicit AND; ``-term`` is NOT term
    (acme OR #acmebikes) AND NOT recall      parentheses, explicit AND / NOT
    @acme_support "broken frame"             a handle and a phrase

Matching is case- and accent-insensitive (NFKD, combining marks dropped, casefolded) and by whole words:
``cat`` does not match "category", a phrase matches consecutive words. A plain term also matches the same
word written as a hashtag or a handle (``acme`` matches "#acme" and "@acme"); ``#acme`` matches only the
hashtag and ``@acme`` only the handle. A term that normalises to several words (``e-bike``, ``don't``) is
matched as a phrase. A query that would match an empty text (``NOT spam``) is refused: it would match
every mention, and refusing it lets the classifier skip every monitor none of whose words occur.

``compile_query(text)`` raises ``QuerySyntaxError`` (with a 1-based ``column``) or returns a ``Query`` whose
``matches(doc)`` takes a ``Document`` built once per text and shared by every monitor.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

_OPERATORS = {"AND", "OR", "NOT"}
# A word of normalised text: letters/digits/underscore, optionally prefixed by # or @.
_WORD = re.compile(r"[#@]?\w+")
# Characters that end a bare term in a query.
_TERM_END = set(' \t\r\n()"')


class QuerySyntaxError(ValueError):
    """The query cannot be parsed; ``column`` is 1-based and points at the offending character."""

    def __init__(self, message: str, column: int) -> None:
        self.message = message
        self.column = column
        super().__init__(message)


@lru_cache(maxsize=4096)
def _normalise_word_cached(text: str) -> str:
    return normalise(text)


def normalise(text: str) -> str:
    """Lower-case, accent-free text: NFKD, drop combining marks, casefold ("Café" -> "cafe")."""
    decomposed = unicodedata.normalize("NFKD", text)
    if decomposed.isascii():
        return decomposed.casefold()
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


class Document:
    """A text prepared for matching: its normalised words (in order) and the set of them.

    Each ``#tag`` / ``@handle`` contributes both itself and its bare word, so a plain term matches it.
    """

    __slots__ = ("_positions", "vocabulary", "words")

    def __init__(self, text: str) -> None:
        tokens = _WORD.findall(normalise(text))
        self.words: list[str] = [t[1:] if t[0] in "#@" else t for t in tokens]
        self.vocabulary: set[str] = set(tokens)
        self.vocabulary.update(self.words)
        self._positions: dict[str, list[int]] | None = None

    def has_phrase(self, phrase: tuple[str, ...]) -> bool:
        if self._positions is None:
            positions: dict[str, list[int]] = {}
            for index, word in enumerate(self.words):
                positions.setdefault(word, []).append(index)
            self._positions = positions
        words, width = self.words, len(phrase)
        return any(tuple(words[start : start + width]) == phrase for start in self._positions.get(phrase[0], ()))


Matcher = Callable[[Document], bool]


@dataclass(frozen=True)
class Query:
    source: str
    matches: Matcher
    # Every word the query looks for (a phrase contributes its first word): a text containing none of
    # them cannot match, because the query is false on a text without any of its terms.
    trigger_words: frozenset[str]


# --- Tokens ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # "(", ")", "AND", "OR", "NOT", "-", "TERM", "PHRASE", "END"
    text: str
    column: int


def _tokenise(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        column = i + 1
        if ch.isspace():
            i += 1
        elif ch in "()":
            tokens.append(_Token(ch, ch, column))
            i += 1
        elif ch == '"':
            end = source.find('"', i + 1)
            if end == -1:
                raise QuerySyntaxError(f"unclosed quote starting at column {column}", column)
            tokens.append(_Token("PHRASE", source[i + 1 : end], column))
            i = end + 1
        elif ch == "-" and (not tokens or tokens[-1].kind in {"(", "AND", "OR", "NOT", "-"} or source[i - 1].isspace()):
            # "-" at the start of a term negates it; inside a word ("e-bike") it is part of the term.
            if i + 1 >= n or source[i + 1].isspace() or source[i + 1] == ")":
                raise QuerySyntaxError(f"'-' at column {column} must be followed by a term", column)
            tokens.append(_Token("-", "-", column))
            i += 1
        else:
            start = i
            while i < n and source[i] not in _TERM_END:
                i += 1
            word = source[start:i]
            tokens.append(_Token(word if word in _OPERATORS else "TERM", word, column))
    tokens.append(_Token("END", "", n + 1))
    return tokens


# --- Parser (recursive descent) producing matcher closures ---------------------------------------------


class _Parser:
    def __init__(self, source: str) -> None:
        self.tokens = _tokenise(source)
        self.index = 0
        self.triggers: set[str] = set()

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def take(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def parse(self) -> Matcher:
        if self.peek().kind == "END":
            raise QuerySyntaxError("the query is empty", 1)
        matcher = self.or_expr()
        token = self.peek()
        if token.kind != "END":
            raise QuerySyntaxError(f"unexpected '{token.text}' at column {token.column}", token.column)
        return matcher

    def or_expr(self) -> Matcher:
        parts = [self.and_expr()]
        while self.peek().kind == "OR":
            self.take()
            parts.append(self.and_expr())
        if len(parts) == 1:
            return parts[0]
        return lambda doc: any(part(doc) for part in parts)

    def and_expr(self) -> Matcher:
        parts = [self.unary()]
        while True:
            kind = self.peek().kind
            if kind == "AND":
                self.take()
            elif kind not in {"TERM", "PHRASE", "(", "NOT", "-"}:
                break
            parts.append(self.unary())  # juxtaposition is an implicit AND
        if len(parts) == 1:
            return parts[0]
        return lambda doc: all(part(doc) for part in parts)

    def unary(self) -> Matcher:
        if self.peek().kind in {"NOT", "-"}:
            self.take()
            inner = self.unary()
            return lambda doc: not inner(doc)
        return self.primary()

    def primary(self) -> Matcher:
        token = self.take()
        if token.kind == "(":
            if self.peek().kind == ")":
                raise QuerySyntaxError(f"empty parentheses at column {token.column}", token.column)
            inner = self.or_expr()
            closing = self.peek()
            if closing.kind != ")":
                raise QuerySyntaxError(f"unclosed '(' at column {token.column}", token.column)
            self.take()
            return inner
        if token.kind in {"TERM", "PHRASE"}:
            return self.term(token)
        if token.kind == "END":
            raise QuerySyntaxError(
                f"the query ends too early: a term is missing at column {token.column}", token.column
            )
        raise QuerySyntaxError(f"unexpected '{token.text}' at column {token.column}", token.column)

    def term(self, token: _Token) -> Matcher:
        words = tuple(_WORD.findall(_normalise_word_cached(token.text)))
        if not words:
            what = "phrase" if token.kind == "PHRASE" else "term"
            raise QuerySyntaxError(
                f"the {what} at column {token.column} has no letters or digits to search for", token.column
            )
        if len(words) == 1:
            word = words[0]
            self.triggers.add(word)
            return lambda doc: word in doc.vocabulary
        # A phrase matches bare words in order; a '#'/'@' inside it keeps only the word.
        phrase = tuple(w[1:] if w[0] in "#@" else w for w in words)
        self.triggers.add(phrase[0])
        vocabulary_needed = frozenset(phrase)
        return lambda doc: vocabulary_needed <= doc.vocabulary and doc.has_phrase(phrase)


def compile_query(source: str) -> Query:
    """Parse ``source`` into a ``Query``; ``QuerySyntaxError`` names the column of the first problem."""
    parser = _Parser(source)
    matcher = parser.parse()
    if matcher(Document("")):
        raise QuerySyntaxError(
            "the query would match every mention (it matches a text without any of its terms); "
            "add a term it must contain",
            1,
        )
    return Query(source=source, matches=matcher, trigger_words=frozenset(parser.triggers))
