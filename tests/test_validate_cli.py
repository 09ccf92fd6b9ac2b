"""`gritkit validate`: the human and --json contracts, exit codes, stdin, bad lines."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from gritkit.cli import main

GOOD = "<think>the cat (10, 20, 30, 40)</think><rethink>ok</rethink><answer>1"
BAD = "<think>truncated {\"bbox_2d\": [1, 2, 3, 4], \"label\": \"cup\"}"
KEYS = {"record", "ok", "boxes", "sections", "answer", "error", "warnings"}


def run(argv, capsys, stdin: str | None = None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode())))
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def jsonl(tmp_path):
    p = tmp_path / "outs.jsonl"
    lines = [json.dumps({"output": GOOD}), "this is not json", json.dumps({"text": GOOD}),
             json.dumps({"output": BAD}), json.dumps({"output": 7}), ""]
    p.write_text("\n".join(lines[:-1]) + "\n\n" + json.dumps({"output": GOOD}) + "\n")
    return p


def test_json_contract_one_object_per_record_in_order(jsonl, capsys):
    code, out, _ = run(["validate", "--json", str(jsonl)], capsys)
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 1
    assert [r["record"] for r in rows] == list(range(7))
    assert all(set(r) == KEYS for r in rows)
    assert [r["ok"] for r in rows] == [True, False, False, False, False, False, True]
    good = rows[0]
    assert good["boxes"] == [{"coords": [10, 20, 30, 40], "label": None, "section": "think",
                              "syntax": "tuple", "start": 15, "end": 31}]
    assert [s["kind"] for s in good["sections"]] == ["think", "rethink", "answer"]
    assert good["answer"] == "1" and good["error"] is None and good["warnings"] == []
    assert "not valid JSON" in rows[1]["error"]["message"]
    assert "no field 'output'" in rows[2]["error"]["message"]
    bad = rows[3]
    assert bad["boxes"][0]["label"] == "cup" and bad["boxes"][0]["syntax"] == "json"
    assert bad["error"]["line"] == 1 and bad["error"]["column"] == len(BAD) + 1
    assert bad["error"]["expected"] == ["</think>"]
    assert {w["code"] for w in bad["warnings"]} == {"unclosed_section", "missing_section"}
    assert "expected a string" in rows[4]["error"]["message"]
    assert "blank line" in rows[5]["error"]["message"]


def test_field_option(tmp_path, capsys):
    p = tmp_path / "x.jsonl"
    p.write_text(json.dumps({"completion": GOOD}) + "\n")
    code, out, _ = run(["validate", "--field", "completion", str(p)], capsys)
    assert code == 0 and out.strip() == "1 valid, 0 invalid"


def test_human_output_names_path_record_line_column(jsonl, capsys):
    code, out, _ = run(["validate", str(jsonl)], capsys)
    assert code == 1
    # FILE:LINE names the record by its 1-based line in the file (record index 3 is line 4),
    # then the position inside the output
    assert f"{jsonl}:4: line 1, column {len(BAD) + 1}: The <think> section" in out
    assert "^" in out
    assert out.strip().endswith("2 valid, 5 invalid")


def test_txt_file_and_stdin(tmp_path, capsys, monkeypatch):
    p = tmp_path / "one.txt"
    p.write_text(GOOD)
    assert run(["validate", str(p)], capsys)[0] == 0
    code, out, _ = run(["validate", "--json", "-"], capsys, stdin=GOOD, monkeypatch=monkeypatch)
    assert code == 0 and json.loads(out)["boxes"][0]["coords"] == [10, 20, 30, 40]
    code, out, _ = run(["validate", "-"], capsys, stdin=json.dumps({"output": BAD}) + "\n",
                       monkeypatch=monkeypatch)
    assert code == 1 and "0 valid, 1 invalid" in out


def test_grammar_and_tag_options(tmp_path, capsys):
    p = tmp_path / "r1.txt"
    p.write_text("<thinking>a</thinking><answer>b</answer>")
    assert run(["validate", str(p)], capsys)[0] == 1
    assert run(["validate", "--grammar", "r1", "--tag", "think=thinking", str(p)], capsys)[0] == 0
    assert run(["validate", "--grammar", "r1[think=thinking]", str(p)], capsys)[0] == 0


@pytest.mark.parametrize("argv, message", [
    (["validate", "missing.jsonl"], "No such file"),
    (["validate", "--grammar", "nope", "x.txt"], "Unknown grammar 'nope'"),
])
def test_usage_errors_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.txt").write_text(GOOD)
    code, _, err = run(argv, capsys)
    assert code == 2 and message in err


def test_unknown_extension_is_a_usage_error(tmp_path, capsys):
    p = tmp_path / "data.csv"
    p.write_text(GOOD)
    code, _, err = run(["validate", str(p)], capsys)
    assert code == 2 and "--format" in err
    assert run(["validate", "--format", "txt", str(p)], capsys)[0] == 0


def test_console_script_runs():
    proc = subprocess.run([sys.executable, "-m", "gritkit.cli", "validate", "--help"], capture_output=True,
                          text=True)
    assert proc.returncode == 0 and "--json" in proc.stdout


def test_every_syntax_counted_right_on_real_world_outputs(tmp_path, capsys):
    from test_grammar import BOX_CASES

    p = tmp_path / "all.jsonl"
    p.write_text("".join(json.dumps({"output": c.values[0]}) + "\n" for c in BOX_CASES))
    _, out, _ = run(["validate", "--json", str(p)], capsys)
    rows = [json.loads(line) for line in out.splitlines()]
    assert [len(r["boxes"]) for r in rows] == [len(c.values[1]) for c in BOX_CASES]
    assert [[b["coords"] for b in r["boxes"]] for r in rows] == [
        [list(b[0]) for b in c.values[1]] for c in BOX_CASES]


def test_progress_bar_on_a_terminal_for_large_files(tmp_path, capsys, monkeypatch):
    import contextlib

    import gritkit.commands._progress as progress
    import gritkit.commands.validate as validate_cmd

    p = tmp_path / "many.jsonl"
    p.write_text((json.dumps({"output": GOOD}) + "\n") * 30)
    monkeypatch.setattr(validate_cmd, "PROGRESS_MIN_BYTES", 0)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    calls = []

    @contextlib.contextmanager
    def spy(total, description, *, enabled=None):
        calls.append([total, enabled, 0])

        def advance(n=1):
            calls[-1][2] += n
        yield advance

    monkeypatch.setattr(progress, "progress_bar", spy)
    code, out, _ = run(["validate", str(p)], capsys)
    assert code == 0 and out.strip() == "30 valid, 0 invalid"
    assert calls == [[30, True, 30]]
