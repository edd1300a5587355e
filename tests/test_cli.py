"""The `qa` command line, run in-process with click's runner against the session's real index
(commands that write get a private copy of it)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result

from qa.cli import cli
from qa.config import Settings
from qa.schemas import MAX_QUESTION_CHARS
from tests.conftest import (
    FENTANYL_QUESTION,
    ROBINSON_QUESTION,
    ROOT,
    SEED_ID,
    SEED_TEXT,
    SEEDS,
    assert_valid_answer,
    run_qa,
)
from tests.servers import Client, free_port


def run(env: dict[str, str], *args: str) -> Result:
    return run_qa(env, *args)


# --- help -----------------------------------------------------------------------------------

OPTIONS = {
    "index": ["--seeds-dir", "--index-dir", "--force"],
    "ask": ["QUESTION", "--history", "--top-k", "--json", "--seeds-dir", "--index-dir"],
    "serve": ["--host", "--port", "--workers", "--seeds-dir", "--index-dir"],
}


def test_group_help_lists_the_commands_and_options() -> None:
    result = run({}, "--help")
    assert result.exit_code == 0
    assert result.output.startswith("Usage: qa [OPTIONS] COMMAND [ARGS]...")
    assert "Answer questions about news articles, citing exact character spans." in result.output
    for name in [*OPTIONS, "--verbose", "--version", "--help"]:
        assert name in result.output


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_command_has_help(command: str) -> None:
    result = run({}, command, "--help")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: qa {command} [OPTIONS]")
    for option in OPTIONS.get(command, []):
        assert option in result.output


HELP_IMPORTS = """
import json, sys
from click.testing import CliRunner
from qa.cli import cli
codes = [CliRunner().invoke(cli, [*command, "--help"]).exit_code for command in ([], *([c] for c in cli.commands))]
heavy = sorted(m for m in ("torch", "faiss", "sentence_transformers", "onnxruntime", "flask") if m in sys.modules)
print(json.dumps({"codes": codes, "heavy": heavy}))
"""


def test_help_does_not_import_the_heavy_libraries() -> None:
    completed = subprocess.run(
        [sys.executable, "-c", HELP_IMPORTS], capture_output=True, text=True, timeout=60, check=True
    )
    report = json.loads(completed.stdout)
    assert set(report["codes"]) == {0} and len(report["codes"]) == len(cli.commands) + 1
    assert report["heavy"] == []


# --- ask ------------------------------------------------------------------------------------


def test_ask_json_prints_the_api_response(cli_env: dict[str, str], client: Any) -> None:
    result = run(cli_env, "ask", FENTANYL_QUESTION, "--json")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    citations = assert_valid_answer(printed, FENTANYL_QUESTION)
    assert (citations[0]["start"], citations[0]["end"]) == (921, 1115)
    from_api = client.post("/v1/ask", json={"question": FENTANYL_QUESTION}).get_json()
    assert list(printed) == list(from_api), "same keys in the same order"
    assert {k: v for k, v in printed.items() if k != "took_ms"} == {k: v for k, v in from_api.items() if k != "took_ms"}


def test_ask_json_with_history_and_top_k(cli_env: dict[str, str]) -> None:
    question = "And what about Tibet?"
    result = run(
        cli_env, "ask", question, "--history", "What human rights concerns did Blinken raise?", "--top-k", "1", "--json"
    )
    assert result.exit_code == 0, result.output
    assert_valid_answer(json.loads(result.stdout), question, top_k=1)


def test_ask_prints_the_answer_and_one_line_per_citation(cli_env: dict[str, str]) -> None:
    result = run(cli_env, "ask", FENTANYL_QUESTION, "--top-k", "2")
    assert result.exit_code == 0, result.output
    answer, *lines = result.stdout.splitlines()
    assert answer.endswith("[1]") and 1 <= len(lines) <= 2
    first = re.fullmatch(rf"  \[1\] {SEED_ID} 921-1115 \(score -?\d+\.\d{{3}}\): (.*)", lines[0])
    assert first is not None and first.group(1) == SEED_TEXT[921:1115]
    for number, line in enumerate(lines, 1):
        match = re.fullmatch(rf"  \[{number}\] {SEED_ID} (\d+)-(\d+) \(score -?\d+\.\d{{3}}\): (.*)", line)
        assert match is not None and SEED_TEXT[int(match.group(1)) : int(match.group(2))] == match.group(3)


def test_ask_prints_a_short_answer_with_its_offsets(cli_env: dict[str, str]) -> None:
    """A fact question's short answer gets a line of its own, offsets included, so it can be
    checked like a citation (the answer text alone opened with its words and gave no offsets)."""
    result = run(cli_env, "ask", "How long did the talks last?", "--top-k", "1")
    assert result.exit_code == 0, result.output
    answer, short, citation = result.stdout.splitlines()
    assert answer.startswith("more than seven hours: ")
    assert short == f"  short answer: {SEED_ID} 284-305: more than seven hours"
    assert SEED_TEXT[284:305] == "more than seven hours" and citation.startswith("  [1] ")


@pytest.mark.parametrize("question", ["", "   "])
def test_ask_with_an_empty_question_is_a_usage_error(cli_env: dict[str, str], question: str) -> None:
    result = run(cli_env, "ask", question)
    assert result.exit_code == 2
    assert "Invalid value for QUESTION: the question is empty" in result.output


@pytest.mark.parametrize("args", [["-"], []])
def test_ask_reads_the_question_from_stdin_for_a_dash_or_none(cli_env: dict[str, str], args: list[str]) -> None:
    """`qa ask -` answered the question "-" and `echo ... | qa ask` was a usage error."""
    piped = CliRunner().invoke(cli, ["ask", *args, "--json"], env=cli_env, input=f"{FENTANYL_QUESTION}\n")
    assert piped.exit_code == 0, piped.output
    assert_valid_answer(json.loads(piped.stdout), FENTANYL_QUESTION)  # the trailing newline is not asked


def test_ask_with_no_question_on_a_terminal_still_asks_for_one(tmp_path: Path) -> None:
    """Only a piped stdin stands in for QUESTION: on a terminal it would wait for typing unasked."""
    import pty

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    controller, terminal = pty.openpty()
    try:
        command = [sys.executable, "-m", "qa", "ask"]
        asked = subprocess.run(
            command, stdin=terminal, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60
        )
    finally:
        os.close(terminal)
        os.close(controller)
    assert asked.returncode == 2 and asked.stderr.endswith("Error: Missing argument QUESTION.\n")


@pytest.mark.parametrize("args", [["-"], []])
@pytest.mark.parametrize("piped", ["", " \n\n"])
def test_ask_with_an_empty_stdin_is_the_empty_question_error(
    cli_env: dict[str, str], args: list[str], piped: str
) -> None:
    result = CliRunner().invoke(cli, ["ask", *args], env=cli_env, input=piped)
    assert result.exit_code == 2
    assert "Invalid value for QUESTION: the question is empty" in result.output


def test_ask_with_a_question_on_stdin_that_is_not_utf8_is_a_usage_error(cli_env: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["ask", "-"], env=cli_env, input=b"Who is Roger Robinson\xe9?")
    assert result.exit_code == 2
    assert result.stderr.endswith("\nError: Invalid value for QUESTION: not valid UTF-8\n")


@pytest.mark.parametrize("top_k", ["0", "21", "three"])
def test_ask_with_top_k_out_of_range_is_a_usage_error(cli_env: dict[str, str], top_k: str) -> None:
    result = run(cli_env, "ask", FENTANYL_QUESTION, "--top-k", top_k)
    assert result.exit_code == 2
    assert "Invalid value for '--top-k'" in result.output


def assert_usage_error(result: Result, message: str) -> None:
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.endswith(f"\nError: {message}\n") and "Traceback" not in result.stderr


def test_ask_with_a_question_that_is_not_utf8_is_a_usage_error(cli_env: dict[str, str], tmp_path: Path) -> None:
    """A byte that is not UTF-8 in argv (Python keeps it as a lone surrogate) reached the tokenizer,
    whose TypeError was the error shown; a real process, so the byte goes through argv."""
    folders = ("--seeds-dir", cli_env["QA_SEEDS_DIR"], "--index-dir", cli_env["QA_INDEX_DIR"])
    asked = python_m_qa(tmp_path, "ask", "Who is Roger Robinson\udce9?", *folders)
    assert (asked.returncode, asked.stdout) == (2, "")
    assert asked.stderr.endswith("\nError: Invalid value for QUESTION: not valid UTF-8\n")


def test_ask_with_a_question_longer_than_the_api_takes_is_a_usage_error(cli_env: dict[str, str], client: Any) -> None:
    """The command line answered a question `POST /v1/ask` refuses; now it refuses it with the API's words."""
    question = "x" * (MAX_QUESTION_CHARS + 1)
    refused = client.post("/v1/ask", json={"question": question})
    assert refused.status_code == 400
    (message,) = refused.get_json()["error"]["fields"]["question"]
    assert_usage_error(run(cli_env, "ask", question), f"Invalid value for QUESTION: {message}")


