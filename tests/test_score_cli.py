"""`gritkit score`, `gritkit rewards` and `gritkit plugins` end to end (in process, and
through worker processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from gritkit.cli import main
from gritkit.plugins import isolated_plugin_manager, reset_plugin_manager

from _plugin_helpers import EXAMPLE, ROOT, install_example

GOOD = "<think>a cat (1, 2, 30, 40)</think><rethink>yes</rethink><answer>2</answer>"
BAD = "<think>a cat (1, 2, 30, 40)"

PLUGIN_FILE = '''
import gritkit

def nboxes(result, sample):
    return float(len(result.boxes))

def fails_on_marker(result, sample):
    if "MARKER" in result.text:
        raise ValueError("marker found")
    return 1.0

def extra_split(result, sample):
    return 1.0 if sample.extra.get("split") == "val" else 0.0

def frame_x1(result, sample):
    from gritkit.coords import to_pixels
    return to_pixels(result.boxes[0].coords, sample)[0] if result.boxes else None

@gritkit.hookimpl
def register_rewards(register):
    register(nboxes)
    register(fails_on_marker)
    register(extra_split)
    register(frame_x1)
'''


@pytest.fixture
def plugin_file(tmp_path):
    path = tmp_path / "cli_rewards.py"
    path.write_text(PLUGIN_FILE)
    yield path
    sys.modules.pop("cli_rewards", None)


@pytest.fixture
def pm(plugin_file):
    with isolated_plugin_manager(plugins=[str(plugin_file)]) as pm:
        yield pm


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "rewards.toml"
    path.write_text('[[rewards]]\nname = "nboxes"\nweight = 0.5\n\n[[rewards]]\nname = "fails_on_marker"\n'
                    '\n[[rewards]]\nname = "extra_split"\n')
    return path


def write_jsonl(path, rows) -> str:
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(row if isinstance(row, str) else json.dumps(row))
            fh.write("\n")
    return str(path)


ROWS = [
    {"output": GOOD, "answer": 2, "split": "val"},
    "not json",
    {"output": BAD, "gt_answer": "x"},
    {"answer": 1},
    {"output": GOOD + " MARKER", "split": "val"},
    {"output": GOOD, "width": 10},
    "",
    {"output": GOOD, "box_format": "norm_100"},
]


def run_json(capsys, *argv) -> tuple[int, list[dict], str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


def test_json_output_has_one_object_per_line_in_order(pm, tmp_path, config_file, capsys):
    data = write_jsonl(tmp_path / "in.jsonl", ROWS)
    code, objs, err = run_json(capsys, "score", data, "--config", str(config_file), "--json")
    assert code == 1
    assert [o["record"] for o in objs] == list(range(len(ROWS)))
    names = ["nboxes", "fails_on_marker", "extra_split"]
    assert objs[0] == {"record": 0, "ok": True, "total": 2.5, "rewards": dict(zip(names, [1.0, 1.0, 1.0]))}
    assert objs[2] == {"record": 2, "ok": False, "total": 1.5, "rewards": dict(zip(names, [1.0, 1.0, 0.0]))}
    for bad in (1, 3, 4, 5, 6, 7):
        assert set(objs[bad]) == {"record", "ok", "total", "rewards", "error"}
        assert objs[bad]["ok"] is False and objs[bad]["total"] is None
        assert objs[bad]["rewards"] == dict.fromkeys(names)
    assert objs[1]["error"] == "line 2: not valid JSON: Expecting value at column 1"
    assert "no completion text: expected the column 'output'" in objs[3]["error"]
    assert "Reward 'fails_on_marker' from plugin 'cli_rewards' raised ValueError: marker found, on record 4" \
        in objs[4]["error"]
    assert "has a width but no height" in objs[5]["error"]
    assert objs[6]["error"] == "line 7: blank line; expected a JSON object"
    assert "Unknown box format 'norm_100'. Did you mean 'norm_1000'?" in objs[7]["error"]
    assert "6 of 8 lines could not be scored" in err
    for o in objs:  # only the keys the format promises
        assert set(o) <= {"record", "ok", "total", "rewards", "error"}


def test_good_file_exits_zero_and_prints_the_summary(pm, tmp_path, config_file, capsys):
    data = write_jsonl(tmp_path / "in.jsonl", [{"output": GOOD, "split": "val"}, {"output": BAD},
                                               {"output": "<think>x</think><rethink>y</rethink><answer>z</answer>"}])
    assert main(["score", data, "--config", str(config_file)]) == 0
    out = capsys.readouterr().out
    assert "parse ok 66.7% (2/3)" in out and "3 lines, 3 scored, 0 bad" in out
    lines = {line.split()[1]: line for line in out.splitlines() if line.startswith("│")}
    # nboxes: (1 + 1 + 0) / 3; extra_split: (1 + 0 + 0) / 3; total: (2.5 + 1.5 + 1.0) / 3
    assert "0.6667" in lines["nboxes"] and "0.3333" in lines["extra_split"]
    assert "1.6667" in lines["total"]


def test_out_file_and_stdout_summary(pm, tmp_path, config_file, capsys):
    data = write_jsonl(tmp_path / "in.jsonl", [{"output": GOOD}])
    out_path = tmp_path / "scores.jsonl"
    assert main(["score", data, "--config", str(config_file), "--out", str(out_path)]) == 0
    assert "gritkit score" in capsys.readouterr().out  # the table
    [obj] = [json.loads(x) for x in out_path.read_text().splitlines()]
    assert obj["total"] == 1.5


def test_field_renames_and_box_format(pm, tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("rewards:\n  - name: frame_x1\n")
    rows = [{"completion": "<think>(500, 0, 600, 10)</think><rethink>a</rethink><answer>b</answer>",
             "width": 640, "height": 480, "box_format": "xyxy"}]
    data = write_jsonl(tmp_path / "in.jsonl", rows)
    code, objs, _ = run_json(capsys, "score", data, "--config", str(config), "--json", "--field", "completion=output")
    assert code == 0 and objs[0]["rewards"] == {"frame_x1": 500.0}
    code, objs, _ = run_json(capsys, "score", data, "--config", str(config), "--json",
                             "--field", "completion=output", "--box-format", "norm_1000")
    assert objs[0]["rewards"] == {"frame_x1": 320.0}  # 500 / 1000 * 640: --box-format wins over the record
    code, objs, _ = run_json(capsys, "score", data, "--config", str(config), "--json")
    assert code == 1 and "--field NAME=output" in objs[0]["error"]


def test_usage_and_config_errors(pm, tmp_path, config_file, capsys):
    data = write_jsonl(tmp_path / "in.jsonl", [{"output": GOOD}])
    assert main(["score", data, "--preset", "grit-oficial"]) == 2
    assert "Did you mean 'grit-official'?" in capsys.readouterr().err
    assert main(["score", str(tmp_path / "missing.jsonl"), "--config", str(config_file)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["score", data, "--config", str(config_file), "--box-format", "nope"]) == 2
    assert "Unknown box format 'nope'" in capsys.readouterr().err
    for argv in (["score", data], ["score", data, "--preset", "grit", "--config", "x.toml"],
                 ["score", data, "--preset", "grit", "--field", "nope"],
                 ["score", data, "--preset", "grit", "--workers", "0"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
    capsys.readouterr()


def test_stdin(plugin_file, tmp_path):
    env = {**os.environ, "GRITKIT_LOAD_PLUGINS": "", "GRITKIT_PLUGINS": str(plugin_file)}
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"rewards": [{"name": "nboxes"}]}))
    proc = subprocess.run([sys.executable, "-m", "gritkit.cli", "score", "-", "--config", str(config), "--json"],
                          input=json.dumps({"output": GOOD}) + "\n", capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"record": 0, "ok": True, "total": 1.0, "rewards": {"nboxes": 1.0}}


def test_workers_keep_order_and_match_one_process(plugin_file, tmp_path, config_file, capsys, monkeypatch):
    monkeypatch.setenv("GRITKIT_LOAD_PLUGINS", "")
    monkeypatch.setenv("GRITKIT_PLUGINS", str(plugin_file))
    reset_plugin_manager()
    import gritkit.commands.score as score_cmd

    monkeypatch.setattr(score_cmd, "CHUNK", 8)  # many small chunks across the workers
    monkeypatch.setattr(score_cmd, "WORKER_CHUNK", 8)
    monkeypatch.setattr(score_cmd, "MIN_LINES_PER_WORKER", 10)  # so 300 lines are spread
    rows = []
    for i in range(300):
        rows.append([{"output": GOOD * (i % 3 + 1), "split": "val" if i % 2 else "x"}, "[1]",
                     {"output": BAD}, {"output": GOOD + " MARKER"}][i % 4])
    data = write_jsonl(tmp_path / "in.jsonl", rows)
    try:
        code1, one, _ = run_json(capsys, "score", data, "--config", str(config_file), "--json")
        code3, three, _ = run_json(capsys, "score", data, "--config", str(config_file), "--json", "--workers", "3")
    finally:
        reset_plugin_manager()
    assert code1 == code3 == 1
    assert one == three and [o["record"] for o in three] == list(range(300))


def test_grit_official_preset_gives_the_official_values(tmp_path, capsys):
    """GRIT's published example outputs's outputs through `gritkit score --preset grit-official --json`."""
    from test_presets import OFFICIAL_CASES

    rows = [{"output": text, **record} for text, record, _ in OFFICIAL_CASES]
    data = write_jsonl(tmp_path / "in.jsonl", rows)
    with isolated_plugin_manager():
        code, objs, err = run_json(capsys, "score", data, "--preset", "grit-official", "--json")
    assert code == 0
    assert "Component 'judge': reward 'judge' cannot run" in err and "skipped (None)" in err
    for obj, (_, _, expected) in zip(objs, OFFICIAL_CASES):
        got = {k: obj["rewards"][k] for k in expected}
        assert got == pytest.approx(expected), obj
        assert obj["rewards"]["judge"] is None
        assert obj["total"] == pytest.approx(sum(expected.values()) + obj["rewards"]["repetition"])


def test_grit_preset_says_answer_match_stands_in(tmp_path, capsys):
    data = write_jsonl(tmp_path / "in.jsonl", [{"output": GOOD, "answer": "2"}])
    with isolated_plugin_manager():
        assert main(["score", data, "--preset", "grit"]) == 0
    out, err = capsys.readouterr()
    assert "'answer_match' stands in for it" in err
    assert "answer" in out and "format" in out


# -- gritkit rewards / gritkit plugins ---------------------------------------------------------------


def test_rewards_lists_name_plugin_description(pm, capsys):
    assert main(["rewards"]) == 0
    out = capsys.readouterr().out
    assert "nboxes" in out and "cli_rewards" in out
    assert "format" in out and "gritkit.builtin.format" in out
    assert main(["rewards", "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "format  (plugin gritkit.builtin.format)" in out
    assert "mode: Literal['paper', 'graded'] = 'paper'" in out
    assert "nboxes  (plugin cli_rewards)\n" in out and "options: none" in out


def test_plugins_lists_plugins_and_failures(pm, capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "cli_rewards  (local, no version)" in out
    assert "rewards: extra_split, fails_on_marker, frame_x1, nboxes" in out
    assert "gritkit.builtin.box_formats  (builtin, gritkit " in out and "box formats:" in out
    assert main(["plugins", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    local = next(r for r in records if r["name"] == "cli_rewards")
    assert local["kind"] == "local" and local["hooks"] == ["register_rewards"]


def test_plugin_flag_loads_a_file(plugin_file, monkeypatch, capsys):
    monkeypatch.setenv("GRITKIT_LOAD_PLUGINS", "")
    monkeypatch.delenv("GRITKIT_PLUGINS", raising=False)
    reset_plugin_manager()
    try:
        assert main(["-p", str(plugin_file), "rewards"]) == 0
        assert "cli_rewards" in capsys.readouterr().out
    finally:
        reset_plugin_manager()


def test_example_plugin_through_its_entry_point(tmp_path, capsys, monkeypatch):
    """The example distribution, found through a dist-info on sys.path, in `gritkit rewards`
    and scoring through a config."""
    install_example(tmp_path / "site")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    config = tmp_path / "c.toml"
    config.write_text('[[rewards]]\nname = "center_hit"\nweight = 0.5\n\n[[rewards]]\nname = "format"\n')
    data = write_jsonl(tmp_path / "in.jsonl", [
        {"output": "<think>x</think><rethink>y</rethink><answer>(0, 0, 9, 9)</answer>", "width": 10, "height": 10}])
    try:
        with isolated_plugin_manager(entry_points=True):
            assert main(["rewards"]) == 0
            out = capsys.readouterr().out
            assert "center_hit" in out and "the first box" in out
            code, objs, _ = run_json(capsys, "score", data, "--config", str(config), "--json")
        assert code == 0 and objs[0]["rewards"]["center_hit"] == 1.0
        assert objs[0]["total"] == pytest.approx(0.5 + objs[0]["rewards"]["format"])
    finally:
        sys.modules.pop("gritkit_center", None)


@pytest.mark.slow
def test_example_plugin_pip_installed(tmp_path):
    """Really install examples/gritkit-example with pip (into a target folder) and use it."""
    target = tmp_path / "target"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
                          "--no-index", "--quiet", "--target", str(target), str(EXAMPLE)],
                         capture_output=True, text=True)
    assert pip.returncode == 0, pip.stderr
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(ROOT)]), "HF_HUB_OFFLINE": "1"}
    env.pop("GRITKIT_LOAD_PLUGINS", None)
    proc = subprocess.run([sys.executable, "-m", "gritkit.cli", "rewards"], capture_output=True, text=True,
                          env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "center_hit" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "gritkit.cli", "plugins"], capture_output=True, text=True,
                          env=env, cwd=tmp_path)
    assert "center_hit  (entry point, gritkit-example 0.1.0)" in proc.stdout
    config = tmp_path / "c.toml"
    config.write_text('[[rewards]]\nname = "center_hit"\n')
    data = write_jsonl(tmp_path / "in.jsonl", [
        {"output": "<think>x</think><rethink>y</rethink><answer>(0, 0, 9, 9)</answer>", "width": 10, "height": 10}])
    proc = subprocess.run([sys.executable, "-m", "gritkit.cli", "score", data, "--config", str(config), "--json"],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["rewards"] == {"center_hit": 1.0}


def test_progress_bar_on_a_terminal_keeps_the_output(pm, tmp_path, config_file, capsys, monkeypatch):
    import contextlib

    import gritkit.commands._progress as progress
    import gritkit.commands.score as score_cmd

    data = write_jsonl(tmp_path / "in.jsonl", [{"output": GOOD}] * 50)
    monkeypatch.setattr(score_cmd, "PROGRESS_MIN_BYTES", 0)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    calls = []
    real = progress.progress_bar

    @contextlib.contextmanager
    def spy(total, description, *, enabled=None):
        call = {"total": total, "enabled": enabled, "advanced": 0}
        calls.append(call)
        with real(total, description, enabled=enabled) as advance:
            def counting(n=1):
                call["advanced"] += n
                advance(n)
            yield counting

    monkeypatch.setattr(progress, "progress_bar", spy)
    code, objs, _ = run_json(capsys, "score", data, "--config", str(config_file), "--json")
    assert code == 0 and len(objs) == 50
    assert calls == [{"total": 50, "enabled": True, "advanced": 50}]
    calls.clear()
    run_json(capsys, "score", data, "--config", str(config_file), "--json", "--no-progress")
    assert calls[0]["enabled"] is False


@pytest.mark.parametrize("requested, lines, cores, expected", [
    (1, 10 ** 6, 8, 1),
    (4, 1000, 8, 1),            # too few lines to pay for start-up
    (4, 10 ** 6, 2, 2),         # never more than the cores
    (8, 7000, 8, 3),            # one worker per MIN_LINES_PER_WORKER lines
    (2, None, 2, 2),            # standard input: no line count
])
def test_choose_workers(monkeypatch, requested, lines, cores, expected):
    import gritkit.commands.score as score_cmd

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    n, why = score_cmd.choose_workers(requested, lines)
    assert n == expected and (bool(why) == (n != requested))


def test_ctrl_c_with_workers_exits_130_quietly(tmp_path):
    import signal
    import time

    slow = tmp_path / "slow_plugin.py"  # a reward slow enough that the run is surely under way
    slow.write_text("import time\nimport gritkit\n\ndef slow(r, s):\n    time.sleep(0.002)\n    return 1.0\n\n"
                    "@gritkit.hookimpl\ndef register_rewards(register):\n    register(slow)\n")
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"rewards": [{"name": "slow"}]}))
    data = write_jsonl(tmp_path / "big.jsonl", [{"output": GOOD}] * 50000)
    out = tmp_path / "out.jsonl"
    with open(out, "w") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "gritkit.cli", "-p", str(slow), "score", data, "--config",
                                 str(cfg), "--json", "--workers", "2"], stdout=fh, stderr=subprocess.PIPE,
                                text=True, env={**os.environ, "GRITKIT_LOAD_PLUGINS": ""})
        deadline = time.monotonic() + 60
        while out.stat().st_size == 0 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)  # scoring has visibly started once the first chunk is written
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err


def test_score_start_up_imports_only_what_scoring_needs(tmp_path):
    """`gritkit score` imports no trainer, no Lark (grammar tables cached), no other command."""
    data = write_jsonl(tmp_path / "one.jsonl", [{"output": GOOD}])
    probe = ("import sys, runpy; sys.argv = ['gritkit', 'score', %r, '--preset', 'grit', '--json'];\n"
             "from gritkit.cli import main; main()\n"
             "bad = [m for m in ('torch', 'transformers', 'trl', 'lark', 'rich', 'asyncio', 'gritkit.export',\n"
             "       'gritkit.generate', 'gritkit.tiny', 'gritkit.train') if m in sys.modules]\n"
             "print('IMPORTED', bad)") % data
    env = {**os.environ, "GRITKIT_LOAD_PLUGINS": "", "GRITKIT_CACHE_DIR": str(tmp_path / "cache")}
    subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)  # warm
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True).stdout
    assert "IMPORTED []" in out, out
