"""Record the signals abstention can use, for in-corpus and off-corpus questions (see README, Quality).

In-corpus: every question of a SQuAD file asked against the index of all its articles.
Off-corpus: each article's questions asked against an index built without it (articles held out
in folds, as `qa eval --off-corpus` does, reusing its fold indexes). Writes one JSON line per
question with the top candidate's signals; `Calibration`'s weights and centre were read off
these lines (README, "What was tuned on what").

    python tools/abstention_signals.py ../shared/eval/squad/squad-v1.1-dev-part1.json \
        --index-dir index/eval/squad-v1.1-dev-part1 -o signals.jsonl
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from tqdm import tqdm

from qa.abstention import signals as abstention_signals
from qa.config import Settings
from qa.evaluation import EvalQuestion, fold_services, off_corpus_questions, read_squad
from qa.lexical import tokenize
from qa.retrieval import Query
from qa.service import Service


def signals(service: Service, questions: Sequence[EvalQuestion], label: str, out: TextIO) -> None:
    retriever = service.retriever
    lexical = service.index.sentence_lexical
    for first in tqdm(range(0, len(questions), 64), desc=label):
        batch = questions[first : first + 64]
        for question, retrieval in zip(batch, retriever.retrieve([Query(q.question) for q in batch]), strict=True):
            top = retrieval.candidates[0]
            read = abstention_signals(retrieval, service.index)
            second = retrieval.candidates[1].score if len(retrieval.candidates) > 1 else 0.0
            tokens = list(dict.fromkeys(tokenize(question.question)))
            idf = lexical.idf(tokens)
            unseen = [len(lexical.units_containing(t)) == 0 for t in tokens]
            out.write(
                json.dumps(
                    {
                        "id": question.id,
                        "set": label,
                        "score": top.score,
                        "dense": top.conversation_similarity,
                        "unknown_names": read.unknown_names,
                        "margin": top.score - second,
                        "concentration": read.concentration,
                        "coverage": read.coverage,
                        "unseen": float(idf[unseen].sum() / idf.sum()) if tokens else 0.0,
                        "right_doc": service.index.sentence_doc[top.sentence_id] == question.doc_id,
                    }
                )
                + "\n"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("squad", type=Path)
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    evalset = read_squad(args.squad)
    service = Service(Settings.from_env(index_dir=args.index_dir)).load(documents=evalset.documents)
    with args.output.open("w", encoding="utf-8") as out:
        signals(service, evalset.questions, "in_corpus", out)
        for held_out, fold in fold_services(service, evalset.documents, args.index_dir, args.folds):
            signals(fold, off_corpus_questions(evalset.questions, held_out), "off_corpus", out)


if __name__ == "__main__":
    main()
