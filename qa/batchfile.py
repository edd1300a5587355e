"""Files of questions for `qa batch`: read .txt, .jsonl or .csv with line numbers, write answers
as JSON lines or CSV, and resume a run from the ids already written.

A line that cannot be used (bad JSON, bad UTF-8, an invalid question) is reported with its line
number and skipped; it never costs the rest of the file. Each line is validated with the same
schema as an item of `POST /v1/ask/batch`. An item without an id takes its line number as id,
so a rerun with `--resume` recognises it.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from qa.batching import parse_item
from qa.limits import BATCH_INPUT_FORMATS
from qa.retrieval import Query
from qa.schemas import NOT_UTF8, is_undecodable, messages_text

INPUT_SUFFIXES = tuple(f".{name}" for name in BATCH_INPUT_FORMATS)
# How a path of `-` (stdin) is named in messages, as Python names it.
STDIN_NAME = "<stdin>"
# How messages name each output format.
FORMAT_NAMES = {"jsonl": "JSON lines", "csv": "CSV"}
# The short answer's words last: a row read by a spreadsheet keeps the older columns where they were.
CSV_COLUMNS = ("id", "question", "answer", "answerable", "confidence", "citations", "short_answer")


@dataclass(frozen=True)
class Line:
    number: int
    item: Any = None
    problem: str | None = None


@dataclass
class Plan:
    """What a run will do: the questions to answer (and the line number of each), the lines
    skipped as bad, those already done."""

    queries: list[Query] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)
    already_done: int = 0


@contextmanager
def _open_text(path: Path) -> Iterator[IO[str]]:
    """`path` as text, or stdin for `-`, decoded the same way; stdin is left open for the caller."""
    if str(path) != "-":
        with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
            yield handle
        return
    handle = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", errors="surrogateescape", newline="")
    try:
        yield handle
    finally:
        handle.detach()


def _text_lines(path: Path) -> Iterator[tuple[int, str]]:
    with _open_text(path) as handle:
        for number, text in enumerate(handle, start=1):
            if text.strip():
                yield number, text.strip()


def _txt(path: Path) -> Iterator[Line]:
    for number, text in _text_lines(path):
        yield Line(number, {"question": text})


def _jsonl(path: Path) -> Iterator[Line]:
    for number, text in _text_lines(path):
        try:
            item = json.loads(text)
        except json.JSONDecodeError as exc:
            yield Line(number, problem=f"not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        yield Line(number, item) if isinstance(item, dict) else Line(number, problem="not a JSON object")


def _csv(path: Path) -> Iterator[Line]:
    with _open_text(path) as handle:
        reader = csv.DictReader(handle)
        if "question" not in (reader.fieldnames or ()):
            raise ValueError(f"{_name(path)}: the first row must name the columns, one of them 'question'")
        first = reader.line_num + 1
        for row in reader:
            item: dict[str, Any] = {"question": row["question"] or ""}
            if row.get("id"):
                item["id"] = row["id"]
            if None in row:
                yield Line(first, problem=f"more fields than the {len(reader.fieldnames or ())} columns")
            else:
                yield Line(first, item)
            first = reader.line_num + 1


def _name(path: Path) -> str:
    return STDIN_NAME if str(path) == "-" else str(path)


def input_format(path: Path, fmt: str | None = None) -> str:
    """The format `path` is read in: `fmt` (txt, jsonl, csv), else its extension, which stdin
    lacks; ValueError naming the file when it is none of them."""
    name = fmt or path.suffix.lower().removeprefix(".")
    if name not in BATCH_INPUT_FORMATS:
        raise ValueError(f"{_name(path)}: unknown input format; use {', '.join(INPUT_SUFFIXES)}")
    return name


def read_lines(path: Path, fmt: str | None = None) -> Iterator[Line]:
    """The questions of `path` (`-`: stdin), each with its line number, in file order; `fmt`
    (txt, jsonl, csv) overrides the extension."""
    readers = {"txt": _txt, "jsonl": _jsonl, "csv": _csv}
    for line in readers[input_format(path, fmt)](path):
        if line.item is not None and is_undecodable(json.dumps(line.item, ensure_ascii=False)):
            yield Line(line.number, problem=NOT_UTF8)
        else:
            yield line


def _problem_text(error: dict[str, Any]) -> str:
    return messages_text(error.get("fields") or {}) or error["message"]


def plan(path: Path, done: Collection[str] = (), fmt: str | None = None) -> Plan:
    """Validate every line of `path`; questions whose id is in `done` are counted, not kept."""
    result = Plan()
    for line in read_lines(path, fmt):
        if line.problem is not None:
            result.problems.append((line.number, line.problem))
            continue
        parsed = parse_item(line.item, line.number)
        if isinstance(parsed, Query):
            if str(parsed.id) in done:
                result.already_done += 1
            else:
                result.queries.append(parsed)
                result.numbers.append(line.number)
        else:
            result.problems.append((line.number, _problem_text(parsed["error"])))
    return result


def output_format(out: Path | None, requested: str | None) -> str:
    if requested:
        return requested
    return "csv" if out is not None and out.suffix.lower() == ".csv" else "jsonl"


def answers_format(out: Path) -> str | None:
    """The format of the answers already in `out`, told by its first line, so that `--resume` adds
    to it in that format and never writes CSV rows into JSON lines or the reverse; None when it
    holds no answer yet (missing, empty, or only the partial line of a run killed mid-write).
    ValueError, naming what it holds, when appending answers of either format would corrupt it."""
    if not out.exists():
        return None
    with out.open(encoding="utf-8", errors="replace", newline="") as handle:
        first = next((line for line in handle if line.strip()), "")
    if not first.endswith("\n"):
        return None
    try:
        if isinstance(json.loads(first), dict):
            return "jsonl"
    except ValueError:
        pass
    header = next(csv.reader([first]), [])
    if header == list(CSV_COLUMNS):
        return "csv"
    if header[:2] == ["id", "question"]:
        raise ValueError(
            f"{out} holds CSV answers with the columns {','.join(header)}, not the "
            f"{','.join(CSV_COLUMNS)} written now: write to another -o/--output"
        )
    raise ValueError(
        f"{out} holds no answers of qa batch (its first line is neither a JSON object nor a CSV header): "
        "write to another -o/--output, or drop --resume to write over it"
    )


def _drop_partial_last_line(path: Path) -> None:
    """A run killed mid-write may leave half a line; cut it so appending starts on a fresh line."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)


