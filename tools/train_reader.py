"""Train `qa.reader`'s weights: the bundled MiniLM with its top layers fine-tuned as a reader that
says whether a sentence answers a question and which words do (README, Quality).

Examples come from the service's own retrieval, so the reader learns the near misses it will see:
for every SQuAD v1.1 dev part 1 question, the best few sentences retrieval ranks (a sentence that
covers a gold span is a positive, with that span; one that does not is a negative; one that holds
the answer's words elsewhere is left out) plus the gold sentence if retrieval missed it; for every
unanswerable SQuAD 2.0 dev part 1 question, its best few sentences as negatives. Only the articles
at even positions of the v1.1 file are used: the odd half is held out for the figures.

Deterministic (fixed seeds, one thread): the same data gives the same weights.

    python tools/train_reader.py ../shared/eval/squad/squad-v1.1-dev-part1.json \
        ../shared/eval/squad/squad-v2.0-dev-part1.json --out qa/models/reader.safetensors
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from qa.config import Settings
from qa.evaluation import EvalQuestion, read_squad
from qa.reader import PairTokenizer, trained_articles, untrained_module
from qa.retrieval import Query
from qa.service import Service

SEED = 0
CANDIDATES = 4


def examples(service: Service, questions: list[EvalQuestion]) -> list[dict[str, Any]]:
    """(question, sentence, label, answer start/end within the sentence) for each candidate."""
    index = service.index
    sentence_doc = np.array(index.sentence_doc[:])
    rows: list[dict[str, Any]] = []
    for first in range(0, len(questions), 128):
        batch = questions[first : first + 128]
        retrievals = service.retriever.retrieve([Query(q.question) for q in batch])
        for question, retrieval in zip(batch, retrievals, strict=True):
            sentences = [c.sentence_id for c in retrieval.candidates[:CANDIDATES]]
            if question.answerable:
                gold = question.gold[0]
                holding = np.flatnonzero(
                    (sentence_doc == gold.doc_id)
                    & (index.sentence_start <= gold.start)
                    & (gold.start < index.sentence_end)
                )[:1].tolist()
                sentences += [n for n in holding if n not in sentences]
            for n in sentences:
                start, end = int(index.sentence_start[n]), int(index.sentence_end[n])
                text = index.sentence_text(n)
                row: dict[str, Any] = {"question": question.question, "sentence": text, "label": 0}
                if question.answerable:
                    covering = [
                        g
                        for g in question.gold
                        if g.doc_id == index.sentence_doc[n] and start <= g.start and g.end <= end
                    ]
                    if covering:
                        g = covering[0]
                        row.update(label=1, answer_start=g.start - start, answer_end=g.end - start)
                    elif any(g.text.lower() in text.lower() for g in question.gold):
                        continue  # the answer's words in another sentence: neither label is sure
                rows.append(row)
    return rows


_SWAPPABLE = re.compile(r"\b(?:[A-Z][a-z]+|\d[\d,.]*)\b")


def swapped(rows: list[dict[str, Any]], seed: int = SEED) -> list[dict[str, Any]]:
    """Unanswerable look-alikes: an answering (question, sentence) pair with one of the question's
    names or numbers that the sentence uses replaced by another from the same set of sentences,
    so the sentence no longer answers it ("When did Lee visit?" against "Park visited in 1990")."""
    chooser = random.Random(seed)
    pool = sorted({w for r in rows for w in _SWAPPABLE.findall(str(r["sentence"])) if not w[0].isdigit()})
    numbers = sorted({w for r in rows for w in _SWAPPABLE.findall(str(r["sentence"])) if w[0].isdigit()})
    made = []
    for row in rows:
        if row["label"] != 1:
            continue
        question, sentence = str(row["question"]), str(row["sentence"])
        words = [w for w in _SWAPPABLE.findall(question) if w in sentence and question.find(w) > 0]
        if not words:
            continue
        word = chooser.choice(words)
        choices = numbers if word[0].isdigit() else pool
        other = chooser.choice(choices)
        if other in question or other in sentence:
            continue
        made.append({"question": question.replace(word, other), "sentence": sentence, "label": 0})
    return made


def encode(tokenize: PairTokenizer, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """The reader's features for `rows`, tokenized as the service reads, with each positive's
    answer as the first and last sentence tokens it overlaps (a span truncated away: a negative)."""
    features, encodings = tokenize([(r["question"], r["sentence"]) for r in rows])
    starts = np.zeros(len(rows), dtype=np.int64)
    ends = np.zeros(len(rows), dtype=np.int64)
    for i, (row, encoding) in enumerate(zip(rows, encodings, strict=True)):
        if row["label"] == 1:
            a, b = int(row["answer_start"]), int(row["answer_end"])
            tokens = [
                t
                for t, (sequence, (first, last)) in enumerate(zip(encoding.sequence_ids, encoding.offsets, strict=True))
                if sequence == 1 and last > a and first < b
            ]
            if tokens:
                starts[i], ends[i] = tokens[0], tokens[-1]
            else:  # truncated away
                row["label"] = 0
    return {
        **{name: torch.from_numpy(values) for name, values in features.items()},
        "labels": torch.tensor([float(r["label"]) for r in rows]),
        "starts": torch.from_numpy(starts),
        "ends": torch.from_numpy(ends),
    }


def loss_of(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    answerable, start_logits, end_logits = model(
        batch["input_ids"], batch["attention_mask"], batch["token_type_ids"], batch["sentence_mask"]
    )
    loss = torch.nn.functional.binary_cross_entropy_with_logits(answerable, batch["labels"])
    positive = batch["labels"] > 0
    if positive.any():
        span = torch.nn.functional.cross_entropy(start_logits[positive], batch["starts"][positive])
        span = span + torch.nn.functional.cross_entropy(end_logits[positive], batch["ends"][positive])
        loss = loss + span / 2
    return loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("squad11", type=Path)
    parser.add_argument("squad2", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--data", type=Path, help="cache the examples in this JSONL file")
    args = parser.parse_args()
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    torch.set_num_threads(2)

    v11, v2 = read_squad(args.squad11), read_squad(args.squad2)
    half = trained_articles(v11.documents)
    if args.data and args.data.exists():
        rows = [json.loads(line) for line in args.data.read_text().splitlines()]
    else:
        service = Service(Settings.from_env(index_dir=Path("index/eval/squad-v1.1-dev-part1")))
        service.load(documents=v11.documents)
        rows = examples(service, [q for q in v11.questions if q.doc_id in half])
        other = Service(Settings.from_env(index_dir=Path("index/eval/squad-v2.0-dev-part1")), service.embedder)
        other.load(documents=v2.documents)
        rows += examples(other, [q for q in v2.questions if q.doc_id in half and not q.answerable])
        if args.data:
            args.data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    rows += swapped(rows)
    positives = sum(1 for r in rows if r["label"] == 1)
    print(f"{len(rows)} examples, {positives} positive, from {len(half)} articles")

    tokenize = PairTokenizer()
    model = untrained_module()
    model.freeze_embeddings()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=args.learning_rate, weight_decay=0.01)
    steps = args.epochs * ((len(rows) + args.batch_size - 1) // args.batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, step / (0.06 * steps)) * max(0.0, (steps - step) / steps)
    )
    model.train()
    step, began = 0, time.monotonic()
    for epoch in range(args.epochs):
        order = list(range(len(rows)))
        random.Random(SEED + epoch).shuffle(order)
        # Batches of similar length pad little: sort each chunk of 50 batches by length.
        chunk = args.batch_size * 50
        for c in range(0, len(order), chunk):
            part = sorted(order[c : c + chunk], key=lambda i: len(rows[i]["sentence"]))
            batches = [part[b : b + args.batch_size] for b in range(0, len(part), args.batch_size)]
            random.Random(SEED + c).shuffle(batches)
            for picked in batches:
                loss = loss_of(model, encode(tokenize, [dict(rows[i]) for i in picked]))
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(trainable, 1.0)
                optimizer.step()
                schedule.step()
                step += 1
                if step % 50 == 0:
                    print(f"epoch {epoch} step {step}/{steps} loss {loss.item():.3f} {time.monotonic() - began:.0f}s")
    model.save_trained(args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB) in {time.monotonic() - began:.0f}s")


if __name__ == "__main__":
    main()
