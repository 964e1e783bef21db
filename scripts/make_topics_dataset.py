"""Write the README's worked example, a 4-topic news dataset, with no download.

    python scripts/make_topics_dataset.py                        # data/topics/topics.csv
    python scripts/make_topics_dataset.py --out /tmp/topics --rows 800

One CSV file with columns `title`, `body`, `topic` (sports, politics, science, food: 40, 30,
20 and 10 % of rows, so the classes are imbalanced) and `split` (train, test: 80 / 20 %).
Each text mixes a few words of its topic with shared filler and some words of other topics,
so a model has to weigh the evidence, not spot one word. Train on it with `data=topics`.
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOPICS = {
    "sports": [
        "match",
        "goal",
        "coach",
        "league",
        "season",
        "striker",
        "tournament",
        "referee",
        "stadium",
        "keeper",
    ],
    "politics": [
        "minister",
        "election",
        "vote",
        "senate",
        "policy",
        "campaign",
        "parliament",
        "treaty",
        "mayor",
        "law",
    ],
    "science": [
        "study",
        "cells",
        "physics",
        "telescope",
        "genome",
        "experiment",
        "climate",
        "theory",
        "lab",
        "quantum",
    ],
    "food": [
        "recipe",
        "chef",
        "flavour",
        "oven",
        "garlic",
        "dessert",
        "spicy",
        "bakery",
        "harvest",
        "noodles",
    ],
}
SHARES = {"sports": 0.4, "politics": 0.3, "science": 0.2, "food": 0.1}
FILLER = [
    "the",
    "a",
    "of",
    "and",
    "to",
    "in",
    "on",
    "for",
    "with",
    "as",
    "at",
    "by",
    "from",
    "this",
    "that",
    "it",
    "was",
    "is",
    "were",
    "new",
    "after",
    "before",
    "week",
    "year",
    "people",
    "city",
    "report",
    "today",
    "local",
    "said",
    "more",
    "first",
    "last",
]


def text(rng: random.Random, topic: str, words: int, own: int, foreign: int) -> str:
    """`words` filler words with `own` words of `topic` and `foreign` of other topics."""
    others = [w for t, ws in TOPICS.items() if t != topic for w in ws]
    tokens = rng.choices(FILLER, k=words) + rng.choices(TOPICS[topic], k=own)
    tokens += rng.choices(others, k=foreign)
    rng.shuffle(tokens)
    return " ".join(tokens)


def rows(count: int, seed: int) -> list[dict[str, str]]:
    rng = random.Random(seed)
    topics = rng.choices(list(SHARES), weights=list(SHARES.values()), k=count)
    return [
        {
            "title": text(rng, topic, rng.randint(2, 5), 1, rng.randint(0, 1)).capitalize(),
            "body": text(rng, topic, rng.randint(10, 50), rng.randint(1, 4), rng.randint(0, 3)),
            "topic": topic,
            "split": "test" if rng.random() < 0.2 else "train",
        }
        for topic in topics
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "topics")
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "topics.csv"
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=["title", "body", "topic", "split"])
        writer.writeheader()
        writer.writerows(rows(args.rows, args.seed))
    print(f"wrote {args.rows} rows to {path}")


if __name__ == "__main__":
    main()