def test_ask_with_a_blank_history_item_is_a_usage_error(cli_env: dict[str, str], client: Any) -> None:
    """The command line answered with a blank history item, which `POST /v1/ask` refuses."""
    refused = client.post("/v1/ask", json={"question": FENTANYL_QUESTION, "history": [ROBINSON_QUESTION, ""]})
    assert refused.status_code == 400
    messages = " ".join(refused.get_json()["error"]["fields"]["history"]["1"])
    result = run(cli_env, "ask", FENTANYL_QUESTION, "--history", ROBINSON_QUESTION, "--history", "")
    assert_usage_error(result, f"Invalid value for '--history': item 2: {messages}")


def test_a_bad_setting_is_a_usage_error_naming_the_variable(cli_env: dict[str, str]) -> None:
    result = run({**cli_env, "QA_WORKERS": "0"}, "ask", FENTANYL_QUESTION)
    assert result.exit_code == 2
    assert "Error: QA_WORKERS must be at least 1, not 0" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["index"],
        ["ask", FENTANYL_QUESTION],
        ["batch", "questions.txt"],
        ["eval", "questions.txt"],
        ["ingest", "feed.jsonl"],
        ["delete", SEED_ID],
        ["merge"],
        ["serve", "--port", "1"],
    ],
    ids=lambda a: a[0],
)
def test_a_model_path_that_is_no_folder_is_one_line_naming_it_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    """A missing QA_MODEL_PATH was read as a hub repository id: an index build began, then failed
    with "Path ... not found" (or "Repo id must be ..."), naming no setting."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "questions.txt").write_text(FENTANYL_QUESTION + "\n", encoding="utf-8")
    (tmp_path / "feed.jsonl").write_text(json.dumps({"id": "a", "title": "A", "text": "Text."}) + "\n")
    env = {"QA_SEEDS_DIR": str(SEEDS), "QA_INDEX_DIR": str(tmp_path / "index"), "QA_MODEL_PATH": "no-model"}
    result = run(env, *args)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.endswith(
        f"\nError: QA_MODEL_PATH: no folder at {tmp_path / 'no-model'}; point it at a local sentence-transformers "
        "model folder, or unset it for the bundled model\n"
    )
    assert "Traceback" not in result.stderr and not (tmp_path / "index").exists()


# --- index ----------------------------------------------------------------------------------


@pytest.fixture()
def index_copy(settings: Settings, service: Any, tmp_path: Path) -> dict[str, str]:
    """Environment for commands that write: a private copy of the session's (built) index."""
    # Not the evaluation indexes other tests' `qa eval` runs keep beside it.
    shutil.copytree(settings.index_dir, tmp_path / "index", ignore=shutil.ignore_patterns("eval"))
    return {"QA_SEEDS_DIR": str(settings.seeds_dir), "QA_INDEX_DIR": str(tmp_path / "index")}


