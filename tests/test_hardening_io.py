"""Issue 9: no record lost, no crash, on hostile input and I/O faults (commands and composer)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gritkit
from gritkit.cli import main
from gritkit.compose import Composer
from gritkit.errors import ConfigError, RewardError
from gritkit.plugins import isolated_plugin_manager

GOOD = "<think>a cat (1, 2, 30, 40)</think><rethink>yes</rethink><answer>2</answer>"
SURROGATE_LINE = '{"output": "<think>\\ud83d (1, 2, 3, 4)</think><rethink>x</rethink><answer>1", "answer": "\\ud83d"}'


def write(path: Path, lines: list[str]) -> str:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def cli(*argv: str, stdin: str | None = None, stdout=subprocess.PIPE) -> subprocess.CompletedProcess:
    env = {**os.environ, "GRITKIT_LOAD_PLUGINS": ""}
    return subprocess.run([sys.executable, "-m", "gritkit.cli", *argv], input=stdin, stdout=stdout,
                          stderr=subprocess.PIPE, text=True, env=env, timeout=120)


# 1. a lone surrogate never loses a record


@pytest.mark.parametrize("argv", [["validate", "--json"], ["score", "--preset", "grit", "--json"],
                                  ["validate"], ["score", "--preset", "grit"]])
def test_lone_surrogates_lose_no_record(tmp_path, argv):
    path = write(tmp_path / "s.jsonl", [SURROGATE_LINE, json.dumps({"output": GOOD, "answer": "2"})])
    proc = cli(*argv[:1], path, *argv[1:])
    assert "Traceback" not in proc.stderr, proc.stderr
    if "--json" in argv:
        rows = [json.loads(line) for line in proc.stdout.splitlines()]
        assert [r["record"] for r in rows] == [0, 1]


# 2. --out never destroys an input


def test_score_out_onto_its_input_is_refused(tmp_path, capsys):
    path = write(tmp_path / "in.jsonl", [json.dumps({"output": GOOD})])
    before = Path(path).read_bytes()
    assert main(["score", path, "--preset", "grit", "--out", path]) == 2
    assert "is the input file" in capsys.readouterr().err
    assert Path(path).read_bytes() == before


def test_score_out_is_written_whole_or_not_at_all(tmp_path, capsys):
    path = write(tmp_path / "in.jsonl", [json.dumps({"output": GOOD})] * 3)
    out = tmp_path / "scores.jsonl"
    assert main(["score", path, "--preset", "grit", "--out", str(out)]) == 0
    assert len(out.read_text().splitlines()) == 3
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".gritkit-")]  # no temporary left


# 11. I/O errors: exit 2 with the file and what failed; a closed pipe ends quietly


@pytest.mark.parametrize("out, message", [("/nonexistent/x.jsonl", "No such file or directory"),
                                          ("{tmp}", "it is a folder")])
def test_score_out_that_cannot_be_written(tmp_path, capsys, out, message):
    path = write(tmp_path / "in.jsonl", [json.dumps({"output": GOOD})])
    target = out.format(tmp=tmp_path)
    assert main(["score", path, "--preset", "grit", "--out", target]) == 2
    err = capsys.readouterr().err
    assert message in err and target in err and "Traceback" not in err


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("argv", [["score", "--preset", "grit", "--json"], ["validate", "--json"]])
def test_a_full_disk_is_a_write_error(tmp_path, argv):
    path = write(tmp_path / "in.jsonl", [json.dumps({"output": GOOD * 20})] * 2000)
    with open("/dev/full", "w") as full:
        proc = cli(argv[0], path, *argv[1:], stdout=full)
    assert proc.returncode == 2, proc.stderr
    assert "Cannot write standard output: No space left on device" in proc.stderr
    assert "Traceback" not in proc.stderr and "Cannot read" not in proc.stderr


@pytest.mark.parametrize("argv", [["validate"], ["validate", "--json"], ["score", "--preset", "grit", "--json"]])
def test_a_closed_pipe_ends_quietly(tmp_path, argv):
    path = write(tmp_path / "big.jsonl", [json.dumps({"output": GOOD})] * 20000)
    head = f"{sys.executable} -m gritkit.cli {argv[0]} {path} {' '.join(argv[1:])} | head -1"
    proc = subprocess.run(["bash", "-c", head], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "GRITKIT_LOAD_PLUGINS": ""})
    assert proc.stdout.count("\n") == 1
    assert not [ln for ln in proc.stderr.splitlines() if not ln.startswith("note:")], proc.stderr


# 3. any value a plugin returns is that record's error, never the run's end


def huge(result, sample):
    return 10 ** 400


def odd(result, sample):
    return {"2": 1.0, "3": "x", "4": float("nan")}.get(result.answer, 1.0)


@gritkit.hookimpl
def register_rewards(register):
    register(huge)
    register(odd)


PLUGIN = types.ModuleType("hostile_rewards")
PLUGIN.register_rewards = register_rewards


@pytest.mark.parametrize("name", ["huge", "odd"])
def test_bad_values_are_reward_errors_or_none(name):
    texts = [GOOD, GOOD.replace(">2<", ">3<"), GOOD.replace(">2<", ">4<")]
    with isolated_plugin_manager(builtins=False, plugins=[PLUGIN]):
        strict = Composer({"rewards": [{"name": name}]})
        lenient = Composer({"rewards": [{"name": name}], "on_error": "none"})
        if name == "huge":
            with pytest.raises(RewardError, match="beyond float range"):
                strict.score(GOOD)
        with pytest.warns(UserWarning):
            scores = lenient.score_many(texts)
    assert all(s.total is None or s.total == 1.0 for s in scores)


def test_score_survives_a_huge_int_reward(tmp_path, capsys):
    plugin = tmp_path / "huge_plugin.py"
    plugin.write_text("import gritkit\n\ndef huge(r, s):\n    return 10 ** 400\n\n"
                      "@gritkit.hookimpl\ndef register_rewards(register):\n    register(huge)\n")
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"rewards": [{"name": "huge"}]}))
    path = write(tmp_path / "in.jsonl", [json.dumps({"output": GOOD})] * 3)
    proc = cli("-p", str(plugin), "score", path, "--config", str(cfg), "--json")
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == 3 and all("beyond float range" in r["error"] for r in rows)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr


# 4. eval: a bad field is that record's error, named by its line


def test_eval_keeps_going_past_an_unknown_box_format(tmp_path, capsys):
    rec = {"output": GOOD, "answer": "2", "bboxs": [[1, 2, 30, 40]], "width": 64, "height": 64}
    lines = ["not json", json.dumps(rec), json.dumps({**rec, "box_format": "nope"}), json.dumps(rec)]
    path = write(tmp_path / "e.jsonl", lines)
    assert main(["eval", path, "--json"]) == 1
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["overall"]["n"] == 2
    assert [e["record"] for e in report["errors"]] == [0, 2]
    assert "line 3:" in captured.err and "'nope'" in captured.err


def test_a_reward_option_naming_no_convention_fails_at_load():
    with pytest.raises(ConfigError, match="box_format.*'nope'"):
        Composer({"rewards": [{"name": "iou", "options": {"box_format": "nope"}}]})


# the property: one output object per input line, in order, whatever the lines hold

LINE = st.one_of(
    st.text(max_size=40),                                                    # not JSON, blank, NUL...
    st.builds(lambda t, a: json.dumps({"output": t, "answer": a}),
              st.text(alphabet=st.sampled_from(list("<>/thinkreasw(),0123456789 \x00\ud83d[]{}")), max_size=80),
              st.one_of(st.text(max_size=5), st.integers(-10 ** 30, 10 ** 30), st.none())),
    st.builds(lambda v: json.dumps({"output": v}), st.one_of(st.integers(), st.lists(st.integers()), st.none())),
    st.builds(lambda w: json.dumps({"output": GOOD, "width": w, "height": 10, "bboxs": [[0, 0, w, 1]]}),
              st.one_of(st.integers(-5, 10 ** 20), st.floats(allow_nan=False))),
)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(LINE, min_size=1, max_size=12))
def test_every_command_writes_one_object_per_line(tmp_path_factory, capsys, lines):
    lines = [ln.replace("\n", " ").replace("\r", " ") for ln in lines]
    path = tmp_path_factory.mktemp("prop") / "in.jsonl"
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8", "surrogatepass"))
    capsys.readouterr()
    for argv in (["validate", "--json"], ["score", "--preset", "grit", "--json"]):
        assert main([argv[0], str(path), *argv[1:]]) in (0, 1)
        out = capsys.readouterr().out
        rows = [json.loads(line) for line in out.splitlines()]
        assert [r["record"] for r in rows] == list(range(len(lines))), argv
    # eval: every line is evaluated or listed as an error, by its index
    assert main(["eval", str(path), "--json", "--keep-duplicates"]) in (0, 1)
    report = json.loads(capsys.readouterr().out)
    assert report["meta"]["records"] == len(lines)


# 12. report: non-finite values are reported, not plotted; unscored lines are listed apart


def test_report_with_infinite_rewards_and_unscored_lines(tmp_path):
    from gritkit.report import load_report_data, write_report

    scored = tmp_path / "scores.jsonl"
    rows = [{"record": 0, "ok": True, "total": 1.5, "rewards": {"a": 0.5}},
            {"record": 1, "ok": True, "total": float("inf"), "rewards": {"a": float("inf")}},
            {"record": 2, "ok": False, "total": None, "rewards": {"a": None}, "error": "line 3: not valid JSON"}]
    scored.write_text("\n".join(json.dumps(r) for r in rows).replace("Infinity", "Infinity") + "\n")
    outputs = tmp_path / "outs.jsonl"
    outputs.write_text("\n".join(json.dumps({"output": GOOD, "width": w, "height": 10})
                                 for w in (10, 1e400, 10)) + "\n")
    data = load_report_data(scored, outputs=outputs)
    assert len(data.rows) == 2 and data.unscored == [(3, "line 3: not valid JSON")]
    summary = write_report(data, tmp_path / "report")
    md = (tmp_path / "report" / "report.md").read_text()
    assert "2 completions, 1 lines not scored" in md and "| a | 1 | 0 | 0.500 |" in md
    assert md.split("| a |")[1].split("\n")[0].endswith("| 1 |")  # one non-finite value
    assert "line 3: not valid JSON" in md
    assert summary is not None


# 13. eval judges box validity without an image size


def test_eval_invalid_box_rate_without_image_size(tmp_path, capsys):
    rec = {"output": "<think>(30, 2, 10, 40) (1, 2, 30, 40)</think><rethink>x</rethink><answer>2</answer>",
           "answer": "2"}
    path = write(tmp_path / "e.jsonl", [json.dumps(rec)])
    assert main(["eval", path, "--json"]) == 0
    overall = json.loads(capsys.readouterr().out)["overall"]
    assert overall["invalid_box_rate"] == 0.5 and overall["boxes_unsized"] == 1


# 10. a failed judge call during training is None for that completion and is counted, never a crash


def test_judge_failures_in_training_are_none_and_logged():
    import socket

    from gritkit.adapters.trl import JUDGE_FAILURE_METRIC, to_trl

    with socket.socket() as s:  # a port that refuses connections
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = {"rewards": [{"name": "format"},
                          {"name": "judge", "options": {"base_url": f"http://127.0.0.1:{port}/v1", "model": "m",
                                                        "max_retries": 0, "timeout": 5}}]}
    funcs, weights = to_trl(config)
    logged = {}
    kw = {"prompts": ["q"] * 2, "completions": [[{"role": "assistant", "content": GOOD}]] * 2,
          "answer": ["2", "2"], "log_metric": lambda k, v: logged.__setitem__(k, v)}
    import asyncio

    out = [f(**kw) for f in funcs]
    out = [asyncio.run(o) if asyncio.iscoroutine(o) else o for o in out]
    assert out[1] == [None, None] and out[0] == [1.5, 1.5]
    assert logged[JUDGE_FAILURE_METRIC] == 1.0
    # the command line keeps its documented behaviour: the default on_failure = "raise"
    with pytest.raises(RewardError):
        Composer(config).score(GOOD, gritkit.Sample(answer="2"))
