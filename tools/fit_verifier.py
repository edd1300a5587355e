"""Fit `qa.verification.Verifier` (README, Quality): a logistic model telling an answering best
sentence from a near miss, fitted on half of SQuAD 2.0 dev part 1's articles and reported on the other.

Positives: answerable questions whose best sentence covers a gold span. Negatives: unanswerable
questions. (Answerable questions whose best sentence misses are left out of the fit: declining
them is no loss to hit@1.) Prints the coefficients to paste into `Verifier`, and the decline rates
of each half (and of SQuAD v1.1 part 1, newsroom, when given) at the fitted threshold.

    python tools/fit_verifier.py ../shared/eval/squad/squad-v2.0-dev-part1.json \
        --index-dir index/eval/squad-v2.0-dev-part1 \
        --also ../shared/eval/squad/squad-v1.1-dev-part1.json=index/eval/squad-v1.1-dev-part1
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from qa.abstention import signals
from qa.config import Settings
from qa.evaluation import EvalQuestion, read_squad
from qa.retrieval import Query
from qa.service import Service
from qa.verification import EVIDENCE, evidence

SEED = 0


def collect(service: Service, questions: Sequence[EvalQuestion]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Evidence rows, labels (1 answers, 0 unanswerable, -1 answerable but missed), accepted by `Calibration`."""
    index, answerer = service.index, service.pipeline.answerer
    rows, labels, accepted = [], [], []
    for first in tqdm(range(0, len(questions), 64)):
        batch = questions[first : first + 64]
        for question, retrieval in zip(
            batch, service.retriever.retrieve([Query(q.question, q.history) for q in batch]), strict=True
        ):
            read = signals(retrieval, index)
            rows.append(evidence(retrieval, index, read).vector())
            accepted.append(answerer.calibration.confidence(read) >= answerer.min_confidence)
            best = retrieval.candidates[0].sentence_id
            start, end = int(index.sentence_start[best]), int(index.sentence_end[best])
            doc = index.sentence_doc[best]
            if not question.answerable:
                labels.append(0)
            elif any(g.doc_id == doc and start <= g.start and g.end <= end for g in question.gold):
                labels.append(1)
            else:
                labels.append(-1)
    return np.array(rows), np.array(labels), np.array(accepted)


def fit(x: np.ndarray, y: np.ndarray, l2: float = 1.0, steps: int = 50) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by Newton's method; deterministic."""
    design = np.column_stack([np.ones(len(x)), x])
    w = np.zeros(design.shape[1])
    penalty = l2 * np.eye(len(w))
    penalty[0, 0] = 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-design @ w))
        gradient = design.T @ (p - y) + penalty @ w
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + penalty
        w -= np.linalg.solve(hessian, gradient)
    return w[1:], float(w[0])


def report(name: str, x: np.ndarray, labels: np.ndarray, accepted: np.ndarray, w: np.ndarray, b: float) -> None:
    kept = (x @ w + b >= 0) & accepted
    for label, what in ((1, "answered at 1"), (-1, "answerable, missed at 1"), (0, "unanswerable")):
        rows = labels == label
        if rows.any():
            print(f"  {name}: {what}: {rows.sum()}, declined {1 - kept[rows].mean():.3f}")
    answerable = labels != 0
    if answerable.any():
        print(f"  {name}: all answerable declined {1 - kept[answerable].mean():.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("squad2", type=Path)
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--also", action="append", default=[], help="SQUAD_FILE=INDEX_DIR to report on too")
    parser.add_argument("--l2", type=float, default=1.0)
    parser.add_argument("--bias", type=float, default=0.0, help="added to the intercept: the operating point")
    args = parser.parse_args()
    evalset = read_squad(args.squad2)
    service = Service(Settings.from_env(index_dir=args.index_dir)).load(documents=evalset.documents)
    x, labels, accepted = collect(service, evalset.questions)
    doc_ids = [d.doc_id for d in evalset.documents]
    half = np.array([doc_ids.index(str(q.doc_id)) % 2 == 0 for q in evalset.questions])
    train = half & (labels >= 0)
    w, b = fit(x[train], labels[train].astype(float), args.l2)
    b += args.bias
    print("coefficients:", dict(zip(EVIDENCE, np.round(w, 3).tolist(), strict=True)), "intercept:", round(b, 3))
    report("fit half", x[half], labels[half], accepted[half], w, b)
    report("held-out half", x[~half], labels[~half], accepted[~half], w, b)
    for also in args.also:
        path, index_dir = also.split("=")
        other = read_squad(Path(path))
        other_service = Service(Settings.from_env(index_dir=Path(index_dir)), embedder=service.embedder)
        other_service.load(documents=other.documents)
        ox, olabels, oaccepted = collect(other_service, other.questions)
        report(Path(path).stem, ox, olabels, oaccepted, w, b)


if __name__ == "__main__":
    main()