def current(env: dict[str, str]) -> str:
    return (Path(env["QA_INDEX_DIR"]) / "CURRENT").read_text(encoding="utf-8").strip()


def test_index_keeps_an_up_to_date_generation_and_force_rebuilds(index_copy: dict[str, str]) -> None:
    before = current(index_copy)
    result = run(index_copy, "index")
    assert result.exit_code == 0, result.output
    assert current(index_copy) == before
    assert result.stdout == f"index {before}: 1 document, 30 sentences, 15 chunks in {index_copy['QA_INDEX_DIR']}\n"

    forced = run(index_copy, "index", "--force")
    assert forced.exit_code == 0, forced.output
    rebuilt = current(index_copy)
    assert rebuilt != before
    assert f"index {rebuilt}: 1 document, 30 sentences, 15 chunks" in forced.stdout
    generations = sorted(p.name for p in (Path(index_copy["QA_INDEX_DIR"]) / "generations").iterdir())
    assert generations == sorted([before, rebuilt]), "the previous generation is kept for readers still on it"


def test_index_with_a_bad_metadata_record_builds_and_says_so(index_copy: dict[str, str], tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "a.txt").write_text("One harbour, one lighthouse.", encoding="utf-8")
    (seeds / "a.json").write_text("{not json", encoding="utf-8")
    new_archive = {"QA_INDEX_DIR": str(tmp_path / "new-index")}  # seeds are imported into an empty folder only
    result = run({**index_copy, "QA_SEEDS_DIR": str(seeds), **new_archive}, "index")
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith(
        "warning: a.json: not valid JSON (Expecting property name enclosed in double "
        "quotes: line 1 column 2 (char 1)); using the file name as id and title\n"
    )
    assert "1 document, 1 sentence, 1 chunk" in result.stdout


