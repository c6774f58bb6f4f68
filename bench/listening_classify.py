"""Mention classification on one core: 200 monitors, language and sentiment, in mentions per second.

    .venv/bin/python bench/listening_classify.py                      # 20,000 mentions, 200 monitors
    .venv/bin/python bench/listening_classify.py --mentions 50000 --monitors 400 --profile

No database: the classifier is the one ``mention_ingest`` uses (``social.listening.classify.Classifier``),
compiled from unsaved ``Monitor`` objects. One process, one thread (pin it with ``taskset -c 0`` to be sure).

Steps:

1. Build ``--monitors`` queries like staff write them (brand names with OR, quoted phrases, hashtags, handles,
   ``-jobs`` exclusions, a fifth with a language filter) and ``--mentions`` texts (5 to 40 words; English,
   German, French, Spanish and Portuguese; a third mention one of the monitored names; emoji, accents,
   hashtags, handles, URLs), fixed seed.
2. Time, each over every text after one warm-up pass: the baseline (``str.lower()`` then ``in`` for one
   keyword per monitor: the cheapest matcher one could write, and wrong on word boundaries and accents),
   monitor matching alone, language detection alone, VADER alone, and the full ``classify``.
3. Print mentions/s for each, the full classification as a ratio of the baseline, the share of time
   each part takes, and PASS/FAIL against ``--target`` (3,000 mentions/s).

``--profile`` adds a cProfile of the full classification (top 15 by cumulative time).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from social.listening.classify import Classifier  # noqa: E402
from social.models import Monitor  # noqa: E402
from social.services.analysis import text_language, text_sentiment  # noqa: E402

WORDS = {
    "en": "the bike is really great and fast but the delivery was slow and support never answered my emails "
    "love this new model terrible battery life awesome price would recommend to friends worst experience ever "
    "quick fix thanks team happy customer order arrived broken refund please",
    "de": "das Fahrrad ist wirklich sehr gut und schnell aber die Lieferung war langsam und der Kundendienst "
    "hat nie geantwortet tolles Modell schlechter Akku super Preis würde ich empfehlen Bestellung kaputt",
    "fr": "le vélo est vraiment très bien et rapide mais la livraison était lente et le service client n'a jamais "
    "répondu super modèle batterie nulle prix génial je recommande commande arrivée cassée remboursement",
    "es": "la bicicleta es realmente muy buena y rápida pero la entrega fue lenta y el servicio nunca respondió "
    "modelo genial batería terrible buen precio lo recomiendo pedido llegó roto reembolso por favor",
    "pt": "a bicicleta é realmente muito boa e rápida mas a entrega foi lenta e o suporte nunca respondeu "
    "modelo incrível bateria péssima preço ótimo recomendo pedido chegou quebrado reembolso",
}
EXTRAS = ["😍", "👎", "!!!", "#fail", "#love", "@support", "https://t.co/x1y2", "lol", "😡", "10/10"]
SYLLABLES = ["ac", "me", "glo", "bex", "ini", "tech", "um", "bre", "lla", "vel", "ox", "zan", "tor", "ka", "ri", "on"]


def brand_names(count: int, rng: random.Random) -> list[str]:
    names: set[str] = set()
    while len(names) < count:
        names.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))))
    return sorted(names)


def make_monitors(count: int, names: list[str], rng: random.Random) -> list[Monitor]:
    monitors = []
    for index in range(count):
        name, product = names[index], rng.choice(["bike", "app", "phone", "cloud", "shoes"])
        shape = index % 5
        if shape == 0:
            query = f'({name} OR "{name} {product}" OR #{name}) -jobs -hiring'
        elif shape == 1:
            query = f"{name} AND ({product} OR delivery OR support OR refund)"
        elif shape == 2:
            query = f'@{name}_support OR "{name} support" OR #{name}fail'
        elif shape == 3:
            query = f'"{name} {product}" OR ({name} NOT (giveaway OR contest))'
        else:
            query = f"{name} OR {name}{product}"
        monitors.append(
            Monitor(
                id=index + 1,
                name=name,
                query=query,
                languages=[rng.choice(list(WORDS))] if index % 5 == 4 else [],
                source_kinds=[],
            )
        )
    return monitors


def make_texts(count: int, names: list[str], rng: random.Random) -> list[str]:
    vocab = {lang: text.split() for lang, text in WORDS.items()}
    texts = []
    for _ in range(count):
        words = rng.choices(vocab[rng.choice(list(vocab))], k=rng.randint(5, 40))
        if rng.random() < 0.35:
            name = rng.choice(names)
            words.insert(
                rng.randrange(len(words) + 1), rng.choice([name, name.upper(), f"#{name}", f"@{name}_support"])
            )
        for _ in range(rng.randint(0, 2)):
            words.insert(rng.randrange(len(words) + 1), rng.choice(EXTRAS))
        texts.append(" ".join(words))
    return texts


def rate(label: str, texts: list[str], func: Callable[[str], object]) -> float:
    for text in texts[: min(len(texts), 500)]:
        func(text)  # warm-up: caches, lazily loaded models
    start = time.process_time()
    for text in texts:
        func(text)
    elapsed = time.process_time() - start
    per_second = len(texts) / elapsed
    print(f"  {label:<46} {per_second:>10,.0f} mentions/s   {elapsed * 1e6 / len(texts):>7.1f} µs each")
    return per_second


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mentions", type=int, default=20_000)
    parser.add_argument("--monitors", type=int, default=200)
    parser.add_argument("--target", type=float, default=3_000.0, help="mentions/s the full classification must reach")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    names = brand_names(args.monitors, rng)
    monitors = make_monitors(args.monitors, names, rng)
    texts = make_texts(args.mentions, names, rng)

    start = time.process_time()
    classifier = Classifier.from_monitors(monitors)
    compile_ms = (time.process_time() - start) * 1000
    print(
        f"{args.monitors} monitors compiled in {compile_ms:.1f} ms; {len(texts):,} mentions, "
        f"{sum(len(t) for t in texts) / len(texts):.0f} characters on average; load {os.getloadavg()[0]:.2f}"
    )

    keywords = [name.lower() for name in names]

    def baseline(text: str) -> list[int]:
        lowered = text.lower()
        return [index for index, keyword in enumerate(keywords) if keyword in lowered]

    print("Rates (CPU time of this process, one thread):")
    base = rate("baseline: str.lower() + `in`, 1 keyword each", texts, baseline)
    matching = rate(
        "monitor matching (200 queries, inverted index)",
        texts,
        lambda t: classifier.match(t, source_kind="feed", language="en"),
    )
    language = rate("language detection (py3langid)", texts, text_language)
    sentiment = rate("sentiment (VADER)", texts, text_sentiment)
    full = rate(
        "full classification (match + language + VADER)", texts, lambda t: classifier.classify(t, source_kind="feed")
    )

    matched = sum(1 for t in texts if classifier.match(t, source_kind="feed", language="en"))
    cost = {"matching": 1 / matching, "language": 1 / language, "sentiment": 1 / sentiment}
    total = sum(cost.values())
    print(f"Mentions matching at least one monitor: {matched:,} of {len(texts):,}")
    print("Share of the time: " + ", ".join(f"{k} {v / total:.0%}" for k, v in cost.items()))
    print(
        f"Full classification: {full:,.0f} mentions/s = {full / base:.2f} × baseline "
        f"(matching alone {matching / base:.2f} × baseline)"
    )
    verdict = "PASS" if full >= args.target else "FAIL"
    print(f"{verdict}: {full:,.0f} mentions/s, target {args.target:,.0f}")

    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for text in texts:
            classifier.classify(text, source_kind="feed")
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(15)
        print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