def done_ids(out: Path, fmt: str) -> set[str]:
    """Ids already answered in `out` (as strings), after dropping a partial last line."""
    if not out.exists():
        return set()
    _drop_partial_last_line(out)
    with out.open(encoding="utf-8", newline="") as handle:
        if fmt == "csv":
            return {row["id"] for row in csv.DictReader(handle) if row.get("id")}
        ids = set()
        for text in handle:
            try:
                ids.add(str(json.loads(text)["id"]))
            except (ValueError, KeyError, TypeError):
                continue
        return ids


class AnswerWriter:
    """Writes results as JSON lines or CSV rows, flushed as they come, so a killed run keeps them."""

    def __init__(self, handle: IO[str], fmt: str, header: bool = True):
        self.handle = handle
        self.fmt = fmt
        self._csv = csv.DictWriter(handle, CSV_COLUMNS, extrasaction="ignore") if fmt == "csv" else None
        if self._csv is not None and header:
            self._csv.writeheader()

    def write(self, result: dict[str, Any]) -> None:
        if self._csv is not None:
            citations = result["citations"]
            short = citations[0]["short_answer"] if citations else None
            self._csv.writerow(
                {
                    **result,
                    "answerable": json.dumps(result["answerable"]),
                    "citations": json.dumps(citations, ensure_ascii=False),
                    "short_answer": short["text"] if short else "",
                }
            )
        else:
            self.handle.write(json.dumps(result, ensure_ascii=False) + "\n")
        self.handle.flush()


@contextmanager
def open_writer(out: Path | None, fmt: str, append: bool = False) -> Iterator[AnswerWriter]:
    """A writer on `out` (appended to when resuming) or, without `out`, on stdout."""
    if out is None:
        yield AnswerWriter(sys.stdout, fmt)
        return
    header = not append or not out.exists() or out.stat().st_size == 0
    with out.open("a" if append else "w", encoding="utf-8", newline="") as handle:
        yield AnswerWriter(handle, fmt, header)