# --- outside the repository: where are the articles? ----------------------------------------

SEEDS_HINT = (
    "point --seeds-dir or QA_SEEDS_DIR at the folder of *.txt articles "
    "(and --index-dir or QA_INDEX_DIR at where the index goes)"
)


@pytest.fixture()
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory without a seeds folder, and no QA_* folders in the environment."""
    for name in ("QA_SEEDS_DIR", "QA_INDEX_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "questions.txt").write_text(FENTANYL_QUESTION + "\n", encoding="utf-8")
    (tmp_path / "questions.jsonl").write_text(
        json.dumps({"id": "q", "question": FENTANYL_QUESTION}) + "\n", encoding="utf-8"
    )
    return tmp_path


def missing_seeds_error(folder: Path) -> str:
    return f"Error: no seeds folder at {folder}: {SEEDS_HINT}\n"


@pytest.mark.parametrize(
    "args",
    [
        ["index"],
        ["ask", FENTANYL_QUESTION],
        ["batch", "questions.txt"],
        ["eval", "questions.jsonl"],
        ["serve", "--port", "1"],
    ],
    ids=lambda a: a[0],
)
def test_every_command_outside_the_repository_says_how_to_find_the_articles(elsewhere: Path, args: list[str]) -> None:
    result = run({}, *args)
    assert result.exit_code == 1
    assert result.stderr == missing_seeds_error(Path.cwd() / "seeds")
    assert result.stdout == ""
    assert not (elsewhere / "index").exists(), "nothing is written before the articles are found"


@pytest.mark.parametrize("args", [["delete", "x"], ["merge"]], ids=lambda a: a[0])
def test_writing_to_a_folder_without_an_index_says_so_and_creates_nothing(elsewhere: Path, args: list[str]) -> None:
    result = run({}, *args)
    assert result.exit_code == 1
    assert result.stderr == "Error: no index has been built in index\n"
    assert not (elsewhere / "index").exists()


@pytest.mark.parametrize(
    "args", [["q.csv"], ["q.csv", "--ray"], ["articles.parquet"], ["seeds", "q.csv"]], ids=" ".join
)
def test_ingest_refuses_a_file_it_cannot_read_before_reading_any(elsewhere: Path, args: list[str]) -> None:
    """Any other file was read as JSONL: a CSV became one "not JSON" line per row."""
    (elsewhere / "q.csv").write_text("id,title,text\nx,X,Some text.\n", encoding="utf-8")
    (elsewhere / "articles.parquet").write_bytes(b"PAR1")
    (elsewhere / "seeds").mkdir()
    result = run({}, "ingest", *args)
    assert result.exit_code == 1
    named = next(a for a in args if "." in a)
    assert result.stderr == f"Error: {named}: unknown input format; use a folder, .jsonl, or .parquet with --ray\n"
    assert not (elsewhere / "index").exists()


def test_a_seeds_dir_that_is_missing_is_named_as_given(elsewhere: Path) -> None:
    result = run({}, "ask", FENTANYL_QUESTION, "--seeds-dir", str(elsewhere / "nowhere"))
    assert result.exit_code == 1
    assert result.stderr == missing_seeds_error(elsewhere / "nowhere")


def blank_seeds(folder: Path) -> Path:
    """A seeds folder whose only article has no text: it has no article to import."""
    folder.mkdir()
    (folder / "blank.txt").write_text(" \n", encoding="utf-8")
    return folder


def no_articles_error(folder: Path) -> str:
    return (
        f"Error: no articles to import in {folder}: add NAME.txt files there, "
        "or publish some into the index folder with `qa ingest`\n"
    )


def test_a_seeds_folder_without_an_article_stops_before_building_in_one_line(tmp_path: Path) -> None:
    # It said "building the index ... from 0 articles..." and failed inside the build.
    env = {"QA_SEEDS_DIR": str(blank_seeds(tmp_path / "seeds")), "QA_INDEX_DIR": str(tmp_path / "index")}
    quiet = run(env, "index")
    assert quiet.exit_code == 1
    assert quiet.stderr == (
        "warning: blank.txt: no text, only whitespace; skipped\n" + no_articles_error(tmp_path / "seeds")
    )
    assert not (tmp_path / "index").exists()


@pytest.mark.parametrize("content", [None, " \n"], ids=["empty-folder", "blank-article"])
def test_serve_on_a_seeds_folder_without_an_article_stops_at_once(tmp_path: Path, content: str | None) -> None:
    # A server started on an empty seeds folder answered 503 to every request, publishing
    # included, and never recovered: an archive is made from at least one article.
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    if content is not None:
        (seeds / "blank.txt").write_text(content, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QA_SEEDS_DIR": str(seeds), "QA_INDEX_DIR": str(tmp_path / "index")}
    served = subprocess.run(
        [sys.executable, "-m", "qa", "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert served.returncode == 1 and served.stderr.endswith(no_articles_error(seeds)), served.stderr


def test_verbose_shows_a_failure_the_log_showed_with_its_traceback_once(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    """The service logs a failed load with its traceback; `qa -v` printed the same traceback again
    above its one-line error."""
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    env = {**cli_env, "QA_INDEX_DIR": str(tmp_path / "a-file" / "index")}
    verbose = run(env, "-v", "ask", FENTANYL_QUESTION)
    assert verbose.exit_code == 1
    assert "ERROR qa.service: could not load the index\nTraceback (most recent call last)" in verbose.stderr
    assert verbose.stderr.count("Traceback (most recent call last)") == 1
    assert verbose.stderr.endswith(
        f"Error: could not load the index: [Errno 20] Not a directory: '{tmp_path / 'a-file' / 'index'}'\n"
    )


@pytest.mark.parametrize("command", ["", *sorted(cli.commands)])
def test_help_works_from_any_folder(elsewhere: Path, command: str) -> None:
    result = run({}, *([command] if command else []), "--help")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: qa {command + ' ' if command else ''}[OPTIONS]")


def python_m_qa(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m qa ARGS` as a user runs it from `folder`, with no QA_* folders set."""
    env = {k: v for k, v in os.environ.items() if k not in ("QA_SEEDS_DIR", "QA_INDEX_DIR")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "qa", *args], cwd=folder, env=env, capture_output=True, text=True, timeout=120
    )


