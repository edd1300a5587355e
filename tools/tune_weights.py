"""Choose the retrieval weights on SQuAD dev part 1 (and nothing else); see README, Quality.

Computes every candidate sentence's signals once, then searches weight vectors (random
Dirichlet samples around the current ones) for the best sentence hit@1, checking each on the
half of the articles it was not chosen on, so the figure reported is not fitted to its own data.

    python tools/tune_weights.py ../shared/eval/squad/squad-v1.1-dev-part1.json --index-dir index/eval/squad-v1.1-dev-part1
"""

from __future__ import annotations

import argparse
import json
import zlib
from pathlib import Path

import numpy as np
from tqdm import tqdm

from qa.config import Settings
from qa.evaluation import read_squad
from qa.retrieval import FEATURES, Query, Retriever, Weights
from qa.service import Service


def collect(path: Path, index_dir: Path, candidate_chunks: int):  # type: ignore[no-untyped-def]
    """Signals `[question, candidate, feature]` (zero-padded), labels, and each question's half."""
    evalset = read_squad(path)
    service = Service(Settings(index_dir=index_dir)).load(documents=evalset.documents)
    index = service.index
    retriever = Retriever(index, service.embedder, Weights(candidate_chunks=candidate_chunks))
    matrices, labels, halves = [], [], []
    questions = evalset.questions
    for first in tqdm(range(0, len(questions), 64), desc="features"):
        batch = questions[first : first + 64]
        for question, features in zip(batch, retriever.features([Query(q.question) for q in batch])):
            starts = index.sentence_start[features.sentence_ids]
            ends = index.sentence_end[features.sentence_ids]
            docs = np.array([index.sentence_doc[s] for s in features.sentence_ids])
            hit = np.zeros(len(starts), dtype=bool)
            for gold in question.gold:
                hit |= (docs == gold.doc_id) & (starts <= gold.start) & (gold.end <= ends)
            matrices.append(features.matrix)
            labels.append(hit)
            halves.append(zlib.crc32(question.doc_id.encode()) % 2)
    width = max(len(m) for m in matrices)
    tensor = np.full((len(matrices), width, len(FEATURES)), -1e3)
    padded_labels = np.zeros((len(matrices), width), dtype=bool)
    for row, (matrix, label) in enumerate(zip(matrices, labels)):
        tensor[row, : len(matrix)] = matrix
        padded_labels[row, : len(label)] = label
    return tensor, padded_labels, np.array(halves)


def hit_at_1(tensor, labels, weights, mask):  # type: ignore[no-untyped-def]
    top = np.argmax(tensor[mask] @ weights, axis=1)
    return float(labels[mask][np.arange(len(top)), top].mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("squad", type=Path)
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--candidate-chunks", type=int, default=Weights.candidate_chunks)
    parser.add_argument("--samples", type=int, default=3000)
    args = parser.parse_args()

    tensor, labels, halves = collect(args.squad, args.index_dir, args.candidate_chunks)
    every = np.ones(len(halves), dtype=bool)
    current = Weights().vector()
    print("candidate recall:", float(labels.any(axis=1).mean()))
    print("current weights:", dict(zip(FEATURES, current)), "hit@1", round(hit_at_1(tensor, labels, current, every), 4))
    for feature in range(len(FEATURES)):
        alone = np.eye(len(FEATURES))[feature]
        print(f"  {FEATURES[feature]} alone: {hit_at_1(tensor, labels, alone, every):.4f}")
    rng = np.random.default_rng(0)
    results = []
    for fit_half in (0, 1):
        fit, check = halves == fit_half, halves != fit_half
        best, best_score = current, hit_at_1(tensor, labels, current, fit)
        for _ in range(args.samples):
            candidate = rng.dirichlet(np.ones(len(FEATURES)))
            score = hit_at_1(tensor, labels, candidate, fit)
            if score > best_score:
                best, best_score = candidate, score
        held = hit_at_1(tensor, labels, best, check)
        results.append({"fit_half": fit_half, "fit_hit_at_1": round(best_score, 4), "held_out_hit_at_1": round(held, 4),
                        "weights": dict(zip(FEATURES, np.round(best, 3).tolist()))})
    averaged = np.mean([list(r["weights"].values()) for r in results], axis=0)
    results.append({"averaged_weights": dict(zip(FEATURES, np.round(averaged, 3).tolist())),
                    "hit_at_1_all": round(hit_at_1(tensor, labels, averaged, every), 4)})
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
