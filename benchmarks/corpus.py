"""The corpus and questions the benchmarks run on.

Full runs use the SQuAD v1.1 dev part (24 Wikipedia articles, ~4,800 sentences, ~5,000
human-written questions) next to the project's own seed article: big enough that index build,
BM25 and FAISS do real work, and the questions are real questions about that text. `--quick` (and
a clone without the shared SQuAD file) uses the seed article alone with a few questions about it.
"""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
DEFAULT_SQUAD = ROOT.parent / "shared" / "eval" / "squad" / "squad-v1.1-dev-part1.json"

SEED_QUESTIONS = (
    "What did Blinken say about fentanyl?",
    "Who did Blinken meet with?",
    "What was the purpose of the discussions?",
    "Who is Roger Robinson?",
    "Which countries did China broker peace between?",
    "What human rights concerns did Blinken raise?",
    "What did the U.S. call for regarding Hamas?",
    "What is the capital of Australia?",
)


@dataclass(frozen=True)
class Corpus:
    name: str
    seeds_dir: Path
    questions: list[str]

    def sample(self, count: int, seed: int = 0) -> list[str]:
        """`count` questions in a fixed shuffled order, cycling when the corpus has fewer."""
        order = self.questions[:]
        random.Random(seed).shuffle(order)
        return [order[i % len(order)] for i in range(count)]


def _copy_seeds(target: Path) -> None:
    for path in SEEDS.iterdir():
        if path.suffix in (".txt", ".json"):
            shutil.copyfile(path, target / path.name)


def _write_if_changed(path: Path, text: str) -> None:
    """Leave an identical file alone so an index built from it stays fresh."""
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def squad_corpus(squad_file: Path, workdir: Path) -> Corpus:
    """Each SQuAD article becomes one document, as `qa eval` reads it (paragraphs joined by blank lines)."""
    from qa.evaluation import read_squad

    seeds_dir = workdir / "seeds-squad"
    seeds_dir.mkdir(parents=True, exist_ok=True)
    evalset = read_squad(squad_file)
    for document in evalset.documents:
        _write_if_changed(seeds_dir / f"{document.doc_id}.txt", document.text)
        _write_if_changed(
            seeds_dir / f"{document.doc_id}.json", json.dumps({"id": document.doc_id, "title": document.title})
        )
    _copy_seeds(seeds_dir)
    questions = [question.question for question in evalset.questions]
    return Corpus(f"SQuAD v1.1 dev part 1 + seed article ({squad_file.name})", seeds_dir, questions)


def seed_corpus(workdir: Path) -> Corpus:
    seeds_dir = workdir / "seeds-article"
    seeds_dir.mkdir(parents=True, exist_ok=True)
    _copy_seeds(seeds_dir)
    return Corpus("seed article only", seeds_dir, list(SEED_QUESTIONS))


def prepare(workdir: Path, squad_file: Path | None, quick: bool) -> Corpus:
    squad = squad_file or DEFAULT_SQUAD
    if quick or not squad.is_file():
        return seed_corpus(workdir)
    return squad_corpus(squad, workdir)