def test_python_m_qa_from_another_folder(tmp_path: Path) -> None:
    helped = python_m_qa(tmp_path, "--help")
    assert helped.returncode == 0 and helped.stdout.startswith("Usage: python -m qa [OPTIONS] COMMAND")
    failed = python_m_qa(tmp_path, "ask", FENTANYL_QUESTION)
    assert (failed.returncode, failed.stdout) == (1, "")
    assert failed.stderr == missing_seeds_error(tmp_path.resolve() / "seeds")
    blank_seeds(tmp_path / "blank")  # relative folders are taken from where qa runs
    blank = python_m_qa(tmp_path, "index", "--seeds-dir", "blank", "--index-dir", "blank-index")
    assert blank.returncode == 1
    assert blank.stderr.endswith(no_articles_error(tmp_path.resolve() / "blank"))


def test_an_unexpected_failure_is_one_line_and_its_traceback_needs_verbose(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    questions = tmp_path / "questions.txt"
    questions.write_text(FENTANYL_QUESTION + "\n", encoding="utf-8")
    out = tmp_path / "answers.jsonl"  # in a folder it can write, but a link to a folder that is not there
    out.symlink_to(tmp_path / "no-such-folder" / "answers.jsonl")
    result = run(cli_env, "batch", str(questions), "-o", str(out))
    assert result.exit_code == 1
    assert result.stderr.endswith(f"Error: [Errno 2] No such file or directory: '{out}'\n")
    assert "Traceback" not in result.stderr and not isinstance(result.exception, FileNotFoundError)
    verbose = run(cli_env, "-v", "batch", str(questions), "-o", str(out))
    assert verbose.exit_code == 1
    assert "Traceback (most recent call last)" in verbose.stderr and "FileNotFoundError" in verbose.stderr
    assert verbose.stderr.endswith(f"Error: [Errno 2] No such file or directory: '{out}'\n")


# --- a damaged or stale index is rebuilt, and the command says so first -------------------


def test_ask_on_a_damaged_archive_says_so_and_changes_nothing(index_copy: dict[str, str]) -> None:
    """A damaged archive may hold articles published since the seeds were imported: it is reported,
    never silently replaced by the seeds folder."""
    index_dir = Path(index_copy["QA_INDEX_DIR"])
    damaged = current(index_copy)
    (segment,) = json.loads((index_dir / "generations" / damaged / "manifest.json").read_text())["segments"]
    (index_dir / "segments" / segment["name"] / "sentences.npy").write_bytes(b"not a numpy file")
    result = run(index_copy, "ask", FENTANYL_QUESTION, "--json")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith(f"Error: could not load the index: the archive in {index_dir} cannot be read (")
    assert "nothing was changed" in result.stderr and "Traceback" not in result.stderr
    assert current(index_copy) == damaged


def test_ask_on_an_empty_index_folder_imports_the_seeds_with_a_progress_bar(
    index_copy: dict[str, str], tmp_path: Path
) -> None:
    empty = tmp_path / "empty-index"
    result = run({**index_copy, "QA_INDEX_DIR": str(empty)}, "ask", FENTANYL_QUESTION, "--json")
    assert result.exit_code == 0, result.output
    assert_valid_answer(json.loads(result.stdout), FENTANYL_QUESTION)
    notice, progress = result.stderr.split("\n", 1)
    assert notice == f"building the index in {empty} from 1 article...", notice
    assert "embedding" in progress and "30/30" in progress


def test_ask_on_a_stale_index_says_why_it_rebuilds(index_copy: dict[str, str]) -> None:
    result = run({**index_copy, "QA_MAX_SENTENCE_CHARS": "500"}, "ask", FENTANYL_QUESTION)
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith(
        f"the index in {index_copy['QA_INDEX_DIR']} cannot be used (the index was built "
        "with other settings or another model): rebuilding it from 1 article...\n"
    )


def test_ask_on_a_fresh_index_prints_nothing_on_stderr(index_copy: dict[str, str]) -> None:
    result = run(index_copy, "ask", FENTANYL_QUESTION)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""


# --- eval keeps its own index ----------------------------------------------------------------


def test_eval_of_other_seeds_leaves_the_service_index_untouched(index_copy: dict[str, str], tmp_path: Path) -> None:
    seeds = tmp_path / "other-seeds"
    shutil.copytree(SEEDS, seeds)
    (seeds / "harbour.txt").write_text("The Kelmouth lighthouse was lit by Agnes Whitlow in 1874.", encoding="utf-8")
    questions = tmp_path / "questions.jsonl"
    gold = {"text": SEED_TEXT[921:1115], "start": 921, "end": 1115}
    questions.write_text(
        json.dumps({"id": "f", "question": FENTANYL_QUESTION, "gold": [gold]}) + "\n", encoding="utf-8"
    )
    index_dir = Path(index_copy["QA_INDEX_DIR"])
    before = (current(index_copy), sorted(p.name for p in (index_dir / "generations").iterdir()))

    result = run(index_copy, "eval", str(questions), "--seeds-dir", str(seeds), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["hit_at_1"] == 1.0
    assert (current(index_copy), sorted(p.name for p in (index_dir / "generations").iterdir())) == before
    [own] = (index_dir / "eval").iterdir()
    assert own.name.startswith("other-seeds-") and (own / "CURRENT").is_file()

    again = run(index_copy, "eval", str(questions), "--seeds-dir", str(seeds), "--json")
    assert again.exit_code == 0 and "rebuilding" not in again.stderr, "a second run reuses the eval index"


def test_ingest_reads_the_first_article_of_a_jsonl_file_saved_with_a_byte_order_mark(
    index_copy: dict[str, str], tmp_path: Path
) -> None:
    """Its first line was "not JSON" and skipped."""
    feed = tmp_path / "feed.jsonl"
    article = {"id": "bom-first", "title": "Bridge", "text": "The bridge reopened on Monday."}
    feed.write_bytes(b"\xef\xbb\xbf" + json.dumps(article).encode() + b"\n")
    result = run(index_copy, "ingest", str(feed), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["published"] == 1 and "not JSON" not in result.stderr


# Files named with no letter or digit an id can hold, each answering one question.
NAMELESS = {
    "日本": ("The Osaka ferry sails at dawn with 300 passengers.", "When does the Osaka ferry sail?"),
    "中国": ("The Harbin ice festival opens in January with 2,000 sculptures.", "When does the ice festival open?"),
    "!!!": ("The Kelmouth lighthouse was repainted red last summer.", "What colour is the lighthouse?"),
}


def test_ingest_gives_files_named_with_no_id_characters_an_id_each(index_copy: dict[str, str], tmp_path: Path) -> None:
    """Each of these names became the id "-": the first was published and the others were
    skipped as repeating its id (with --ray, each replaced the one before)."""
    folder = tmp_path / "wire"
    folder.mkdir()
    for name, (text, _) in NAMELESS.items():
        (folder / f"{name}.txt").write_text(text + "\n", encoding="utf-8")
    result = run(index_copy, "ingest", str(folder), "--json")
    assert result.exit_code == 0, result.output
    assert (json.loads(result.stdout)["created"], result.stderr.count("already used")) == (3, 0)
    cited = {}
    for name, (text, question) in NAMELESS.items():
        answer = run(index_copy, "ask", question, "--top-k", "1", "--json")
        assert answer.exit_code == 0, answer.output
        (citation,) = json.loads(answer.stdout)["citations"]
        assert (citation["quote"], citation["title"]) == (text, name)
        cited[name] = citation["doc_id"]
    assert len(set(cited.values())) == 3


def on_a_terminal(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """`python -m qa ARGS` with stderr on a pseudo-terminal, where click draws its progress bar
    (elsewhere it prints the label alone): exit code, stdout, and the bar as last drawn."""
    import pty

    leader, follower = pty.openpty()
    environment = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "qa", *args], env=environment, stdout=subprocess.PIPE, stderr=follower, text=True
    )
    os.close(follower)
    drawn = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        drawn += chunk
    os.close(leader)
    stdout, _ = process.communicate(timeout=120)
    frames = re.sub(r"\x1b\[\?25[lh]", "", drawn.decode("utf-8", "replace")).split("\r")
    return process.returncode, stdout, next(f.strip() for f in reversed(frames) if "[" in f)


def test_ingest_progress_counts_every_line_read_and_says_so(index_copy: dict[str, str], tmp_path: Path) -> None:
    """The bar's length counted every line, invalid ones too, but it moved by articles only and
    called them "publishing": a feed with invalid lines ended short of its length."""
    article = {"title": "Bridge", "text": "The bridge reopened on Monday.", "metadata": {}}
    lines = [
        json.dumps({"id": "first", **article}),
        "not json",
        json.dumps({"id": "bad id!", **article}),
        json.dumps({"id": "second", **article}),
        "",
        json.dumps({"id": "no-text", "title": "Nothing"}),
    ]
    feed = tmp_path / "feed.jsonl"
    feed.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, stdout, bar = on_a_terminal(index_copy, "ingest", str(feed), "--batch-size", "1", "--json")
    assert code == 0, bar
    summary = json.loads(stdout)
    assert (summary["published"], summary["unchanged"], summary["invalid"]) == (2, 0, 3)
    assert re.fullmatch(r"publishing \(lines read\)  \[#+\]  5/5", bar), bar


# Lines no article can be published from, and what is wrong with each, in the words `qa batch` uses.
INVALID_ARTICLES = [
    (json.dumps({"id": "no-text", "title": "Nothing"}), "text: Missing data for required field."),
    (json.dumps({"id": "m", "title": "M", "text": "Text.", "metadata": {"url": 3}}), "metadata.url: Must be a string."),
    ("[1]", "Must be a JSON object."),
]


@pytest.fixture()
def invalid_feed(tmp_path: Path) -> Path:
    feed = tmp_path / "in.jsonl"
    feed.write_text("\n".join(line for line, _ in INVALID_ARTICLES) + "\n", encoding="utf-8")
    return feed


def test_ingest_says_what_is_wrong_with_an_article_in_words(invalid_feed: Path, tmp_path: Path) -> None:
    """It printed marshmallow's messages as JSON, `in.jsonl:1: {"text": ["Missing data for required
    field."]}; skipped`, where `qa batch` says `text: Missing data for required field.`; so did
    `--ray`'s workers."""
    from qa.backfill import SplitAndEmbed

    result = run({"QA_INDEX_DIR": str(tmp_path / "index")}, "ingest", str(invalid_feed))
    assert result.exit_code == 1
    for number, (_, problem) in enumerate(INVALID_ARTICLES, 1):
        assert f"{invalid_feed}:{number}: {problem}; skipped\n" in result.stderr
    worker = SplitAndEmbed.__new__(SplitAndEmbed)  # its checks alone: no Ray, no model
    worker.max_chars, worker.max_sentence_chars, worker.committed = 1000, 600, {}
    lines = [line for line, _ in INVALID_ARTICLES]
    rows = worker({"path": np.array([str(invalid_feed)] * len(lines), dtype=object), "line": np.array(lines)})
    for note, (_, problem) in zip(rows["note"], INVALID_ARTICLES, strict=True):
        assert note.endswith(f": {problem}; skipped"), note


def test_ingest_json_with_no_valid_article_still_prints_its_summary(invalid_feed: Path, tmp_path: Path) -> None:
    """It printed nothing on stdout, so `qa ingest feed.jsonl --json | jq .invalid` had no input."""
    result = run({"QA_INDEX_DIR": str(tmp_path / "index")}, "ingest", str(invalid_feed), "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {
        "published": 0,
        "created": 0,
        "replaced": 0,
        "unchanged": 0,
        "invalid": len(INVALID_ARTICLES),
        "generation": "",
    }
    assert result.stderr.endswith("\nError: no valid article to publish\n")
    assert not (tmp_path / "index").exists()


def test_eval_of_the_service_seeds_keeps_the_articles_published_since(
    index_copy: dict[str, str], tmp_path: Path
) -> None:
    """Seed questions asked of the service's own seeds folder: the archive also holds an article
    published since, and `qa eval` rebuilt the archive from the seeds alone, deleting it."""
    article = {
        "id": "flood-barrier",
        "title": "Flood barrier",
        "text": "The council approved a flood barrier. The barrier will cost 12 million dollars.",
    }
    published = tmp_path / "new.jsonl"
    published.write_text(json.dumps(article) + "\n", encoding="utf-8")
    assert run(index_copy, "ingest", str(published)).exit_code == 0
    before = current(index_copy)
    questions = tmp_path / "questions.jsonl"
    gold = {"text": SEED_TEXT[921:1115], "start": 921, "end": 1115}
    questions.write_text(
        json.dumps({"id": "f", "question": FENTANYL_QUESTION, "gold": [gold]}) + "\n", encoding="utf-8"
    )

    result = run(index_copy, "eval", str(questions), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["hit_at_1"] == 1.0
    assert current(index_copy) == before
    answer = json.loads(run(index_copy, "ask", "How much will the flood barrier cost?", "--json").stdout)
    assert answer["citations"][0]["doc_id"] == "flood-barrier"
    [own] = (Path(index_copy["QA_INDEX_DIR"]) / "eval").iterdir()
    assert own.name.startswith(f"{Path(index_copy['QA_SEEDS_DIR']).name}-")


@pytest.mark.slow
def test_serve_logs_why_its_background_load_failed_with_the_traceback(tmp_path: Path) -> None:
    """`qa serve` loads after it starts listening: its log, not an Error line, is where a failure shows."""
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    index_dir = tmp_path / "a-file" / "index"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QA_SEEDS_DIR": str(SEEDS), "QA_INDEX_DIR": str(index_dir)}
    port = free_port()
    with (tmp_path / "stderr.txt").open("w") as stderr:
        server = subprocess.Popen(
            [sys.executable, "-m", "qa", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            client, deadline = Client(f"http://127.0.0.1:{port}", timeout=5), time.monotonic() + 120
            status, body = 0, b""
            while time.monotonic() < deadline and b"could not be loaded" not in body:
                time.sleep(0.2)
                try:
                    status, body = client.request("GET", "/readyz")
                except OSError:
                    continue
            assert status == 503 and b"could not be loaded" in body
        finally:
            server.terminate()
            server.wait(timeout=30)
    log = (tmp_path / "stderr.txt").read_text(encoding="utf-8")
    assert "ERROR qa.service: could not load the index\nTraceback (most recent call last)" in log
    assert "NotADirectoryError: [Errno 20] Not a directory" in log


def test_what_a_writing_command_did_is_its_stdout(index_copy: dict[str, str], tmp_path: Path) -> None:
    """`qa ingest`, `delete`, `merge` and `index --verify` said what they did on stderr only, so
    `generation=$(qa delete x)` caught nothing, against the README's "stdout is the result"."""
    article = {"id": "ferry", "title": "Ferry", "text": "The ferry service starts in April."}
    feed = tmp_path / "feed.jsonl"
    feed.write_text(json.dumps(article) + "\n", encoding="utf-8")
    ingested = run(index_copy, "ingest", str(feed))
    published = current(index_copy)
    assert ingested.stdout == (
        f"1 article published (1 new, 0 replaced; 0 unchanged and 0 invalid skipped) in generation {published}\n"
    )
    merged = run(index_copy, "merge")
    assert merged.stdout == "nothing to merge: 2 segments\n"  # small segments wait for more
    deleted = run(index_copy, "delete", "ferry")
    assert deleted.stdout == f"deleted 1 article; generation {current(index_copy)}\n"
    verified = run(index_copy, "index", "--verify")
    assert verified.stdout == f"index {current(index_copy)}: every file matches its manifest\n"
