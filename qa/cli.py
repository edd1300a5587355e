"""The `qa` command line: index articles, ask questions, serve the API.

Commands are thin: they build a `Service` from the same settings the server uses and print what
it returns. Heavy imports (torch, faiss) happen inside commands, so `--help` stays instant.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from qa.config import Settings

INDEX_DIR = click.option(
    "--index-dir", type=click.Path(file_okay=False, path_type=Path), envvar="QA_INDEX_DIR",
    help="Where the built index lives (default: ./index).",
)
SEEDS_DIR = click.option(
    "--seeds-dir", type=click.Path(file_okay=False, path_type=Path), envvar="QA_SEEDS_DIR",
    help="Folder of *.txt articles with optional *.json metadata (default: ./seeds).",
)


def settings_from(**overrides: Any) -> Settings:
    try:
        return Settings.from_env(**overrides)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


def open_service(settings: Settings, progress: bool = True):  # type: ignore[no-untyped-def]
    """A loaded Service; a load failure becomes a clean one-line error and exit code 1."""
    from qa.service import Service

    try:
        return Service(settings).load(progress=progress)
    except Exception as exc:
        raise click.ClickException(f"could not load the index: {exc}") from exc


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="article-qa")
@click.option("-v", "--verbose", is_flag=True, help="Log what the pipeline does to stderr.")
def cli(verbose: bool) -> None:
    """Answer questions about news articles, citing exact character spans.

    \b
    Examples:
      qa index                                  # build ./index from ./seeds
      qa ask "What did Blinken say about fentanyl?"
      qa serve --port 8000                      # HTTP API under gunicorn
    """
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@cli.command()
@SEEDS_DIR
@INDEX_DIR
@click.option("--force", is_flag=True, help="Rebuild even if the index is up to date.")
@click.option("--verify", is_flag=True,
              help="Check every file of the current index against its manifest's SHA-256 (reads it all).")
def index(seeds_dir: Path | None, index_dir: Path | None, force: bool, verify: bool) -> None:
    """Build the index of every article in the seeds folder (skipped when already fresh).

    \b
    Examples:
      qa index                 # build ./index from ./seeds if missing or stale
      qa index --verify        # is the index on disk intact?
    """
    from qa.documents import load_directory
    from qa.embedding import Embedder
    from qa.indexing import BuildSettings, ensure_index
    from qa.store import current_generation, verify_generation

    settings = settings_from(seeds_dir=seeds_dir, index_dir=index_dir)
    if verify:
        try:
            folder = current_generation(settings.index_dir)
            verify_generation(folder)
        except Exception as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"index {folder.name}: every file matches its manifest", err=True)
        return
    try:
        documents = load_directory(settings.seeds_dir)
        embedder = Embedder.from_settings(settings)
        build = BuildSettings.from_settings(settings, embedder)
        loaded = ensure_index(settings.index_dir, documents, embedder, build, progress=True, force=force)
    except Exception as exc:
        raise click.ClickException(str(exc)) from exc
    counts = loaded.manifest["counts"]
    click.echo(
        f"index {loaded.path.name}: {counts['documents']} documents, {counts['sentences']} sentences, "
        f"{counts['chunks']} chunks in {settings.index_dir}",
        err=True,
    )


def print_answer(answer: Any) -> None:
    """Human-readable answer with its citations underneath."""
    click.echo(answer.answer)
    for citation in answer.citations:
        click.echo(f"  [{citation.id}] {citation.doc_id} {citation.start}-{citation.end} "
                   f"(score {citation.score:.3f}): {citation.quote}")


@cli.command()
@click.argument("question")
@click.option("--history", multiple=True, help="An earlier question of the conversation (repeatable, oldest first).")
@click.option("--top-k", type=click.IntRange(1, 20), default=3, show_default=True, help="Citations at most.")
@click.option("--json", "as_json", is_flag=True, help="Print the same JSON as POST /v1/ask.")
@SEEDS_DIR
@INDEX_DIR
def ask(question: str, history: tuple[str, ...], top_k: int, as_json: bool,
        seeds_dir: Path | None, index_dir: Path | None) -> None:
    """Answer QUESTION from the indexed articles.

    \b
    Example:
      qa ask "And what about Tibet?" --history "What did Blinken raise on human rights?"
    """
    from qa.schemas import answer_to_dict
    from qa.retrieval import Query

    if not question.strip():
        raise click.BadParameter("the question is empty", param_hint="QUESTION")
    settings = settings_from(seeds_dir=seeds_dir, index_dir=index_dir)
    answer = open_service(settings, progress=False).ask(Query(question, tuple(history), top_k))
    if as_json:
        click.echo(json.dumps(answer_to_dict(answer), ensure_ascii=False))
    else:
        print_answer(answer)


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the answers to this file (default: stdout).")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]),
              help="Output format (default: csv when OUT ends in .csv, else jsonl).")
@click.option("--resume", is_flag=True, help="Skip the ids already answered in OUT and append the rest.")
@click.option("--batch-size", type=click.IntRange(1, 1000), default=1000, show_default=True,
              help="Questions answered together, then written (an interrupted run loses at most these).")
@SEEDS_DIR
@INDEX_DIR
def batch(file: Path, out: Path | None, fmt: str | None, resume: bool, batch_size: int,
          seeds_dir: Path | None, index_dir: Path | None) -> None:
    """Answer every question in FILE, writing each answer with its citations.

    FILE is .txt (one question a line), .jsonl (objects with "question" and optional "id",
    "history", "top_k") or .csv (a "question" column, optional "id"). A question without an id
    takes its line number. A bad line is reported on stderr with its number and skipped.

    \b
    Examples:
      qa batch questions.txt -o answers.jsonl
      qa batch questions.csv -o answers.csv --resume    # carry on where a run stopped
    """
    from qa import batchfile
    from qa.batching import answer_items

    if resume and out is None:
        raise click.UsageError("--resume needs -o/--output: it reads the answers already written there")
    fmt = batchfile.output_format(out, fmt)
    try:
        plan = batchfile.plan(file, batchfile.done_ids(out, fmt) if resume and out else set())
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    for number, problem in plan.problems:
        click.echo(f"{file}:{number}: skipped: {problem}", err=True)
    service = open_service(settings_from(seeds_dir=seeds_dir, index_dir=index_dir), progress=False)
    with batchfile.open_writer(out, fmt, append=resume) as writer, click.progressbar(
        length=len(plan.queries), label="answering", file=sys.stderr
    ) as bar:
        for result in answer_items(service, plan.queries, batch_size):
            writer.write(result)
            bar.update(1)
    click.echo(f"answered {len(plan.queries)}, skipped {len(plan.problems)} bad lines"
               + (f", {plan.already_done} already in {out}" if resume else ""), err=True)


@cli.command()
@click.option("--host", help="Interface to bind (default 127.0.0.1; QA_HOST).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default 8000; QA_PORT).")
@click.option("--workers", type=click.IntRange(1, 64), help="gunicorn worker processes (default 1; QA_WORKERS).")
@SEEDS_DIR
@INDEX_DIR
def serve(host: str | None, port: int | None, workers: int | None,
          seeds_dir: Path | None, index_dir: Path | None) -> None:
    """Serve the HTTP API with gunicorn; the index is built on start if missing or stale.

    \b
    Example:
      qa serve --host 0.0.0.0 --port 8000
      curl -s localhost:8000/v1/ask -H 'Content-Type: application/json' \\
           -d '{"question": "What did Blinken say about fentanyl?"}'
    """
    from qa.server import serve as run_server

    run_server(settings_from(host=host, port=port, workers=workers,
                             seeds_dir=seeds_dir, index_dir=index_dir))


@cli.command(name="eval")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option("--index-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Index for the file's articles (SQuAD default: INDEX_DIR/eval/<file name>; "
                   "seed questions: the service's index).")
@click.option("--off-corpus", is_flag=True,
              help="Also ask each article's questions against an index without that article (SQuAD).")
@click.option("--folds", type=click.IntRange(2, 1000), default=4, show_default=True,
              help="With --off-corpus: articles are held out in this many groups.")
@click.option("--limit", type=click.IntRange(1), help="Only the first N questions.")
@SEEDS_DIR
def evaluate(file: Path, as_json: bool, index_dir: Path | None, off_corpus: bool, folds: int,
             limit: int | None, seeds_dir: Path | None) -> None:
    """Measure answer quality on FILE: seed-question JSONL or SQuAD JSON (v1.1/v2.0).

    Reports hit@1, hit@3 and MRR@10 of citations covering the gold span, cited characters,
    abstention and speed. A progress bar goes to stderr.

    \b
    Examples:
      qa eval ../shared/eval/dev_questions.jsonl
      qa eval ../shared/eval/squad/squad-v1.1-dev-part1.json --off-corpus --json
    """
    from qa.evaluation import evaluate as run_evaluation

    settings = settings_from(seeds_dir=seeds_dir)
    if index_dir is None:
        index_dir = settings.index_dir / "eval" / file.stem if file.suffix == ".json" else settings.index_dir
    try:
        report = run_evaluation(file, settings, index_dir, off_corpus=off_corpus, fold_count=folds, limit=limit)
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(report))
        return
    for key, value in report.items():
        click.echo(f"{key:>24}: {value}")


def main() -> None:
    cli()
