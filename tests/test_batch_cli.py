"""`qa batch FILE`: each input format, JSON lines and CSV out, bad lines skipped with their line
number, and `--resume` carrying on after a killed run."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from qa.cli import cli
from qa.retrieval import Query
from qa.service import Service
from tests.conftest import FENTANYL_QUESTION as FENTANYL
from tests.conftest import FOLLOW_UP_QUESTION as FOLLOW_UP
from tests.conftest import ROBINSON_QUESTION as ROBINSON
from tests.conftest import assert_valid_answer, run_qa
from tests.contracts import assert_exact_citations, ndjson_lines


def run(cli_env: dict[str, str], *args: str) -> Result:
    return run_qa(cli_env, "batch", *args)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return ndjson_lines(path.read_text(encoding="utf-8"))


def test_txt_one_question_a_line_ids_are_line_numbers(tmp_path: Path, cli_env: dict[str, str]) -> None:
    questions = tmp_path / "questions.txt"
    questions.write_text(f"{FENTANYL}\n\n   \n{ROBINSON}\n", encoding="utf-8")
    result = run(cli_env, str(questions))
    assert result.exit_code == 0, result.output
    answers = ndjson_lines(result.stdout)  # stdout holds the answers only; progress goes to stderr
    assert [(a["id"], a["question"]) for a in answers] == [(1, FENTANYL), (4, ROBINSON)]
    for answer in answers:
        assert answer["answerable"] is True
        assert_valid_answer({k: v for k, v in answer.items() if k != "id"}, answer["question"])
    assert "answering" in result.stderr and "answered 2, skipped 0 bad lines" in result.stderr


def test_jsonl_with_ids_and_history_bad_lines_skipped(
    tmp_path: Path, cli_env: dict[str, str], service: Service
) -> None:
    questions = tmp_path / "questions.jsonl"
    lines = [
        json.dumps({"id": "r", "question": ROBINSON}),
        "{not json",
        json.dumps(["a", "list"]),
        json.dumps({"question": FOLLOW_UP, "history": [ROBINSON]}),
        json.dumps({"id": "blank", "question": " "}),
        json.dumps({"id": "k", "question": FENTANYL, "top_k": 1}),
    ]
    questions.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "answers.jsonl"
    result = run(cli_env, str(questions), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    for number in (2, 3, 5):
        assert f"questions.jsonl:{number}: skipped:" in result.stderr
    assert "questions.jsonl:5: skipped: question: Must contain more than whitespace." in result.stderr
    answers = read_jsonl(out)
    assert [a["id"] for a in answers] == ["r", 4, "k"]
    follow_up = service.ask(Query(FOLLOW_UP, (ROBINSON,)))
    assert answers[1]["citations"][0]["start"] == follow_up.citations[0].start
    assert "should be delisted" in answers[1]["citations"][0]["quote"]
    assert len(answers[2]["citations"]) == 1


def test_csv_in_csv_out_with_citations(tmp_path: Path, cli_env: dict[str, str]) -> None:
    questions = tmp_path / "questions.csv"
    questions.write_text(
        "id,question,notes\n"
        f"f1,{FENTANYL},first\n"
        f',"{ROBINSON}\nasked on two lines",no id\n'
        "x3,,empty question\n"
        "x4,too,many,fields\n"
        "t7,How long did the talks last?,a fact\n",
        encoding="utf-8",
    )
    out = tmp_path / "answers.csv"
    result = run(cli_env, str(questions), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "questions.csv:5: skipped: question:" in result.stderr
    assert "questions.csv:6: skipped: more fields than the 3 columns" in result.stderr
    with out.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["id"] for row in rows] == ["f1", "3", "t7"]  # the second question starts on line 3
    assert rows[0]["question"] == FENTANYL and rows[1]["question"].endswith("on two lines")
    assert rows[0]["answerable"] == "true"
    citations = json.loads(rows[0]["citations"])
    assert citations
    assert_exact_citations(citations)
    assert "[1]" in rows[0]["answer"]
    # A fact question's short answer has a column of its own (and its offsets in the citations).
    assert (rows[0]["short_answer"], rows[2]["short_answer"]) == ("", "more than seven hours")
    assert json.loads(rows[2]["citations"])[0]["short_answer"]["start"] == 284


def test_output_format_can_be_chosen(tmp_path: Path, cli_env: dict[str, str]) -> None:
    questions = tmp_path / "q.txt"
    questions.write_text(FENTANYL + "\n", encoding="utf-8")
    result = run(cli_env, str(questions), "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(result.stdout.splitlines()))
    assert [row["id"] for row in rows] == ["1"]


def test_a_line_that_is_not_utf8_is_skipped(tmp_path: Path, cli_env: dict[str, str]) -> None:
    questions = tmp_path / "q.txt"
    questions.write_bytes(b"What about Tib\xffet?\n" + FENTANYL.encode() + b"\n")
    result = run(cli_env, str(questions))
    assert result.exit_code == 0, result.output
    assert "q.txt:1: skipped: not valid UTF-8" in result.stderr
    assert "answered 1, skipped 1 bad line\n" in result.stderr  # not "1 bad lines"
    assert [a["id"] for a in ndjson_lines(result.stdout)] == [2]


def test_a_line_whose_json_spells_a_lone_surrogate_is_skipped(tmp_path: Path, cli_env: dict[str, str]) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        '{"question": "fentanyl \\ud800"}\n{"id": "\\udc00", "question": "Why?"}\n'
        + json.dumps({"question": FENTANYL})
        + "\n",
        encoding="utf-8",
    )
    result = run(cli_env, str(questions))
    assert result.exit_code == 0, result.output
    assert "q.jsonl:1: skipped: question: Must be valid Unicode text (no lone surrogate code points)." in result.stderr
    assert "q.jsonl:2: skipped: id: Must be valid Unicode text (no lone surrogate code points)." in result.stderr
    assert [a["id"] for a in ndjson_lines(result.stdout)] == [3]


@pytest.mark.parametrize("fmt", ["txt", "jsonl"])
def test_a_dash_reads_the_questions_from_stdin_in_the_format_named(
    tmp_path: Path, cli_env: dict[str, str], fmt: str
) -> None:
    """`qa batch -` said "File '-' does not exist"; stdin has no extension, so its format is named."""
    lines = [FENTANYL, "{not json" if fmt == "jsonl" else "", ROBINSON]
    if fmt == "jsonl":
        lines[0], lines[2] = (json.dumps({"question": q}) for q in (FENTANYL, ROBINSON))
    out = tmp_path / "answers.jsonl"
    args = ["batch", "-", "--input-format", fmt, "-o", str(out)]
    result = CliRunner().invoke(cli, args, env=cli_env, input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    assert [(a["id"], a["question"]) for a in read_jsonl(out)] == [(1, FENTANYL), (3, ROBINSON)]
    if fmt == "jsonl":
        assert "<stdin>:2: skipped: not valid JSON" in result.stderr
    resumed = CliRunner().invoke(cli, [*args, "--resume"], env=cli_env, input="\n".join(lines) + "\n")
    assert resumed.exit_code == 0, resumed.output
    assert "answered 0" in resumed.stderr and "2 already in" in resumed.stderr and len(read_jsonl(out)) == 2


def test_a_dash_without_an_input_format_is_a_usage_error(cli_env: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["batch", "-"], env=cli_env, input=f"{FENTANYL}\n")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.endswith("Error: FILE - (stdin) needs --input-format txt, jsonl or csv\n")


def test_a_csv_file_without_a_question_column_is_a_clean_error(tmp_path: Path, cli_env: dict[str, str]) -> None:
    questions = tmp_path / "q.csv"
    questions.write_text("query\nWhat?\n", encoding="utf-8")
    result = run(cli_env, str(questions))
    assert result.exit_code == 1
    assert "'question'" in result.stderr and "Traceback" not in result.output


LOADING = "the model would load here"


@pytest.fixture()
def no_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    """`qa batch` fails where it would load the model (as `Error: RuntimeError: ...`, exit 1)."""

    def refuse(*_: Any) -> None:
        raise RuntimeError(LOADING)

    monkeypatch.setattr("qa.cli.open_service", refuse)


@pytest.mark.parametrize(
    "make, message",
    [(None, "Folder '{tmp}/nowhere' does not exist."), ("nowhere", "'{tmp}/nowhere' is not a folder.")],
    ids=["missing-folder", "folder-is-a-file"],
)
def test_an_output_it_cannot_write_is_a_usage_error_before_any_model_loads(
    tmp_path: Path, cli_env: dict[str, str], no_loading: None, make: str | None, message: str
) -> None:
    """`-o /nonexistent/dir/out.jsonl` failed after the model had loaded (seconds), with a bare
    `[Errno 2] No such file or directory`, exit 1."""
    if make:
        (tmp_path / make).write_text("", encoding="utf-8")
    questions = tmp_path / "q.txt"
    questions.write_text(f"{FENTANYL}\n", encoding="utf-8")
    result = run(cli_env, str(questions), "-o", str(tmp_path / "nowhere" / "answers.jsonl"))
    assert (result.exit_code, result.stdout) == (2, ""), result.stderr
    assert result.stderr.startswith("Usage: qa batch")
    assert result.stderr.endswith(f"\nError: Invalid value for '-o' / '--output': {message.format(tmp=tmp_path)}\n")


@pytest.mark.parametrize("name", ["q.xml", "q.md", "questions"])
def test_a_file_of_a_kind_it_cannot_read_is_a_usage_error_before_any_model_loads(
    tmp_path: Path, cli_env: dict[str, str], no_loading: None, name: str
) -> None:
    """`qa batch q.xml` was `Error: ... unknown input format` with exit 1, as a file's bad content
    is, where naming a file of a kind it does not read is misusing the command (exit 2, as
    `--input-format xml` is). `--input-format` still reads it."""
    questions = tmp_path / name
    questions.write_text(f"{FENTANYL}\n", encoding="utf-8")
    result = run(cli_env, str(questions))
    assert (result.exit_code, result.stdout) == (2, ""), result.stderr
    assert result.stderr.startswith("Usage: qa batch")
    assert result.stderr.endswith(
        f"\nError: Invalid value for 'FILE': {questions}: unknown input format; use .txt, .jsonl, .csv, "
        "or name one with --input-format\n"
    )
    named = run(cli_env, str(questions), "--input-format", "txt")
    assert named.exit_code == 1 and LOADING in named.stderr, named.stderr


def test_resume_needs_an_output_file(tmp_path: Path, cli_env: dict[str, str]) -> None:
    questions = tmp_path / "q.txt"
    questions.write_text(FENTANYL + "\n", encoding="utf-8")
    result = run(cli_env, str(questions), "--resume")
    assert result.exit_code == 2
    assert "--resume needs -o/--output" in result.stderr


@pytest.mark.parametrize("resume", [[], ["--resume"]], ids=["write", "resume"])
def test_answers_are_never_written_over_the_questions(
    tmp_path: Path, cli_env: dict[str, str], resume: list[str]
) -> None:
    """`qa batch questions.jsonl -o questions.jsonl` replaced the questions with their answers (and
    `--resume` took every question for answered): the file a user typed twice was lost."""
    questions = tmp_path / "questions.jsonl"
    content = json.dumps({"id": "k", "question": FENTANYL}) + "\n"
    questions.write_text(content, encoding="utf-8")
    result = run(cli_env, str(questions), "-o", str(tmp_path / "." / "questions.jsonl"), *resume)
    assert result.exit_code == 2
    assert "-o/--output names FILE itself" in result.stderr and "Traceback" not in result.output
    assert questions.read_text(encoding="utf-8") == content


def test_resume_skips_ids_already_answered_after_a_killed_run(tmp_path: Path, cli_env: dict[str, str]) -> None:
    questions = tmp_path / "q.txt"
    questions.write_text(f"{FENTANYL}\n{ROBINSON}\n", encoding="utf-8")
    out = tmp_path / "answers.jsonl"
    assert run(cli_env, str(questions), "-o", str(out)).exit_code == 0
    first_run = out.read_text(encoding="utf-8")
    # The run was killed while writing a third answer; the file grew since.
    with out.open("a", encoding="utf-8") as handle:
        handle.write('{"id": 3, "question": "What about Ti')
    questions.write_text(f"{FENTANYL}\n{ROBINSON}\nWhat about Tibet?\n{FOLLOW_UP}\n", encoding="utf-8")

    result = run(cli_env, str(questions), "-o", str(out), "--resume")
    assert result.exit_code == 0, result.output
    assert "answered 2, skipped 0 bad lines, 2 already in" in result.stderr
    text = out.read_text(encoding="utf-8")
    assert text.startswith(first_run)
    assert [a["id"] for a in read_jsonl(out)] == [1, 2, 3, 4]

    again = run(cli_env, str(questions), "-o", str(out), "--resume")
    assert "answered 0" in again.stderr and out.read_text(encoding="utf-8") == text


def test_resume_csv_appends_rows_under_one_header(tmp_path: Path, cli_env: dict[str, str]) -> None:
    questions = tmp_path / "q.csv"
    questions.write_text(f"id,question\na,{FENTANYL}\n", encoding="utf-8")
    out = tmp_path / "answers.csv"
    assert run(cli_env, str(questions), "-o", str(out)).exit_code == 0
    questions.write_text(f"id,question\na,{FENTANYL}\nb,{ROBINSON}\n", encoding="utf-8")
    result = run(cli_env, str(questions), "-o", str(out), "--resume")
    assert result.exit_code == 0, result.output
    assert "answered 1" in result.stderr
    with out.open(encoding="utf-8", newline="") as handle:
        assert [row["id"] for row in csv.DictReader(handle)] == ["a", "b"]
    assert out.read_text(encoding="utf-8").count("id,question,") == 1


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("name, fmt", [("answers.csv", "jsonl"), ("answers.jsonl", "csv")])
def test_resume_adds_to_the_output_in_the_format_it_holds(
    tmp_path: Path, cli_env: dict[str, str], name: str, fmt: str
) -> None:
    """`--resume` after `--format jsonl -o answers.csv` took the .csv name for the format: it found
    "0 already in" the JSON lines, answered everything again and appended header-less CSV rows."""
    questions = tmp_path / "q.txt"
    questions.write_text(f"{FENTANYL}\n", encoding="utf-8")
    out = tmp_path / name
    assert run(cli_env, str(questions), "-o", str(out), "--format", fmt).exit_code == 0
    questions.write_text(f"{FENTANYL}\n{ROBINSON}\n", encoding="utf-8")
    held = "JSON lines" if fmt == "jsonl" else "CSV"
    result = run(cli_env, str(questions), "-o", str(out), "--resume")  # the format it holds, not named
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith(f"{out} holds answers as {held}: adding to it as {held} (--format {fmt})\n")
    assert result.stderr.endswith(f"answered 1, skipped 0 bad lines, 1 already in {out}\n")
    again = run(cli_env, str(questions), "-o", str(out), "--resume", "--format", fmt)  # named: no note
    assert again.exit_code == 0 and again.stderr.startswith("answering"), again.output
    assert again.stderr.endswith(f"answered 0, skipped 0 bad lines, 2 already in {out}\n")
    if fmt == "jsonl":
        assert [(a["id"], a["question"]) for a in read_jsonl(out)] == [(1, FENTANYL), (2, ROBINSON)]
    else:
        assert [(row["id"], row["question"]) for row in read_csv(out)] == [("1", FENTANYL), ("2", ROBINSON)]
        assert out.read_text(encoding="utf-8").count("id,question,") == 1


def test_resume_with_a_format_other_than_the_output_holds_is_a_usage_error(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    questions = tmp_path / "q.txt"
    questions.write_text(f"{FENTANYL}\n", encoding="utf-8")
    out = tmp_path / "answers.csv"
    assert run(cli_env, str(questions), "-o", str(out), "--format", "jsonl").exit_code == 0
    written = out.read_bytes()
    result = run(cli_env, str(questions), "-o", str(out), "--resume", "--format", "csv")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.endswith(
        f"Error: --resume: {out} holds answers as JSON lines, not CSV: "
        "pass --format jsonl to add to it, or write --format csv to another -o/--output\n"
    )
    assert out.read_bytes() == written


@pytest.mark.parametrize(
    "content, holds",
    [
        (
            "my notes\n",
            "holds no answers of qa batch (its first line is neither a JSON object nor a CSV header): "
            "write to another -o/--output, or drop --resume to write over it",
        ),
        (
            'id,question,answer,answerable,confidence,citations\r\n1,Why?,Because.,true,0.9,"[]"\r\n',
            "holds CSV answers with the columns id,question,answer,answerable,confidence,citations, not the "
            "id,question,answer,answerable,confidence,citations,short_answer written now: write to another -o/--output",
        ),
    ],
    ids=["not-answers", "older-csv-columns"],
)
def test_resume_into_a_file_that_holds_other_content_is_a_usage_error(
    tmp_path: Path, cli_env: dict[str, str], content: str, holds: str
) -> None:
    """Answers appended to a file that holds something else (notes, or CSV with other columns, as
    before the short_answer column) would corrupt it; it is left as it was."""
    questions = tmp_path / "q.txt"
    questions.write_text(f"{FENTANYL}\n", encoding="utf-8")
    out = tmp_path / "answers.csv"
    out.write_bytes(content.encode())
    result = run(cli_env, str(questions), "-o", str(out), "--resume")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.endswith(f"Error: --resume: {out} {holds}\n")
    assert out.read_bytes() == content.encode()


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_a_question_scoped_to_an_unknown_article_is_skipped_not_written(
    tmp_path: Path, cli_env: dict[str, str], suffix: str
) -> None:
    """It is reported by its line number, as every other skipped line (it was named by its id,
    "questions.jsonl: question gone: skipped: ...", where --help promises its number)."""
    questions = tmp_path / "questions.jsonl"
    lines = [
        json.dumps({"id": "in", "question": FENTANYL, "doc_ids": ["blinken-wang-yi-talks"]}),
        "",
        "{not json",
        json.dumps({"id": "gone", "question": FENTANYL, "doc_ids": ["no-such-article"]}),
    ]
    questions.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / f"answers{suffix}"
    result = run(cli_env, str(questions), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert f"{questions}:3: skipped: not valid JSON" in result.stderr
    assert f"\n{questions}:4: skipped: The archive holds no document with the id 'no-such-article'.\n" in result.stderr
    assert "question gone" not in result.stderr and "answered 1, skipped 2 bad lines" in result.stderr
    if suffix == ".csv":
        with out.open(encoding="utf-8", newline="") as handle:
            assert [row["id"] for row in csv.DictReader(handle)] == ["in"]
    else:
        assert [row["id"] for row in read_jsonl(out)] == ["in"], "a refused question is retried by --resume"


@pytest.mark.parametrize(
    "name, content, why",
    [
        ("bad.jsonl", b'{"question": "x"\n', "skipped 1 bad line of {path}"),
        ("bad.txt", b"What about Tib\xffet?\n\xff\n", "skipped 2 bad lines of {path}"),
        ("blank.txt", b"\n   \n", "{path} holds none"),
        (
            "scoped.jsonl",
            json.dumps({"question": FENTANYL, "doc_ids": ["nope"]}).encode() + b"\n",
            "skipped 1 bad line of {path}",
        ),
    ],
    ids=["not-json", "not-utf8", "empty", "unknown-doc-id"],
)
def test_a_run_that_answers_no_question_is_an_error(
    tmp_path: Path, cli_env: dict[str, str], name: str, content: bytes, why: str
) -> None:
    """It printed "answered 0, skipped 1 bad lines" and exited 0, where `qa ingest` with no valid
    article exits 1: a script could not tell a run that answered nothing from one that worked."""
    questions = tmp_path / name
    questions.write_bytes(content)
    out = tmp_path / "answers.jsonl"
    result = run(cli_env, str(questions), "-o", str(out))
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr.splitlines()[-1] == f"Error: no question could be answered: {why.format(path=questions)}"
    assert "answered 0" not in result.stderr and "Traceback" not in result.stderr
    if name != "scoped.jsonl":  # known bad before the archive is read: no model loads, nothing is written
        assert "answering" not in result.stderr and not out.exists()
