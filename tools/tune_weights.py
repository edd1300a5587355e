"""Choose the retrieval weights on SQuAD dev part 1 (and nothing else); see README, Quality.

Computes every candidate sentence's signals once, then reports single-signal and fusion
baselines (reciprocal-rank fusion against normalized score fusion) and searches weights by
coordinate ascent on sentence hit@1 + hit@3, checking weights fitted on one half of the articles
on the other half, so the gain reported is not fitted to its own data.

    python tools/tune_weights.py ../shared/eval/squad/squad-v1.1-dev-part1.json \
        --index-dir index/eval/squad-v1.1-dev-part1
"""

from __future__ import annotations

import argparse
import json
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from qa.config import Settings
from qa.evaluation import read_squad
from qa.retrieval import CANDIDATE_CHUNKS, FEATURES, Query, Retriever, Weights
from qa.service import Service


def collect(path: Path, index_dir: Path, candidate_chunks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Signals `[question, candidate, feature]` (zero-padded), labels, and each question's half."""
    evalset = read_squad(path)
    service = Service(Settings(index_dir=index_dir)).load(documents=evalset.documents)
    index = service.index
    retriever = Retriever(index, service.embedder, Weights(), candidate_chunks=candidate_chunks)
    matrices, labels, halves = [], [], []
    questions = evalset.questions
    for first in tqdm(range(0, len(questions), 64), desc="features"):
        batch = questions[first : first + 64]
        for question, features in zip(batch, retriever.features([Query(q.question) for q in batch]), strict=True):
            starts = index.sentence_start[features.sentence_ids]
            ends = index.sentence_end[features.sentence_ids]
            docs = np.array([index.sentence_doc[s] for s in features.sentence_ids])
            hit = np.zeros(len(starts), dtype=bool)
            for gold in question.gold:
                hit |= (docs == gold.doc_id) & (starts <= gold.start) & (gold.end <= ends)
            matrices.append(features.matrix)
            labels.append(hit)
            # A SQuAD question always names its article: the halves split articles, not questions.
            assert question.doc_id is not None
            halves.append(zlib.crc32(question.doc_id.encode()) % 2)
    width = max(len(m) for m in matrices)
    tensor = np.full((len(matrices), width, len(FEATURES)), -1e3)
    padded_labels = np.zeros((len(matrices), width), dtype=bool)
    for row, (matrix, label) in enumerate(zip(matrices, labels, strict=True)):
        tensor[row, : len(matrix)] = matrix
        padded_labels[row, : len(label)] = label
    return tensor, padded_labels, np.array(halves)


def hits(tensor: np.ndarray, labels: np.ndarray, weights: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """Sentence hit@1 and hit@3 of the ranking by `tensor @ weights`."""
    top3 = np.argsort(-(tensor[mask] @ weights), axis=1, kind="stable")[:, :3]
    found = labels[mask][np.arange(len(top3))[:, None], top3]
    return float(found[:, 0].mean()), float(found.any(axis=1).mean())


def hit_at_1(tensor: np.ndarray, labels: np.ndarray, weights: np.ndarray, mask: np.ndarray) -> float:
    return hits(tensor, labels, weights, mask)[0]


def reciprocal_rank_fusion(tensor: np.ndarray, columns: Sequence[int], k: int = 60) -> np.ndarray:
    """RRF of the given feature columns, as a one-column tensor."""
    fused = np.zeros(tensor.shape[:2])
    for column in columns:
        ranks = np.argsort(np.argsort(-tensor[..., column], axis=1), axis=1)
        fused += 1.0 / (k + 1 + ranks)
    return fused[..., None]


def ascend(
    tensor: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray,
    mask: np.ndarray,
    steps: Sequence[float] = (0.1, 0.05, 0.02, 0.01),
) -> tuple[np.ndarray, float]:
    """Coordinate ascent on hit@1 + hit@3 over non-negative weights, from `weights`."""
    best, best_score = weights.copy(), sum(hits(tensor, labels, weights, mask))
    for step in steps:
        improved = True
        while improved:
            improved = False
            for feature in range(len(best)):
                for delta in (step, -step):
                    trial = best.copy()
                    trial[feature] = max(0.0, trial[feature] + delta)
                    score = sum(hits(tensor, labels, trial, mask))
                    if score > best_score + 1e-9:
                        best, best_score, improved = trial, score, True
    return best, best_score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("squad", type=Path)
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--candidate-chunks", type=int, default=CANDIDATE_CHUNKS)
    args = parser.parse_args()

    tensor, labels, halves = collect(args.squad, args.index_dir, args.candidate_chunks)
    every = np.ones(len(halves), dtype=bool)
    dense, lexical = FEATURES.index("dense_sentence"), FEATURES.index("lexical_sentence")
    dense_plus_lexical = np.eye(len(FEATURES))[dense] + np.eye(len(FEATURES))[lexical]
    current = Weights().vector()
    report: dict[str, object] = {
        "note": "sentence hit@1 before citation widening and abstention",
        "candidate_recall": round(float(labels.any(axis=1).mean()), 4),
        "dense_sentence_only": round(hit_at_1(tensor, labels, np.eye(len(FEATURES))[dense], every), 4),
        "lexical_sentence_only": round(hit_at_1(tensor, labels, np.eye(len(FEATURES))[lexical], every), 4),
        "reciprocal_rank_fusion": round(
            hit_at_1(reciprocal_rank_fusion(tensor, [dense, lexical]), labels, np.ones(1), every), 4
        ),
        "normalized_score_fusion": round(hit_at_1(tensor, labels, dense_plus_lexical, every), 4),
        "current_weights": round(hit_at_1(tensor, labels, current, every), 4),
        "current_weights_hit_at_3": round(hits(tensor, labels, current, every)[1], 4),
    }
    for fit_half in (0, 1):
        fit, check = halves == fit_half, halves != fit_half
        weights, fitted = ascend(tensor, labels, dense_plus_lexical, fit)
        report[f"fit_on_half_{fit_half}"] = {
            "fit_hit_at_1_plus_hit_at_3": round(fitted, 4),
            "held_out_hit_at_1_and_3": [round(h, 4) for h in hits(tensor, labels, weights, check)],
            "held_out_with_current_weights": [round(h, 4) for h in hits(tensor, labels, current, check)],
            "weights": dict(zip(FEATURES, np.round(weights, 3).tolist(), strict=True)),
        }
    weights, fitted = ascend(tensor, labels, current, every)
    report["fit_on_all"] = {
        "hit_at_1_plus_hit_at_3": round(fitted, 4),
        "weights": dict(zip(FEATURES, np.round(weights, 3).tolist(), strict=True)),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
