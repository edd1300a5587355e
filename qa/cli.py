"""The `qa` command line: index articles, ask questions, serve the API.

Commands are thin: they build a `Service` from the same settings the server uses and print what
it returns. Heavy imports (torch, faiss) happen inside commands, so `--help` stays instant.

What a user sees on stderr: a failure is one line, `Error: ...` (with `qa -v`, the traceback
behind it first); warnings are one line each; a build says why it is needed before its progress bar.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from qa.config import Settings
from qa.limits import BATCH_INPUT_FORMATS, BATCH_OUTPUT_FORMATS, DEFAULT_TOP_K, MAX_TOP_K

if TYPE_CHECKING:
    from qa.documents import Document
    from qa.indexing import Archive
    from qa.retrieval import Query
    from qa.service import Service

INDEX_DIR = click.option(
    "--index-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="QA_INDEX_DIR",
    help="Where the built index lives (default: ./index).",
)
SEEDS_DIR = click.option(
    "--seeds-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="QA_SEEDS_DIR",
    help="Folder of *.txt articles with optional *.json metadata (default: ./seeds).",
)
SEEDS_HINT = (
    "point --seeds-dir or QA_SEEDS_DIR at the folder of *.txt articles "
    "(and --index-dir or QA_INDEX_DIR at where the index goes)"
)
# What the index builder (a `qa.*` logger) logs at WARNING before it builds an index that is missing,
# stale or damaged.
STORE_BUILD_PREFIX = "building the index: "
# Articles per commit of `qa ingest`: small commits locally (a feed of the day), few large ones
# when backfilling on Ray (each commit is a generation and a segment to merge later).
LOCAL_COMMIT = 100
RAY_COMMIT = 10_000


def settings_from(**overrides: Any) -> Settings:
    try:
        return Settings.from_env(**overrides)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


def require_seeds(settings: Settings) -> None:
    """Fail before any work when the articles are not where the settings say (typically: `qa` run
    outside the project folder, where the default ./seeds does not exist)."""
    if not settings.seeds_dir.is_dir():
        raise click.ClickException(f"no seeds folder at {settings.seeds_dir.absolute()}: {SEEDS_HINT}")


def read_articles(settings: Settings) -> list[Document]:
    """The seeds folder's usable articles; bad seed files are skipped or defaulted and logged. None
    is an error: an archive holds at least one article, and a server started on an empty folder
    answered 503 to everything, publishing included, until restarted."""
    from qa.documents import load_seeds

    require_seeds(settings)
    documents = load_seeds(settings.seeds_dir).documents
    if not documents:
        raise click.ClickException(
            f"no articles to import in {settings.seeds_dir.absolute()}: add NAME.txt files there, "
            "or publish some into the index folder with `qa ingest`"
        )
    return documents


def has_archive(settings: Settings) -> bool:
    """Whether the index folder holds an archive; the seeds folder only fills one that does not
    (so a replica, given the index folder alone, needs no seeds)."""
    from qa.store import CURRENT

    return (settings.index_dir / CURRENT).exists()


def seeds_to_import(settings: Settings) -> tuple[list[Document] | None, int]:
    """The seeds folder's articles when the index folder has no archive yet (then a missing seeds
    folder is the error to show), else None; and how many articles a load may have to embed."""
    from qa.store import IndexUnavailable, current_generation, read_manifest

    if not has_archive(settings):
        documents = read_articles(settings)
        return documents, len(documents)
    try:
        return None, int(read_manifest(current_generation(settings.index_dir)).get("counts", {}).get("documents", 0))
    except IndexUnavailable:
        return None, 0


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


class _RebuildNotice(logging.Handler):
    """Turns the builder's "building the index: <reason>" warning into one line that says which index,
    why and how much work follows, so that a long build never starts unexplained."""

    def __init__(self, index_dir: Path, articles: int):
        super().__init__(logging.WARNING)
        self.index_dir, self.articles, self.existed = index_dir, articles, index_dir.exists()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if not message.startswith(STORE_BUILD_PREFIX):
            return
        record.shown_as_notice = True  # the stderr log handler (the root's, called after this one) skips it
        work = _plural(self.articles, "article")
        if self.existed:
            reason = message.removeprefix(STORE_BUILD_PREFIX)
            click.echo(
                f"the index in {self.index_dir} cannot be used ({reason}): rebuilding it from {work}...", err=True
            )
        else:
            click.echo(f"building the index in {self.index_dir} from {work}...", err=True)


@contextmanager
def rebuild_notice(index_dir: Path, articles: int) -> Iterator[None]:
    qa_log = logging.getLogger("qa")  # whichever module builds, its record passes here before the root's
    handler = _RebuildNotice(index_dir, articles)
    qa_log.addHandler(handler)
    try:
        yield
    finally:
        qa_log.removeHandler(handler)


def open_service(settings: Settings, documents: Sequence[Document] | None = None) -> Service:
    """A loaded Service over the archive as it is (the seeds folder imported when it is empty), or
    over exactly `documents`; a build is said on stderr, with a progress bar; failures are one line."""
    from qa.service import Service

    if documents is None:
        documents, articles = seeds_to_import(settings)
    else:
        articles = len(documents)
    try:
        with rebuild_notice(settings.index_dir, articles):
            return Service(settings).load(progress=True, documents=documents)
    except Exception as exc:
        raise click.ClickException(f"could not load the index: {exc}") from exc


class _StderrLog(logging.Handler):
    """The pipeline's log on stderr: timestamped lines with tracebacks, or, for a command's user,
    `warning: ...` lines only, leaving out a failure logged with its traceback, since the command
    reports that as its own one-line error."""

    def __init__(self, level: int, one_line: bool):
        super().__init__(level)
        self.one_line = one_line
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self.tracebacks_shown: list[BaseException] = []  # so `QaGroup` does not show one again

    def filter(self, record: logging.LogRecord) -> bool:
        reported_elsewhere = record.exc_info is not None or getattr(record, "shown_as_notice", False)
        return not (self.one_line and reported_elsewhere)

    def emit(self, record: logging.LogRecord) -> None:
        line = f"{record.levelname.lower()}: {record.getMessage()}" if self.one_line else self.format(record)
        click.echo(line, err=True)  # resolves sys.stderr now, so it follows click's test runner too
        if not self.one_line and record.exc_info and record.exc_info[1] is not None:
            self.tracebacks_shown.append(record.exc_info[1])

    def showed(self, error: BaseException) -> bool:
        return any(shown is error for shown in self.tracebacks_shown)


_STDERR_LOG = "qa.stderr_log"


def log_to_stderr(ctx: click.Context, verbose: bool) -> None:
    """Install the stderr log for this command, and take it away when the command ends. `qa serve`
    keeps the full format: it loads in the background, so its log is the only place a failure shows."""
    root = logging.getLogger()
    server = ctx.invoked_subcommand == "serve"
    handler = _StderrLog(logging.INFO if verbose else logging.WARNING, one_line=not (verbose or server))
    previous_level = root.level
    root.setLevel(handler.level)
    root.addHandler(handler)
    ctx.meta[_STDERR_LOG] = handler

    def restore() -> None:
        root.removeHandler(handler)
        root.setLevel(previous_level)

    ctx.call_on_close(restore)


class QaGroup(click.Group):
    """Every failure ends in one line, `Error: ...`, exit code 1: click's own errors as they are,
    anything else (an OSError, a bug) turned into one. With `qa -v`, the traceback behind the
    error is printed first, unless the log printed it already ("could not load the index")."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort):
            raise
        except click.ClickException as exc:
            error = exc
        except Exception as exc:
            message = str(exc) if isinstance(exc, OSError) else f"{type(exc).__name__}: {exc} (qa -v shows where)"
            error = click.ClickException(message)
            error.__cause__ = exc
        log = ctx.meta.get(_STDERR_LOG)
        shown = log is not None and error.__cause__ is not None and log.showed(error.__cause__)
        if ctx.params.get("verbose") and error.__cause__ is not None and not shown:
            click.echo("".join(traceback.format_exception(error.__cause__)), err=True, nl=False)
        raise error


