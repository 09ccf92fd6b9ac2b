"""`gritkit eval` on a hand-made file whose figures are computed by hand below.

Every image is 100x100 pixels unless said otherwise; boxes are absolute pixels
unless the record says box_format. T(x) = a think box written as a tuple.

rec  dataset  GT answer / output answer      GT boxes                 predicted boxes
0    vsr      Yes / Yes        -> acc 1      [0,0,50,50]              (0,0,50,50)
1    vsr      No  / Yes        -> acc 0      [0,0,50,50]              (25,0,75,50)
2    vsr      Yes / yes        -> acc 1      none                     none
3    tallyqa  2   / 2          -> acc 1      [0,0,10,10],[20,0,30,10] (0,0,10,10),(20,0,30,10),(200,0,210,10)
4    tallyqa  3   / (truncated, no answer)   [0,0,10,10]              none                -> format not ok
5    vsr      copy of record 0 (same dataset, image, question, answer), another output: dropped
6    gqa      left / left      -> acc 1      [100,50,200,100] on a 200x100 image;
                                             (500,500,1000,1000) in norm_1000 = (100,50,200,100) px
7    not JSON                                  -> an error, not a sample
8    no "output" field                         -> an error, not a sample

Per record (grounding values are None without GT boxes):

rec  union IoU                    matched IoU (sum / max(n_pred, n_gt))  F1@0.5 = 2 TP / (n_pred + n_gt)   boxes  bad
0    1                            1                                       1                                 1      0
1    1250 / 3750 = 1/3            1/3                                     0 (1/3 < 0.5)                     1      0
     (intersection 25x50 = 1250; union 2500 + 2500 - 1250 = 3750)
2    None                         None                                    None                              0      0
3    200 / 300 = 2/3              (1 + 1) / 3 = 2/3                       2*2 / (3 + 2) = 0.8               3      1 (outside)
     (the outside box counts in the predicted union, as in GRIT's metric)
4    0 (no predicted box)         0                                       0                                 0      0
6    1                            1                                       1                                 1      0

vsr (records 0, 1, 2; record 5 dropped): n 3, duplicates 1,
    accuracy (1 + 0 + 1) / 3 = 2/3, grounding IoU over records 0, 1: (1 + 1/3) / 2 = 2/3,
    matched IoU 2/3, F1 (1 + 0) / 2 = 0.5, format_ok 1, boxes (1 + 1 + 0) / 3 = 2/3, bad 0 / 2 = 0
tallyqa (3, 4): n 2, accuracy 1/2, grounding (2/3 + 0) / 2 = 1/3, matched 1/3, F1 0.4,
    format_ok 1/2, boxes 3/2, bad 1/3
gqa (6): n 1, everything 1, boxes 1, bad 0
overall (0, 1, 2, 3, 4, 6): n 6, duplicates 1, accuracy 4/6, grounding over 0, 1, 3, 4, 6:
    (1 + 1/3 + 2/3 + 0 + 1) / 5 = 3/5, matched 3/5, F1 (1 + 0 + 0.8 + 0 + 1) / 5 = 0.56,
    format_ok 5/6, boxes (1 + 1 + 0 + 3 + 0 + 1) / 6 = 1, bad 1 / 6
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gritkit.cli import main
from gritkit.evaluate import (RecordMetrics, aggregate, bootstrap_ci, deduplicate, evaluate, metric_config,
                              summarize)
from gritkit.records import parse_field_renames


def out(think: str, answer: str | None) -> str:
    text = f"<think>{think}</think>\n<rethink>Checked.</rethink>\n"
    return text + (f"<answer>\n{answer}\n</answer>" if answer is not None else "")


RECORDS = [
    {"dataset": "vsr", "image": "a.jpg", "question": "Is the cat on the mat?", "answer": "Yes",
     "width": 100, "height": 100, "bboxs": [[0, 0, 50, 50]], "output": out("The cat (0, 0, 50, 50).", "Yes")},
    {"dataset": "vsr", "image": "b.jpg", "question": "Is the dog left of the cat?", "answer": "No",
     "width": 100, "height": 100, "bboxs": [[0, 0, 50, 50]], "output": out("The dog (25, 0, 75, 50).", "Yes")},
    {"dataset": "vsr", "image": "c.jpg", "question": "Is there a sky?", "answer": "Yes",
     "width": 100, "height": 100, "bboxs": [], "output": out("The sky is blue.", "yes")},
    {"dataset": "tallyqa", "image": "d.jpg", "question": "How many cups?", "answer": 2,
     "width": 100, "height": 100, "bboxs": [[0, 0, 10, 10], [20, 0, 30, 10]],
     "output": out("Cups: (0, 0, 10, 10), (20, 0, 30, 10) and (200, 0, 210, 10).", "2")},
    {"dataset": "tallyqa", "image": "e.jpg", "question": "How many birds?", "answer": 3,
     "width": 100, "height": 100, "bboxs": [[0, 0, 10, 10]], "output": "<think>I see some birds and"},
    {"dataset": "vsr", "image": "a.jpg", "question": "Is the cat on the mat?", "answer": "Yes",
     "width": 100, "height": 100, "bboxs": [[0, 0, 50, 50]], "output": out("No cat.", "No")},
    {"dataset": "gqa", "image": "f.jpg", "question": "Which side is the car on?", "answer": "left",
     "width": 200, "height": 100, "bboxs": [[100, 50, 200, 100]], "box_format": "norm_1000",
     "output": out("The car <ref>car</ref><box>[[500, 500, 1000, 1000]]</box>.", "left")},
]


@pytest.fixture()
def handmade(tmp_path: Path) -> Path:
    lines = [json.dumps(r) for r in RECORDS]
    lines.append('{"dataset": "vsr", "output": ')  # 7: not JSON
    lines.append(json.dumps({"dataset": "vsr", "answer": "Yes", "question": "Q"}))  # 8: no output
    path = tmp_path / "handmade.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


EXPECTED = {
    "vsr": dict(n=3, duplicates=1, accuracy=2 / 3, grounding_iou=2 / 3, matched_iou=2 / 3, f1_50=0.5,
                format_ok=1.0, boxes_per_sample=2 / 3, invalid_box_rate=0.0, n_with_gt=2, n_accuracy=3),
    "tallyqa": dict(n=2, duplicates=0, accuracy=0.5, grounding_iou=1 / 3, matched_iou=1 / 3, f1_50=0.4,
                    format_ok=0.5, boxes_per_sample=1.5, invalid_box_rate=1 / 3, n_with_gt=2, n_accuracy=2),
    "gqa": dict(n=1, duplicates=0, accuracy=1.0, grounding_iou=1.0, matched_iou=1.0, f1_50=1.0,
                format_ok=1.0, boxes_per_sample=1.0, invalid_box_rate=0.0, n_with_gt=1, n_accuracy=1),
    "overall": dict(n=6, duplicates=1, accuracy=4 / 6, grounding_iou=0.6, matched_iou=0.6, f1_50=0.56,
                    format_ok=5 / 6, boxes_per_sample=1.0, invalid_box_rate=1 / 6, n_with_gt=5, n_accuracy=6),
}


def check(group: dict, expected: dict) -> None:
    for key, value in expected.items():
        assert group[key] == pytest.approx(value, abs=1e-9), key


def test_eval_json_gives_the_hand_computed_figures(handmade: Path, capsys):
    code = main(["eval", str(handmade), "--json"])
    captured = capsys.readouterr()
    assert code == 1  # records 7 and 8 could not be evaluated
    report = json.loads(captured.out)
    assert set(report) >= {"datasets", "overall"}
    assert sorted(report["datasets"]) == ["gqa", "tallyqa", "vsr"]
    for name in ("vsr", "tallyqa", "gqa"):
        check(report["datasets"][name], EXPECTED[name])
    check(report["overall"], EXPECTED["overall"])
    for group in [*report["datasets"].values(), report["overall"]]:
        assert {"n", "accuracy", "grounding_iou", "matched_iou", "f1_50", "format_ok", "boxes_per_sample",
                "invalid_box_rate"} <= set(group)
    assert [e["record"] for e in report["errors"]] == [7, 8]
    assert "handmade.jsonl: line 8: not valid JSON" in captured.err
    assert "handmade.jsonl: line 9: " in captured.err and "no completion text" in captured.err
    assert report["meta"]["accuracy_reward"] == "answer_match"


def test_keep_duplicates_counts_every_record(handmade: Path):
    report = evaluate(handmade, dedupe=False)
    # vsr now holds records 0, 1, 2, 5: accuracy (1 + 0 + 1 + 0) / 4, grounding (1 + 1/3 + 0 + 1) / 3
    # (record 5 writes no box, so it scores 0)
    assert report.datasets["vsr"]["n"] == 4 and report.datasets["vsr"]["duplicates"] == 0
    assert report.datasets["vsr"]["accuracy"] == pytest.approx(0.5)
    assert report.datasets["vsr"]["grounding_iou"] == pytest.approx((1 + 1 / 3 + 0) / 3)


def test_box_format_option_overrides_the_records(handmade: Path):
    # Read as absolute pixels, record 6's box (500, 500, 1000, 1000) misses the GT box entirely
    # and lies outside the 200x100 image.
    report = evaluate(handmade, box_format="xyxy")
    gqa = report.datasets["gqa"]
    assert gqa["grounding_iou"] == 0.0 and gqa["invalid_box_rate"] == 1.0


def test_field_renames(tmp_path: Path):
    path = tmp_path / "renamed.jsonl"
    rec = {k: v for k, v in RECORDS[0].items() if k != "output"}
    rec["response"] = RECORDS[0]["output"]
    path.write_text(json.dumps(rec) + "\n", encoding="utf-8")
    report = evaluate(path, renames=parse_field_renames(["response=output"]))
    assert report.overall["n"] == 1 and report.overall["accuracy"] == 1.0
    with pytest.raises(Exception, match="OLD=NEW"):
        parse_field_renames(["response"])


def test_table_output(handmade: Path, capsys):
    assert main(["eval", str(handmade)]) == 1
    text = capsys.readouterr().out
    for word in ("vsr", "tallyqa", "gqa", "overall", "66.7", "0.600"):
        assert word in text


def test_bootstrap_is_seeded_and_brackets_the_estimate(handmade: Path, capsys):
    main(["eval", str(handmade), "--json", "--bootstrap", "300"])
    first = json.loads(capsys.readouterr().out)
    main(["eval", str(handmade), "--json", "--bootstrap", "300"])
    second = json.loads(capsys.readouterr().out)
    assert first == second  # same seed, same intervals
    ci = first["overall"]["ci95"]
    for metric in ("accuracy", "grounding_iou", "format_ok"):
        lo, hi = ci[metric]
        assert lo <= first["overall"][metric] <= hi
    # a metric that is constant in the group has a zero-width interval
    assert first["datasets"]["gqa"]["ci95"]["accuracy"] == [1.0, 1.0]
    main(["eval", str(handmade), "--json", "--bootstrap", "300", "--seed", "7"])
    assert json.loads(capsys.readouterr().out)["overall"]["ci95"] != ci


def test_bad_inputs(tmp_path: Path, capsys):
    assert main(["eval", str(tmp_path / "missing.jsonl")]) == 2
    assert "Cannot read" in capsys.readouterr().err
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps(RECORDS[0]) + "\n")
    assert main(["eval", str(path), "--box-format", "norm1000"]) == 2
    assert "Did you mean 'norm_1000'" in capsys.readouterr().err
    assert main(["eval", str(path), "--preset", "grti"]) == 2
    assert "Unknown preset" in capsys.readouterr().err
    assert main(["eval", str(path), "--bootstrap", "-3"]) == 2
    bad_size = tmp_path / "size.jsonl"
    bad_size.write_text(json.dumps({**RECORDS[0], "width": "wide"}) + "\n")
    assert main(["eval", str(bad_size), "--json"]) == 1
    err = capsys.readouterr().err
    assert "size.jsonl: line 1:" in err and "'width'" in err


def test_empty_file(tmp_path: Path, capsys):
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    assert main(["eval", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["datasets"] == {} and report["overall"]["n"] == 0 and report["overall"]["accuracy"] is None


# --------------------------------------------------------------------------- arithmetic alone
def rm(i, ds="d", key=None, ok=True, acc=None, g=None, m=None, f=None, boxes=0, bad=0.0):
    return RecordMetrics(i, ds, key, ok, acc, g, m, f, boxes, bad)


def test_aggregate_and_dedupe_by_hand():
    recs = [rm(0, key=("d", "i", "q", "a"), acc=1.0, g=0.5, boxes=2, bad=1),
            rm(1, key=("d", "i", "q", "a"), acc=0.0, g=0.0, boxes=4, bad=4),
            rm(2, acc=0.0, boxes=0)]
    unique, dropped = deduplicate(recs)
    assert [r.index for r in unique] == [0, 2] and dropped == {"d": 1}
    g = aggregate(unique, 1)
    assert g["n"] == 2 and g["accuracy"] == 0.5 and g["grounding_iou"] == 0.5 and g["n_with_gt"] == 1
    assert g["boxes_per_sample"] == 1.0 and g["invalid_box_rate"] == 0.5 and g["duplicates"] == 1


def test_summary_sorts_datasets_and_handles_unknown():
    s = summarize([rm(0, "z", acc=1.0), rm(1, "a", acc=0.0)])
    assert list(s["datasets"]) == ["a", "z"] and s["overall"]["accuracy"] == 0.5


def test_bootstrap_edge_cases():
    assert bootstrap_ci([], 10)["accuracy"] is None
    ci = bootstrap_ci([rm(0, acc=None, g=None)], 50)
    assert ci["accuracy"] is None and ci["format_ok"] == [1.0, 1.0]
    with pytest.raises(Exception, match="at least 1"):
        bootstrap_ci([rm(0)], 0)


def test_metric_config_follows_the_preset():
    cfg = metric_config("grit")
    acc = cfg.rewards[0]
    assert acc.component == "accuracy" and acc.name == "judge" and acc.fallback == "answer_match"
    assert [r.component for r in metric_config("r1").rewards][1:] == [
        "grounding_iou", "matched_iou", "f1_50", "box_valid"]
    assert metric_config("r1").grammar == "r1"


def test_sample_data_evaluates():
    root = Path(__file__).resolve().parents[1] / "examples" / "data"
    report = evaluate(root / "sample_outputs.jsonl")
    assert not report.errors
    assert report.overall["duplicates"] == 1  # the shipped file repeats one record on purpose
    assert set(report.datasets) == {"vsr", "tallyqa", "gqa"}


# --------------------------------------------------------------------------- with a judge
@pytest.fixture()
def judge_server(monkeypatch):
    """A chat-completions server on loopback: 0.5 for the answer 'Yes', 0 otherwise."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            prompt = body["messages"][-1]["content"]
            score = "0.5" if prompt.rstrip().endswith("answer: Yes") else "0"
            reply = {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                     "choices": [{"index": 0, "finish_reason": "stop",
                                  "message": {"role": "assistant", "content": "{score: " + score + "}"}}],
                     "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
            data = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_judge_gives_accuracy_raw_by_default(judge_server: str, tmp_path: Path, capsys):
    # Two records: the judge gives 0.5 to "Yes" and 0 to "No".
    # raw: (0.5 + 0) / 2 = 0.25; binarised (> 0 counts as 1): (1 + 0) / 2 = 0.5
    data = tmp_path / "j.jsonl"
    data.write_text("\n".join(json.dumps({**RECORDS[i], "output": out("x", a)})
                              for i, a in ((0, "Yes"), (1, "No"))) + "\n", encoding="utf-8")
    config = tmp_path / "judge.toml"
    config.write_text(f'[[rewards]]\nname = "judge"\noptions = {{ base_url = "{judge_server}", '
                      f'model = "m", max_retries = 0, binarize = true }}\n', encoding="utf-8")
    assert main(["eval", str(data), "--config", str(config), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["meta"]["accuracy_reward"] == "judge"
    assert report["overall"]["accuracy"] == pytest.approx(0.25)  # the config's binarize is overridden
    assert main(["eval", str(data), "--config", str(config), "--json", "--binarize-judge"]) == 0
    assert json.loads(capsys.readouterr().out)["overall"]["accuracy"] == pytest.approx(0.5)
