"""The `qa` command line, run in-process with click's runner against the session's real index
(commands that write get a private copy of it)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from qa.cli import cli
from qa.config import Settings
from tests.conftest import FENTANYL_QUESTION, SEED_ID, SEED_TEXT, assert_valid_answer, run_qa


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
    completed = subprocess.run([sys.executable, "-c", HELP_IMPORTS], capture_output=True, text=True, timeout=60,
                               check=True)
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
    result = run(cli_env, "ask", question, "--history", "What human rights concerns did Blinken raise?",
                 "--top-k", "1", "--json")
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


@pytest.mark.parametrize("question", ["", "   "])
def test_ask_with_an_empty_question_is_a_usage_error(cli_env: dict[str, str], question: str) -> None:
    result = run(cli_env, "ask", question)
    assert result.exit_code == 2
    assert "Invalid value for QUESTION: the question is empty" in result.output


@pytest.mark.parametrize("top_k", ["0", "21", "three"])
def test_ask_with_top_k_out_of_range_is_a_usage_error(cli_env: dict[str, str], top_k: str) -> None:
    result = run(cli_env, "ask", FENTANYL_QUESTION, "--top-k", top_k)
    assert result.exit_code == 2
    assert "Invalid value for '--top-k'" in result.output


def test_ask_without_seeds_is_a_clean_error(cli_env: dict[str, str], tmp_path: Path) -> None:
    result = run({**cli_env, "QA_SEEDS_DIR": str(tmp_path / "missing")}, "ask", FENTANYL_QUESTION)
    assert result.exit_code == 1
    assert result.output == f"Error: could not load the index: seed directory {tmp_path / 'missing'} does not exist\n"


def test_a_bad_setting_is_a_usage_error_naming_the_variable(cli_env: dict[str, str]) -> None:
    result = run({**cli_env, "QA_WORKERS": "0"}, "ask", FENTANYL_QUESTION)
    assert result.exit_code == 2
    assert "Error: QA_WORKERS must be at least 1, not 0" in result.output


# --- index ----------------------------------------------------------------------------------


@pytest.fixture()
def index_copy(settings: Settings, service: Any, tmp_path: Path) -> dict[str, str]:
    """Environment for commands that write: a private copy of the session's (built) index."""
    shutil.copytree(settings.index_dir, tmp_path / "index")
    return {"QA_SEEDS_DIR": str(settings.seeds_dir), "QA_INDEX_DIR": str(tmp_path / "index")}


def current(env: dict[str, str]) -> str:
    return (Path(env["QA_INDEX_DIR"]) / "CURRENT").read_text(encoding="utf-8").strip()


def test_index_keeps_an_up_to_date_generation_and_force_rebuilds(index_copy: dict[str, str]) -> None:
    before = current(index_copy)
    result = run(index_copy, "index")
    assert result.exit_code == 0, result.output
    assert current(index_copy) == before
    assert f"index {before}: 1 documents, 30 sentences, 15 chunks in {index_copy['QA_INDEX_DIR']}" in result.stderr

    forced = run(index_copy, "index", "--force")
    assert forced.exit_code == 0, forced.output
    rebuilt = current(index_copy)
    assert rebuilt != before
    assert f"index {rebuilt}: 1 documents, 30 sentences, 15 chunks" in forced.stderr
    generations = sorted(p.name for p in (Path(index_copy["QA_INDEX_DIR"]) / "generations").iterdir())
    assert generations == sorted([before, rebuilt]), "the previous generation is kept for readers still on it"


def test_index_with_bad_seeds_is_a_clean_error(index_copy: dict[str, str], tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "a.txt").write_text("One.", encoding="utf-8")
    (seeds / "a.json").write_text("{not json", encoding="utf-8")
    before = current(index_copy)
    result = run({**index_copy, "QA_SEEDS_DIR": str(seeds)}, "index")
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {seeds / 'a.json'} is not valid JSON")
    assert current(index_copy) == before
