"""Choose `qa.answering.SHORT_ANSWER_FLOOR` (README, Quality): read the best sentences of every
question of the eval sets once, then score short answers at several floors offline.

Each row records, per question: abstention's and the verifier's confidence, and for each of the
best `READ` candidate sentences its retrieval score, the reader's probability that it answers,
its short answer and that answer's probability, and whether the sentence covers a gold span;
and the best sentence's lone span of the kind asked (`qa.spans.lone_span`), which comes first.
Each floor is scored on the SQuAD articles the reader was trained on and on the held-out ones,
separately, and on the newsroom and seed sets. (Reading three lets the rows also tell whether the
reader could reorder candidates: with the shipped weights it did not help, README.)

    python tools/tune_reader.py ../shared/eval --rows /tmp/reader-rows.jsonl
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from qa import spans
from qa.abstention import signals
from qa.config import Settings
from qa.evaluation import EvalQuestion, EvalSet, normalize_answer, read_eval_file, token_f1
from qa.reader import load_reader, trained_articles
from qa.retrieval import Query, resolved
from qa.service import Service
from qa.verification import evidence

READ = 3


def rows_of(name: str, evalset: EvalSet, service: Service, reader: Any, trained: set[str]) -> Iterable[dict[str, Any]]:
    index, answerer = service.index, service.pipeline.answerer
    questions = evalset.questions
    for first in tqdm(range(0, len(questions), 64), desc=name):
        batch: list[EvalQuestion] = list(questions[first : first + 64])
        queries = [Query(q.question, q.history) for q in batch]
        for question, query, retrieval in zip(batch, queries, service.retriever.retrieve(queries), strict=True):
            read_signals = signals(retrieval, index)
            confidence = answerer.calibration.confidence(read_signals)
            verified = answerer.verifier.probability(evidence(retrieval, index, read_signals))
            candidates = retrieval.candidates[:READ]
            texts = [index.sentence_text(c.sentence_id) for c in candidates]
            readings = reader.read(resolved(query), texts)
            lone = spans.lone_span(texts[0], resolved(query)) if texts else None
            read = []
            for candidate, text, reading in zip(candidates, texts, readings, strict=True):
                n = candidate.sentence_id
                start, end = int(index.sentence_start[n]), int(index.sentence_end[n])
                covers = any(
                    g.doc_id in (None, index.sentence_doc[n]) and start <= g.start and g.end <= end
                    for g in question.gold
                )
                read.append(
                    {
                        "score": candidate.score,
                        "probability": reading.probability,
                        "span": text[reading.answer_start : reading.answer_end],
                        "span_probability": reading.answer_probability,
                        "covers": covers,
                    }
                )
            yield {
                "set": name,
                "id": question.id,
                "trained": question.doc_id in trained,
                "answerable": question.answerable,
                "gold": [g.text for g in question.gold],
                "question": question.question,
                "fact": spans.asks_for_fact(question.question),
                "follow_up": bool(question.history),
                "lone": lone.text if lone is not None else None,
                "confidence": confidence,
                "verified": verified,
                "read": read,
            }


def report(rows: list[dict[str, Any]], floor: float) -> dict[str, Any]:
    """Short answers as `qa.answering.Answerer` gives them, for answered fact questions: the best
    sentence's lone span of the kind asked, else its reader's words with at least `floor` probability."""
    answerable = [r for r in rows if r["answerable"]]
    given = [
        (r, r["lone"] if r["lone"] is not None else r["read"][0]["span"])
        for r in answerable
        if r["read"] and min(r["confidence"], r["verified"]) >= 0.5 and r["fact"]
        if r["lone"] is not None or r["read"][0]["span_probability"] >= floor
    ]
    exact = [max(normalize_answer(span) == normalize_answer(g) for g in r["gold"]) for r, span in given]
    f1 = [max(token_f1(span, g) for g in r["gold"]) for r, span in given]
    return {
        "given": round(len(given) / max(1, len(answerable)), 4),
        "exact_match": round(float(np.mean(exact)), 4) if exact else None,
        "f1": round(float(np.mean(f1)), 4) if f1 else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("eval_dir", type=Path)
    parser.add_argument("--rows", type=Path, required=True, help="JSONL cache of the reader's readings")
    parser.add_argument("--index-root", type=Path, default=Path("index/eval"))
    args = parser.parse_args()
    if not args.rows.exists():
        settings = Settings.from_env()
        reader = load_reader(settings.cache_dir, int8=settings.reader == "int8")
        print(f"reader: {reader.backend}")
        squad = args.eval_dir / "squad"
        v11 = read_eval_file(squad / "squad-v1.1-dev-part1.json")
        trained = trained_articles(v11.documents)
        sets = [
            ("v1.1", v11, args.index_root / "squad-v1.1-dev-part1", None),
            (
                "v2.0",
                read_eval_file(squad / "squad-v2.0-dev-part1.json"),
                args.index_root / "squad-v2.0-dev-part1",
                None,
            ),
            (
                "newsroom",
                read_eval_file(args.eval_dir / "newsroom" / "questions.jsonl"),
                args.index_root / "newsroom",
                args.eval_dir / "newsroom" / "seeds",
            ),
            (
                "dev",
                read_eval_file(args.eval_dir / "dev_questions.jsonl"),
                args.index_root / "dev",
                args.eval_dir.parent / "seeds",
            ),
        ]
        embedder = None
        with args.rows.open("w") as out:
            for name, evalset, index_dir, seeds in sets:
                overrides: dict[str, Any] = {"index_dir": index_dir}
                if seeds is not None:
                    overrides["seeds_dir"] = seeds
                service = Service(Settings.from_env(**overrides), embedder=embedder)
                service.load(documents=evalset.documents or None)
                embedder = service.embedder
                for row in rows_of(name, evalset, service, reader, trained):
                    out.write(json.dumps(row) + "\n")
    rows = [json.loads(line) for line in args.rows.read_text().splitlines()]
    groups = {
        "v1.1 trained": [r for r in rows if r["set"] == "v1.1" and r["trained"]],
        "v1.1 held-out": [r for r in rows if r["set"] == "v1.1" and not r["trained"]],
        "v2.0 trained": [r for r in rows if r["set"] == "v2.0" and r["trained"]],
        "v2.0 held-out": [r for r in rows if r["set"] == "v2.0" and not r["trained"]],
        "newsroom": [r for r in rows if r["set"] == "newsroom"],
        "dev": [r for r in rows if r["set"] == "dev"],
    }
    for floor in (0.1, 0.15, 0.18, 0.2, 0.22, 0.25, 0.3):
        print(f"floor {floor}")
        for name, group in groups.items():
            print(f"  {name}: {report(group, floor)}")


if __name__ == "__main__":
    main()
