"""The monitor query language: what matches, and the error (with its column) for every malformed query."""

from __future__ import annotations

import pytest

from social.listening.query import Document, QuerySyntaxError, compile_query

MATCHING = [
    # query, text, matches?
    ("acme", "I love Acme bikes", True),
    ("acme", "acmecorp is great", False),
    ("cat", "a new category", False),
    ("cat", "my cat, again", True),
    ("café", "Un CAFE au lait", True),
    ("cafe", "un café crème", True),
    ("ÉCOLE", "l'ecole est fermée", True),
    ("straße", "STRASSE gesperrt", True),  # casefold: ß -> ss
    ("acme bikes", "bikes by acme", True),  # implicit AND, any order
    ("acme bikes", "acme cars", False),
    ("acme AND bikes", "acme cars", False),
    ('"acme bikes"', "bikes by acme", False),
    ('"acme bikes"', "New ACME   Bikes!", True),
    ('"acme bikes"', "acme, bikes", True),  # punctuation is not a word
    ('"acme bikes"', "acme and bikes", False),
    ("acme OR globex", "Globex wins", True),
    ("acme OR globex", "initech", False),
    ("acme -jobs", "acme is hiring, jobs here", False),
    ("acme -jobs", "acme is great", True),
    ("acme NOT jobs", "acme jobs", False),
    ("acme AND NOT (jobs OR careers)", "acme careers page", False),
    ("acme AND NOT (jobs OR careers)", "acme launch", True),
    ("(acme OR globex) AND (broken OR refund)", "globex refund please", True),
    ("(acme OR globex) AND (broken OR refund)", "globex is fine", False),
    ("a OR b c", "c only", False),  # AND binds tighter than OR: a OR (b AND c)
    ("a OR b c", "a only", True),
    ("#acme", "loving my new bike #Acme", True),
    ("#acme", "acme bike", False),  # a hashtag query wants the hashtag
    ("acme", "loving it #acme", True),  # a plain term also matches the hashtag
    ("@acme_support", "hey @Acme_Support my order?", True),
    ("@acme_support", "acme_support is slow", False),
    ("e-bike", "my new E-Bike", True),  # a hyphenated term is a phrase
    ("e-bike", "bike e", False),
    ("acme-jobs", "acme jobs", True),  # '-' inside a word is not NOT
    ("don't", "I DON'T like it", True),
    ("acme", "", False),
    ("x1", "model X1 review", True),
    ("日本", "日本 旅行", True),
]


@pytest.mark.parametrize(("query", "text", "expected"), MATCHING)
def test_matching(query: str, text: str, expected: bool) -> None:
    assert compile_query(query).matches(Document(text)) is expected


ERRORS = [
    # query, message, column
    ("", "the query is empty", 1),
    ("   ", "the query is empty", 1),
    ("acme OR (bikes AND)", "unexpected ')' at column 19", 19),
    ("acme bikes)", "unexpected ')' at column 11", 11),
    ("(acme OR bikes", "unclosed '(' at column 1", 1),
    ('acme "big bikes', "unclosed quote starting at column 6", 6),
    ("acme OR", "the query ends too early: a term is missing at column 8", 8),
    ("AND acme", "unexpected 'AND' at column 1", 1),
    ("acme OR OR bikes", "unexpected 'OR' at column 9", 9),
    ("acme ()", "empty parentheses at column 6", 6),
    ("acme -", "'-' at column 6 must be followed by a term", 6),
    ('acme ""', "the phrase at column 6 has no letters or digits to search for", 6),
    ("acme !!!", "the term at column 6 has no letters or digits to search for", 6),
    ("NOT spam", "the query would match every mention", 1),
    ("-spam", "the query would match every mention", 1),
    ("acme OR NOT spam", "the query would match every mention", 1),
]


@pytest.mark.parametrize(("query", "message", "column"), ERRORS)
def test_errors_point_at_the_column(query: str, message: str, column: int) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        compile_query(query)
    assert caught.value.message.startswith(message)
    assert caught.value.column == column


def test_lowercase_operators_are_words() -> None:
    query = compile_query("salt and pepper")
    assert query.matches(Document("pepper and salt"))
    assert not query.matches(Document("salt pepper"))


def test_trigger_words_cover_the_query() -> None:
    assert compile_query('(acme OR "big bikes") -jobs #sale').trigger_words == {"acme", "big", "jobs", "#sale"}