@click.group(cls=QaGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="article-qa")
@click.option("-v", "--verbose", is_flag=True, help="Log what the pipeline does to stderr, and show tracebacks.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Answer questions about news articles, citing exact character spans.

    The articles are the *.txt files in ./seeds and the index goes to ./index; from any other
    folder, name them with --seeds-dir/--index-dir or QA_SEEDS_DIR/QA_INDEX_DIR.

    \b
    Examples:
      qa index                                  # build ./index from ./seeds
      qa ask "What did Blinken say about fentanyl?"
      qa ask "What did Blinken say about fentanyl?" --json
      qa serve --port 8000                      # HTTP API under gunicorn
      QA_SEEDS_DIR=~/articles QA_INDEX_DIR=~/articles-index qa ask "Who met whom?"
    """
    log_to_stderr(ctx, verbose)


@cli.command()
@SEEDS_DIR
@INDEX_DIR
@click.option("--force", is_flag=True, help="Re-embed every article of the archive even if it is up to date.")
@click.option(
    "--verify",
    is_flag=True,
    help="Check every file of the current index against its manifest's SHA-256 (reads it all).",
)
def index(seeds_dir: Path | None, index_dir: Path | None, force: bool, verify: bool) -> None:
    """Create the archive from the seeds folder when it is empty; otherwise check it is usable.

    Once the archive exists it is the source of truth: publish with `qa ingest` or the HTTP API
    (`qa ingest seeds/` re-imports the seeds folder). An archive built with other settings or
    another model is re-embedded from its own articles. A seed file that cannot be used is
    reported on stderr and skipped (text that is not UTF-8, an id already taken) or indexed under
    its file name and stem (metadata that is not a JSON object, or whose id or title is no
    string); other fields are kept whatever their JSON type, less an unusable url or date.

    \b
    Examples:
      qa index                 # import ./seeds into ./index if it is empty
      qa index --verify        # is the archive on disk intact?
      qa index --index-dir ~/articles-index --force   # re-embed every article
    """
    from qa.embedding import Embedder
    from qa.indexing import BuildSettings, open_or_import
    from qa.store import current_generation, verify_generation

    settings = settings_from(seeds_dir=seeds_dir, index_dir=index_dir)
    if verify:
        try:
            folder = current_generation(settings.index_dir)
            verify_generation(folder)
        except Exception as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"index {folder.name}: every file matches its manifest")
        return
    seeds, articles = seeds_to_import(settings)
    try:
        embedder = Embedder.from_settings(settings)
        build = BuildSettings.from_settings(settings, embedder)
        with rebuild_notice(settings.index_dir, articles):
            loaded = open_or_import(
                settings.index_dir, lambda: seeds or [], embedder, build, progress=True, force=force
            )
    except click.ClickException:
        raise
    except Exception as exc:
        raise click.ClickException(str(exc)) from exc
    counts = loaded.manifest["counts"]
    click.echo(
        f"index {loaded.path.name}: {_plural(counts['documents'], 'document')}, "
        f"{_plural(counts['sentences'], 'sentence')}, {_plural(counts['chunks'], 'chunk')} in {settings.index_dir}"
    )


def print_answer(answer: Any) -> None:
    """Human-readable answer with its short answer, if any, and its citations underneath, each
    with the offsets that let a reader check it."""
    click.echo(answer.answer)
    short = answer.citations[0].short_answer if answer.citations else None
    if short is not None:
        click.echo(f"  short answer: {short.doc_id} {short.start}-{short.end}: {short.text}")
    for citation in answer.citations:
        click.echo(
            f"  [{citation.id}] {citation.doc_id} {citation.start}-{citation.end} "
            f"(score {citation.score:.3f}): {citation.quote}"
        )


# Where each field of a `POST /v1/ask` body comes from on `qa ask`'s command line.
ASK_PARAMETERS = {
    "question": "QUESTION",
    "history": "'--history'",
    "top_k": "'--top-k'",
    "doc_ids": "'--doc-id'",
}


def checked_query(question: str, history: Sequence[str], top_k: int, doc_ids: Sequence[str] = ()) -> Query:
    """The query as `POST /v1/ask` takes it, through the same schema (its limits, its messages);
    the first problem is a usage error naming the argument, before any model loads."""
    import marshmallow

    from qa.schemas import NOT_UTF8, AskRequestSchema, is_undecodable

    arguments = [
        ("question", None, question),
        *(("history", n, item) for n, item in enumerate(history)),
        *(("doc_ids", n, item) for n, item in enumerate(doc_ids)),
    ]
    for name, position, value in arguments:
        if is_undecodable(value):
            raise _bad_argument(name, position, [NOT_UTF8])
    body = {"question": question, "history": list(history), "top_k": top_k}
    if doc_ids:
        body["doc_ids"] = list(doc_ids)
    try:
        query: Query = AskRequestSchema().load(body)
    except marshmallow.ValidationError as exc:
        name, messages = next(iter(exc.normalized_messages().items()))
        position = None
        if isinstance(messages, dict):  # a history item's: {position: [messages]}
            position, messages = next(iter(messages.items()))
        raise _bad_argument(name, position, messages) from None
    return query


def _bad_argument(name: str, position: int | None, messages: list[str]) -> click.BadParameter:
    where = "" if position is None else f"item {position + 1}: "
    return click.BadParameter(where + " ".join(messages), param_hint=ASK_PARAMETERS[name])


def question_from_stdin(question: str | None) -> str:
    """QUESTION as given, or read from stdin for `-` or when omitted with stdin piped (as
    `llm prompt` does), so `echo ... | qa ask` works; bytes kept as given so a non-UTF-8 one is named."""
    if question is not None and question != "-":
        return question
    if question is None and sys.stdin.isatty():
        raise click.MissingParameter(param_hint="QUESTION", param_type="argument")
    return sys.stdin.buffer.read().decode("utf-8", "surrogateescape").strip()


@cli.command()
@click.argument("question", required=False)
@click.option("--history", multiple=True, help="An earlier question of the conversation (repeatable, oldest first).")
@click.option(
    "--top-k", type=click.IntRange(1, MAX_TOP_K), default=DEFAULT_TOP_K, show_default=True, help="Citations at most."
)
@click.option(
    "--doc-id",
    "doc_ids",
    multiple=True,
    metavar="ID",
    help="Answer from this article only (repeatable: from these articles), as `doc_ids` of POST /v1/ask.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the same JSON as POST /v1/ask.")
@SEEDS_DIR
@INDEX_DIR
def ask(
    question: str | None,
    history: tuple[str, ...],
    top_k: int,
    doc_ids: tuple[str, ...],
    as_json: bool,
    seeds_dir: Path | None,
    index_dir: Path | None,
) -> None:
    """Answer QUESTION from the indexed articles, citing the sentences that say so.

    QUESTION `-`, or none with stdin piped, reads the question from stdin. Each citation is
    DOC_ID START-END: character offsets into the article's text (see the README, "How citations
    work"). A missing or stale index is built first (a progress bar on stderr).

    \b
    Examples:
      qa ask "What did Blinken say about fentanyl?"
      qa ask "And what about Tibet?" --history "What did Blinken raise on human rights?"
      qa ask "What did Blinken say about fentanyl?" --json | jq '.citations[0]'
      qa ask "How long did the talks last?" --doc-id blinken-wang-yi-talks
      echo "What did Blinken say?" | qa ask
    """
    from qa.batching import unknown_documents_error
    from qa.schemas import answer_to_dict
    from qa.service import UnknownDocuments

    question = question_from_stdin(question)
    if not question.strip():
        raise click.BadParameter("the question is empty", param_hint="QUESTION")
    query = checked_query(question, history, top_k, doc_ids)
    service = open_service(settings_from(seeds_dir=seeds_dir, index_dir=index_dir))
    try:
        answer = service.ask(query)
    except UnknownDocuments as exc:  # the API's 400 `unknown_documents`, in its words
        raise click.BadParameter(unknown_documents_error(exc)["message"], param_hint="'--doc-id'") from None
    if as_json:
        click.echo(json.dumps(answer_to_dict(answer), ensure_ascii=False))
    else:
        print_answer(answer)


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path))
@click.option(
    "--input-format",
    "in_fmt",
    type=click.Choice(BATCH_INPUT_FORMATS),
    help="Format of FILE (default: its extension); needed when FILE is - (stdin) or has another extension.",
)
@click.option(
    "-o",
    "--output",
    "out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    callback=lambda _ctx, _param, out: check_output_folder(out),
    help="Write the answers to this file (default: stdout).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(BATCH_OUTPUT_FORMATS),
    help="Output format (default: csv when OUT ends in .csv, else jsonl).",
)
@click.option(
    "--resume", is_flag=True, help="Skip the ids already answered in OUT and append the rest, in the format OUT holds."
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 1000),
    default=1000,
    show_default=True,
    help="Questions answered together, then written (an interrupted run loses at most these).",
)
@SEEDS_DIR
@INDEX_DIR
def batch(
    file: Path,
    in_fmt: str | None,
    out: Path | None,
    fmt: str | None,
    resume: bool,
    batch_size: int,
    seeds_dir: Path | None,
    index_dir: Path | None,
) -> None:
    """Answer every question in FILE, writing each answer with its citations.

    FILE is .txt (one question a line), .jsonl (objects with "question" and optional "id",
    "history", "top_k", "doc_ids": an item of POST /v1/ask/batch) or .csv (a "question" column,
    optional "id"); FILE - reads stdin, whose format --input-format names. A question without an
    id takes its line number. A bad line, or a question scoped to an article the archive lacks,
    is reported on stderr with its number and skipped; a run that answers no question is an error
    (exit 1).

    \b
    Examples:
      qa batch questions.txt -o answers.jsonl
      qa batch questions.csv -o answers.csv --resume    # carry on where a run stopped
      grep Blinken questions.txt | qa batch - --input-format txt
    """
    from qa import batchfile
    from qa.batching import answer_items

    if resume and out is None:
        raise click.UsageError("--resume needs -o/--output: it reads the answers already written there")
    stdin = str(file) == "-"
    if stdin and in_fmt is None:  # stdin has no extension to tell the format by
        raise click.UsageError("FILE - (stdin) needs --input-format txt, jsonl or csv")
    if not stdin and out is not None and out.resolve() == file.resolve():  # answers would replace the questions
        raise click.UsageError("-o/--output names FILE itself: write the answers to another file")
    try:  # a file of a kind no reader takes, told before any model loads
        in_fmt = batchfile.input_format(file, in_fmt)
    except ValueError as exc:
        raise click.BadParameter(f"{exc}, or name one with --input-format", param_hint="'FILE'") from None
    if resume and out is not None:
        fmt = _resume_format(out, fmt)
    fmt = batchfile.output_format(out, fmt)
    try:
        plan = batchfile.plan(file, batchfile.done_ids(out, fmt) if resume and out else set(), in_fmt)
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    name = batchfile.STDIN_NAME if stdin else str(file)
    for number, problem in plan.problems:
        click.echo(f"{name}:{number}: skipped: {problem}", err=True)
    _require_an_answer(name, len(plan.queries), len(plan.problems), plan.already_done)  # before any model loads
    service = open_service(settings_from(seeds_dir=seeds_dir, index_dir=index_dir))
    with (
        batchfile.open_writer(out, fmt, append=resume) as writer,
        click.progressbar(length=len(plan.queries), label="answering", file=sys.stderr) as bar,
    ):
        refused = 0
        for number, result in zip(plan.numbers, answer_items(service, plan.queries, batch_size), strict=True):
            bar.update(1)
            if "error" in result:  # valid as a line, but not for this archive (unknown doc_ids)
                refused += 1
                click.echo(f"\n{name}:{number}: skipped: {result['error']['message']}", err=True)
                continue
            writer.write(result)
    answered, skipped = len(plan.queries) - refused, len(plan.problems) + refused
    _require_an_answer(name, answered, skipped, plan.already_done)
    click.echo(
        f"answered {answered}, skipped {_plural(skipped, 'bad line')}"
        + (f", {plan.already_done} already in {out}" if resume else ""),
        err=True,
    )


def check_output_folder(out: Path | None) -> Path | None:
    """`qa batch -o OUT`, once its folder is known to take the file, as a usage error before any
    work: a missing folder failed only after the model had loaded (seconds), with a bare OSError."""
    if out is None:
        return None
    folder = out.parent
    if not folder.is_dir():
        raise click.BadParameter(
            f"'{folder}' is not a folder." if folder.exists() else f"Folder '{folder}' does not exist."
        )
    if not out.exists() and not os.access(folder, os.W_OK | os.X_OK):
        raise click.BadParameter(f"Folder '{folder}' is not writable.")
    return out


def _require_an_answer(name: str, answered: int, skipped: int, already_done: int) -> None:
    """Fail, as `qa ingest` does with no valid article, when a run answers no question and none
    was answered before (`--resume`): a file of bad lines only, or of none, is not a success."""
    if answered or already_done:
        return
    why = f"skipped {_plural(skipped, 'bad line')} of {name}" if skipped else f"{name} holds none"
    raise click.ClickException(f"no question could be answered: {why}")


def _resume_format(out: Path, requested: str | None) -> str | None:
    """The format `--resume` adds answers to OUT in: the one OUT holds (`--resume` after
    `--format jsonl -o out.csv` appended header-less CSV rows to the JSON lines, answering every
    question again). A --format that contradicts it is a usage error; without one, OUT's content
    wins over its extension, and stderr says so."""
    from qa import batchfile

    try:
        found = batchfile.answers_format(out)
    except ValueError as exc:
        raise click.UsageError(f"--resume: {exc}") from exc
    except OSError as exc:
        raise click.ClickException(str(exc)) from exc
    if found is None:
        return requested
    name = batchfile.FORMAT_NAMES[found]
    if requested is not None and requested != found:
        raise click.UsageError(
            f"--resume: {out} holds answers as {name}, not {batchfile.FORMAT_NAMES[requested]}: "
            f"pass --format {found} to add to it, or write --format {requested} to another -o/--output"
        )
    if found != batchfile.output_format(out, requested):
        click.echo(f"{out} holds answers as {name}: adding to it as {name} (--format {found})", err=True)
    return found


@cli.command()
@click.option("--host", help="Interface to bind (default 127.0.0.1; QA_HOST).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default 8000; QA_PORT).")
@click.option("--workers", type=click.IntRange(1, 64), help="gunicorn worker processes (default 1; QA_WORKERS).")
@SEEDS_DIR
@INDEX_DIR
def serve(
    host: str | None, port: int | None, workers: int | None, seeds_dir: Path | None, index_dir: Path | None
) -> None:
    """Serve the HTTP API with gunicorn; the index is built on start if missing or stale.

    \b
    Example:
      qa serve --host 0.0.0.0 --port 8000
      curl -s localhost:8000/v1/ask -H 'Content-Type: application/json' \\
           -d '{"question": "What did Blinken say about fentanyl?"}'
    """
    from qa.server import serve as run_server

    settings = settings_from(host=host, port=port, workers=workers, seeds_dir=seeds_dir, index_dir=index_dir)
    if not has_archive(settings):
        read_articles(settings)
    check_listen(settings.host, settings.port)
    run_server(settings)


def check_listen(host: str, port: int) -> None:
    """Fail at once, in one line, when the address cannot be listened on (a port in use, a host
    that is no address here): gunicorn loads the model first, then logs five retries over five seconds."""
    import socket

    try:
        family, kind, protocol, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, protocol) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
            probe.bind(address)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


@dataclass
class Reading:
    """How far `read_documents` has read: input records (non-blank lines, a folder's `.txt`
    files), valid or not, which is what the progress bar counts, and where the invalid ones were."""

    records: int = 0
    invalid: list[str] = field(default_factory=list)


def read_documents(paths: Sequence[Path], max_chars: int, reading: Reading | None = None) -> Iterator[Document]:
    """The valid articles of `paths` (folders of `.txt` + `.json`, or `.jsonl` files of
    `{id, title, text, metadata}`, read a line at a time), each checked as `PUT /v1/documents`
    checks it; an invalid one is skipped with a line on stderr naming where it is and what is wrong
    (and added to `reading.invalid`)."""
    import marshmallow

    from qa.schemas import messages_text, parse_document

    reading = reading if reading is not None else Reading()
    for where, record in _records(paths, reading):
        try:
            yield parse_document(record, max_chars=max_chars)
        except marshmallow.ValidationError as exc:
            click.echo(f"{where}: {messages_text(exc.messages)}; skipped", err=True)
            reading.invalid.append(where)


def _records(paths: Sequence[Path], reading: Reading) -> Iterator[tuple[str, Any]]:
    from qa.documents import load_seeds

    for path in paths:
        if path.is_dir():
            seeds = load_seeds(path)  # a file it skips (not UTF-8, an id taken) is a warning on stderr
            for d in seeds.documents:
                reading.records += 1
                yield f"{path}/{d.doc_id}", {"id": d.doc_id, "title": d.title, "text": d.text, "metadata": d.metadata}
            skipped = sum(1 for _ in path.glob("*.txt")) - len(seeds.documents)
            reading.records += skipped
            reading.invalid.extend([str(path)] * skipped)
            continue
        # utf-8-sig: a file an editor saved with a BOM has its first article read, not "not JSON".
        with path.open(encoding="utf-8-sig", errors="surrogateescape") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                reading.records += 1
                try:
                    record = json.loads(line)
                except ValueError as exc:
                    click.echo(f"{path}:{number}: not JSON ({exc}); skipped", err=True)
                    reading.invalid.append(f"{path}:{number}")
                    continue
                yield f"{path}:{number}", record


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--batch-size",
    type=click.IntRange(1, 1_000_000),
    help="Articles per commit: a rerun after an interruption skips what was committed "
    f"(default {LOCAL_COMMIT}; with --ray {RAY_COMMIT:,}).",
)
@click.option(
    "--ray",
    "ray_address",
    is_flag=False,
    flag_value="local",
    metavar="[ADDRESS]",
    help="Split and embed on a Ray cluster: this machine alone when no ADDRESS is given, `auto` for the "
    "cluster it belongs to, or ray://HOST:10001 (needs `pip install 'article-qa[ray]'`). Put it after PATHS.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
@INDEX_DIR
def ingest(
    paths: tuple[Path, ...], batch_size: int | None, ray_address: str | None, as_json: bool, index_dir: Path | None
) -> None:
    """Publish articles from PATHS into the archive: new ones are added, changed ones replaced,
    unchanged ones skipped. Safe while `qa serve` runs on the same index: it serves each commit
    within a second.

    PATHS are folders of NAME.txt with optional NAME.json metadata (as the seeds folder), or .jsonl
    files with one {"id", "title", "text", "metadata"} object a line, or (with --ray) .parquet files
    with those columns. An invalid article is skipped with its reason on stderr; the rest are
    published.

    With --ray a whole archive is backfilled: Ray workers read, split and embed the articles (the
    input is never held whole) and every --batch-size articles are committed, without loading
    the archive or merging its segments (`qa merge` does that afterwards); rerun after an
    interruption, it skips the articles already committed before embedding them.

    \b
    Examples:
      qa ingest seeds/                      # re-import the seeds folder
      qa ingest today.jsonl --json | jq .created
      qa ingest archive.jsonl --ray         # backfill on this machine's cores
      qa ingest archive.parquet --ray auto  # on the Ray cluster this machine belongs to
    """
    check_ingest_paths(paths, ray=ray_address is not None)
    settings = settings_from(index_dir=index_dir)
    if ray_address is not None:
        if Path(ray_address).exists():
            raise click.UsageError(f"--ray took {ray_address!r} as its address: put --ray after PATHS")
        summary = ingest_on_ray(
            paths, settings, batch_size or RAY_COMMIT, None if ray_address == "local" else ray_address
        )
    else:
        try:
            summary = ingest_locally(paths, settings, batch_size or LOCAL_COMMIT)
        except NothingToPublish as exc:
            if as_json:  # a pipe to jq still gets the summary, its invalid count
                click.echo(json.dumps(exc.summary))
            raise
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(
            f"{_plural(summary['published'], 'article')} published ({summary['created']} new, {summary['replaced']} "
            f"replaced; {summary['unchanged']} unchanged and {summary['invalid']} invalid skipped) "
            f"in generation {summary['generation']}"
        )


def check_ingest_paths(paths: Sequence[Path], ray: bool) -> None:
    """Refuse a file of a kind `qa ingest` cannot read before reading any: the readers take every
    other file for JSONL, and a CSV became one "not JSON" line per row."""
    suffixes = (".jsonl", ".parquet") if ray else (".jsonl",)
    for path in paths:
        if not path.is_dir() and path.suffix not in suffixes:
            raise click.ClickException(f"{path}: unknown input format; use a folder, .jsonl, or .parquet with --ray")


def writer(settings: Settings) -> Archive:
    """The archive `qa ingest`, `qa merge` and `qa delete` write to (the embedder loads its model
    only if it is used)."""
    from qa.embedding import Embedder
    from qa.indexing import Archive, BuildSettings

    embedder = Embedder.from_settings(settings)
    return Archive(settings.index_dir, embedder, BuildSettings.from_settings(settings, embedder))


def ingest_locally(paths: Sequence[Path], settings: Settings, batch_size: int) -> dict[str, Any]:
    """`qa ingest` in this process: articles are read as they are published, `batch_size` per
    commit, so neither the input nor the archive is ever held whole (a later duplicate id wins:
    it is published later)."""
    from qa.backfill import count_records, progress_label

    reading = Reading()
    documents = read_documents(paths, settings.max_document_chars, reading)
    batch = next_batch(documents, batch_size)
    if not batch:
        raise NothingToPublish(ingest_summary(0, 0, 0, len(reading.invalid), ""))
    archive = writer(settings)
    published = created_count = unchanged = shown = 0
    generation = ""
    try:
        with click.progressbar(
            length=count_records(paths), label=progress_label("publishing", paths), show_pos=True, file=sys.stderr
        ) as bar:
            while batch:
                change = archive.publish(batch)
                # Counted as `--ray` counts them: an article already committed as it is is not published again.
                published += len(batch) - change.unchanged
                unchanged += change.unchanged
                created_count += sum(change.created)
                generation = merge_all(archive) or change.generation
                # The records this commit was read from, the invalid ones among them: the bar ends at its length.
                bar.update(reading.records - shown)
                shown = reading.records
                batch = next_batch(documents, batch_size)
            bar.update(reading.records - shown)  # invalid records after the last article
    except Exception as exc:
        raise click.ClickException(str(exc)) from exc
    return ingest_summary(published, created_count, unchanged, len(reading.invalid), generation)


def ingest_summary(published: int, created: int, unchanged: int, invalid: int, generation: str) -> dict[str, Any]:
    """What `qa ingest --json` prints (`--ray` adds `segments`); `generation` is "" when none was committed."""
    return {
        "published": published,
        "created": created,
        "replaced": published - created,
        "unchanged": unchanged,
        "invalid": invalid,
        "generation": generation,
    }


class NothingToPublish(click.ClickException):
    """No valid article in the input: an error, after which `qa ingest --json` prints its summary all the same."""

    def __init__(self, summary: dict[str, Any]):
        super().__init__("no valid article to publish")
        self.summary = summary


def next_batch(documents: Iterator[Document], size: int) -> list[Document]:
    """The next `size` distinct articles of `documents`; an id given twice keeps its later version."""
    batch: dict[str, Document] = {}
    for document in documents:
        batch.pop(document.doc_id, None)
        batch[document.doc_id] = document
        if len(batch) >= size:
            break
    return list(batch.values())


def ingest_on_ray(paths: Sequence[Path], settings: Settings, batch_size: int, address: str | None) -> dict[str, Any]:
    """`qa ingest --ray`: split and embed on Ray (`qa.backfill`) and commit here. Nothing is merged:
    a merge holds the merged segments in memory, and the driver must not grow with the archive."""
    from importlib.util import find_spec

    from tqdm import tqdm

    from qa.backfill import backfill, count_records, progress_label

    if find_spec("ray") is None:  # only the [ray] extra installs it
        raise click.ClickException("--ray needs Ray: pip install 'article-qa[ray]'")
    archive = writer(settings)  # the model is never loaded here: the workers embed
    try:
        # Every input row counts, an invalid one too: the bar counts what was read, not articles.
        with tqdm(total=count_records(paths), desc=progress_label("backfilling", paths), file=sys.stderr) as bar:
            summary = backfill(
                paths,
                archive,
                settings.model_path,
                settings.max_document_chars,
                address,
                batch_size,
                on_progress=bar.update,
                on_problem=lambda line: bar.write(line, file=sys.stderr),
            )
        catalog = archive.catalog()
        segments = len(catalog.entries)
        if archive.merge_candidates(catalog):
            click.echo(
                f"the archive is in {_plural(segments, 'segment')}: run `qa merge` where there is memory for "
                "the merged segments (or a server merges them after its next write)",
                err=True,
            )
    except Exception as exc:
        raise click.ClickException(str(exc)) from exc
    counts = ingest_summary(summary.published, summary.created, summary.unchanged, summary.invalid, summary.generation)
    return {**counts, "segments": segments}


def merge_all(archive: Archive) -> str | None:
    """Merge segments until the merge policy is met; the last generation committed (None: no merge)."""
    generation = None
    while (merged := archive.merge()) is not None:
        generation = merged.generation
    return generation


@cli.command()
@INDEX_DIR
def merge(index_dir: Path | None) -> None:
    """Merge the archive's small segments now, as a server does after its writes: segments of about
    the same size are merged 8 at a time, so a question visits few, and deleted articles are
    dropped for good. Safe while `qa serve` runs on the same index.

    `qa ingest --ray` leaves this to be run after a backfill: a merge holds the merged segments'
    vectors and builds their FAISS index in memory, which the backfill's driver does not.

    \b
    Example:
      qa merge --index-dir /srv/articles-index
    """
    settings = settings_from(index_dir=index_dir)
    archive = writer(settings)  # stored vectors are reused: the model is never loaded
    try:
        before = len(archive.catalog().entries)
        generation = merge_all(archive)
        after = len(archive.catalog().entries)
    except Exception as exc:
        raise click.ClickException(str(exc)) from exc
    if generation is None:
        click.echo(f"nothing to merge: {_plural(before, 'segment')}")
    else:
        click.echo(f"merged {before} segments into {after}; generation {generation}")


@cli.command()
@click.argument("doc_ids", nargs=-1, required=True)
@INDEX_DIR
def delete(doc_ids: tuple[str, ...], index_dir: Path | None) -> None:
    """Delete the articles DOC_IDS from the archive, in one commit; if any of them is not in the
    archive, nothing is deleted. Safe while `qa serve` runs on the same index.

    \b
    Example:
      qa delete flood-barrier-2026 old-story
    """
    from qa.indexing import EmptyArchive, MissingDocuments
    from qa.store import IndexUnavailable

    archive = writer(settings_from(index_dir=index_dir))
    try:
        index = archive.delete(doc_ids)
    except MissingDocuments as exc:
        raise click.ClickException(f"not in the archive: {', '.join(exc.doc_ids)}; nothing was deleted") from exc
    except (EmptyArchive, IndexUnavailable) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"deleted {_plural(len(set(doc_ids)), 'article')}; generation {index.generation}")


@cli.command(name="eval")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option(
    "--index-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Index for the evaluated articles (default: INDEX_DIR/eval/<file name> for SQuAD, "
    "INDEX_DIR/eval/<seeds folder name>-<hash> for seed questions; never the service's own).",
)
@click.option(
    "--off-corpus",
    is_flag=True,
    help="Also ask each article's questions against an index without that article (SQuAD).",
)
@click.option(
    "--folds",
    type=click.IntRange(2, 1000),
    default=4,
    show_default=True,
    help="With --off-corpus: articles are held out in this many groups.",
)
@click.option("--limit", type=click.IntRange(1), help="Only the first N questions.")
@click.option(
    "--misses",
    is_flag=True,
    help="Also list the questions got wrong: answerable ones whose gold is not in the first citation "
    "(declined, or cited lower), unanswerable ones answered.",
)
@SEEDS_DIR
def evaluate(
    file: Path,
    as_json: bool,
    index_dir: Path | None,
    off_corpus: bool,
    folds: int,
    limit: int | None,
    misses: bool,
    seeds_dir: Path | None,
) -> None:
    """Measure answer quality on FILE: seed-question JSONL or SQuAD JSON (v1.1/v2.0).

    Reports hit@1, hit@3 and MRR@10 of citations covering the gold span, cited characters,
    abstention and speed. A progress bar goes to stderr. Seed questions are asked of the seeds
    folder's articles, SQuAD questions of the file's own; either way an index other than the
    service's is kept apart from it, so evaluating never rebuilds what the server answers from.

    \b
    Examples:
      qa eval ../shared/eval/dev_questions.jsonl
      qa eval my-questions.jsonl --seeds-dir ~/other-articles --json
      qa eval ../shared/eval/squad/squad-v1.1-dev-part1.json --off-corpus --json
      qa eval ../shared/eval/newsroom/questions.jsonl --seeds-dir ../shared/eval/newsroom/seeds --misses
    """
    from qa.evaluation import Miss, default_index_dir, read_eval_file
    from qa.evaluation import evaluate as run_evaluation

    settings = settings_from(seeds_dir=seeds_dir)
    try:
        evalset = read_eval_file(file)
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    if off_corpus and not evalset.documents:  # before loading the model and asking every question
        raise click.ClickException("--off-corpus needs a SQuAD file: its questions name their article")
    documents = evalset.documents or read_articles(settings)
    index_dir = index_dir or default_index_dir(file, settings)
    service = open_service(settings.with_overrides(index_dir=index_dir), documents)
    report = run_evaluation(evalset, service, off_corpus=off_corpus, fold_count=folds, limit=limit, misses=misses)
    if as_json:
        click.echo(json.dumps(report))
        return
    wrong = report.pop("misses", [])
    for key, value in report.items():
        # A group of counts reads as "unanswerable=12, abstained_correctly=5", not a Python dict.
        shown = ", ".join(f"{name}={count}" for name, count in value.items()) if isinstance(value, dict) else value
        click.echo(f"{key:>24}: {shown}")
    if misses:
        click.echo(f"{'misses':>24}: {len(wrong)}")
    for miss in wrong:
        click.echo(f"  {miss['id']}: {Miss(**miss).describe()}: {miss['question']}")


def main() -> None:
    cli()
