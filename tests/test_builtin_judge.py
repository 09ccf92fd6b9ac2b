"""The ``judge`` reward against a real chat-completions server on loopback.

The server (``http.server`` in a thread, random port) answers
``POST /v1/chat/completions`` like an OpenAI-compatible endpoint; each test
scripts its replies, failures and delays, and counts requests and how many are
in flight at once. Every test is bounded in requests and seconds.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import gritkit
from gritkit.builtin import judge as judge_module
from gritkit.builtin.judge import (GRIT_JUDGE_PROMPT, JudgeOptions, VerdictCache, check, judge_reward,
                                   parse_score, parse_score_official, render_prompt)
from gritkit.errors import RewardError
from gritkit.models import Sample

pytest.importorskip("openai")

COMPLETION = "<think>(1, 2, 3, 4)</think><rethink>r</rethink><answer>\nYes\n</answer>"
SAMPLE = Sample(answer="Yes", question="Is the truck beneath the cat?", dataset="vsr")


class ChatServer:
    """A chat-completions endpoint with scripted behaviour."""

    def __init__(self):
        self.reply = lambda body: "{score: 1}"
        self.fail_first = 0           # answer the first N requests with this status
        self.fail_status = 500
        self.delay = 0.0              # seconds before answering
        self.raw_first = 0            # answer the first N requests on HTTP 200 with raw_body
        self.raw_body = ("text/html", b"<html><body>502 Bad Gateway</body></html>")
        self.requests: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        self.release = threading.Event()   # set at teardown so sleeping handlers return at once
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append({"path": self.path, "body": body,
                                            "auth": self.headers.get("Authorization")})
                    n = len(server.requests)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    if server.delay:
                        server.release.wait(server.delay)
                    if self.path != "/v1/chat/completions":
                        self._send(404, {"error": {"message": "not found"}})
                    elif n <= server.fail_first:
                        self._send(server.fail_status, {"error": {"message": "scripted failure"}})
                    elif n <= server.raw_first:
                        self._send_raw(200, *server.raw_body)
                    else:
                        content = server.reply(body)
                        self._send(200, {
                            "id": f"chatcmpl-{n}", "object": "chat.completion", "created": 0,
                            "model": body["model"],
                            "choices": [{"index": 0, "finish_reason": "stop",
                                         "message": {"role": "assistant", "content": content}}],
                            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
                except (BrokenPipeError, ConnectionResetError):
                    pass   # the client gave up (a timeout test)
                finally:
                    with server.lock:
                        server.in_flight -= 1

            def _send(self, status, payload):
                self._send_raw(status, "application/json", json.dumps(payload).encode())

            def _send_raw(self, status, content_type, data):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    for var in ("GRITKIT_JUDGE_BASE_URL", "GRITKIT_JUDGE_MODEL", "GRITKIT_JUDGE_API_KEY",
                "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(judge_module, "_clients", {})
    s = ChatServer()
    yield s
    s.close()


def opts(server: ChatServer, **kw) -> JudgeOptions:
    base = dict(base_url=server.base_url, model="judge-model", timeout=5.0, max_retries=2,
                backoff_initial=0.01, backoff_max=0.05)
    return JudgeOptions(**{**base, **kw})


def run(options, completion=COMPLETION, sample=SAMPLE):
    return asyncio.run(judge_reward(gritkit.try_parse(completion), sample, options))


def run_many(options, n, sample=SAMPLE, distinct=True):
    async def go():
        results = [gritkit.try_parse(COMPLETION.replace("Yes", f"Yes {i}" if distinct else "Yes"))
                   for i in range(n)]
        return await asyncio.gather(*(judge_reward(r, sample, options) for r in results))
    return asyncio.run(go())


# ---------------------------------------------------------------- the protocol and the prompt

def test_sends_grits_prompt_and_parses_the_score(server):
    assert run(opts(server)) == 1.0
    assert len(server.requests) == 1
    req = server.requests[0]
    assert req["path"] == "/v1/chat/completions"
    assert req["body"]["model"] == "judge-model"
    assert "temperature" not in req["body"]          # GRIT: the server's default sampling
    assert req["auth"] == "Bearer EMPTY"
    (message,) = req["body"]["messages"]
    assert message["role"] == "user"
    assert message["content"] == (
        "You are responsible for proofreading the answers, you need to give a score to the model\u2019s answer by "
        "referring to the standard answer, based on the given question. The full score is 1 point and the minimum "
        "score is 0 points. Please output the score in the json form \"{score: <score>}\". The evaluation criteria "
        "require that the closer the model\u2019s answer is to the standard answer, the higher the score.\n"
        "Question: Is the truck beneath the cat? \nStandard answer: Yes \nModel\u2019s answer: Yes")


def test_prompt_has_typographic_apostrophes():
    assert GRIT_JUDGE_PROMPT.count("\u2019") == 3 and "'" not in GRIT_JUDGE_PROMPT.replace("{score", "")


def test_official_answer_text_is_sent_unstripped(server):
    run(opts(server, answer_text="official"))
    assert server.requests[0]["body"]["messages"][0]["content"].endswith("Model\u2019s answer: \nYes\n")


def test_options_reach_the_request(server):
    run(opts(server, temperature=0.0, max_tokens=16, api_key="secret", prompt="Q={question} A={answer} P={prediction}"))
    body = server.requests[0]["body"]
    assert body["temperature"] == 0.0 and body["max_tokens"] == 16
    assert server.requests[0]["auth"] == "Bearer secret"
    assert body["messages"][0]["content"] == "Q=Is the truck beneath the cat? A=Yes P=Yes"
    assert "secret" not in repr(opts(server, api_key="secret"))


@pytest.mark.parametrize("reply, robust, official", [
    ("{score: 0.75}", 0.75, 0.75),
    ('{"score": 0.5}', 0.5, 0.5),
    ("The score is 0.5", 0.5, 0.0),      # GRIT's parsing reads " is 0"
    ("score: 1.0", 1.0, 1.0),
    # GRIT: "score: 8/10" -> "score 810" (the slash dropped) -> " 810" -> 810.0, unclamped
    ("Score: 8/10", 0.8, 810.0),
])
def test_score_parsing_modes(server, reply, robust, official):
    server.reply = lambda body: reply
    assert run(opts(server)) == pytest.approx(robust)
    judge_module._clients.clear()
    assert run(opts(server, score_parsing="official")) == pytest.approx(official)


def test_parse_score_by_hand():
    assert parse_score("{score: 1.2}") == 1.0            # clamped
    assert parse_score("score: -0.5") == 0.0
    assert parse_score("Score: 80%") == 0.8
    assert parse_score("0.25") == 0.25
    for bad in ["I do not know.", "", "score: ?", None]:
        with pytest.raises(ValueError):
            parse_score(bad)
    # GRIT's: lowercase, keep [\w\s.], after the last "score", 5 chars, keep [\d.]
    assert parse_score_official("{score: 0.123456}") == 0.12        # " 0.123456"[:5] = " 0.12"
    # the text after the LAST "score": "score: 1 (the score)" -> ")" dropped -> "" -> ValueError
    with pytest.raises(ValueError):
        parse_score_official("score: 1 (the score)")
    with pytest.raises(ValueError):
        parse_score_official("I do not know.")


def test_binarize(server):
    server.reply = lambda body: "{score: 0.1}"
    assert run(opts(server, binarize=True)) == 1.0
    judge_module._clients.clear()
    server.reply = lambda body: "{score: 0}"
    assert run(opts(server, binarize=True)) == 0.0
    judge_module._clients.clear()
    server.reply = lambda body: "{score: 0.4}"
    assert run(opts(server, binarize=True, binarize_threshold=0.5)) == 0.0


# ---------------------------------------------------------------- no call needed

def test_cases_that_make_no_request(server):
    o = opts(server)
    assert run(o, completion="<think>t</think><rethink>r</rethink>") == 0.0       # no answer
    assert run(o, completion="<think>t</think><rethink>r</rethink><answer> </answer>") == 0.0
    assert run(o, sample=Sample(answer="x", dataset="ovd_position")) == 0.0      # GRIT: ovd -> 0
    assert run(opts(server, skipped_value=None), sample=Sample(answer="x", dataset="ovd_position")) is None
    assert run(o, sample=Sample(answer=None)) is None
    assert server.requests == []


# ---------------------------------------------------------------- failures

def test_retries_server_errors_with_backoff(server):
    server.fail_first = 2
    t0 = time.monotonic()
    assert run(opts(server, max_retries=2, backoff_initial=0.05, backoff_max=1.0)) == 1.0
    # 3 requests; waits 0.05 then 0.1 before the retries
    assert len(server.requests) == 3
    assert time.monotonic() - t0 >= 0.15


def test_gives_up_after_max_retries_and_raises(server):
    server.fail_first = 100
    with pytest.raises(RewardError, match="no verdict after 3 attempt"):
        run(opts(server, max_retries=2))
    assert len(server.requests) == 3


def test_failure_policy_none_gives_none_never_zero(server, caplog):
    server.fail_first = 100
    assert run(opts(server, max_retries=1, on_failure="none")) is None
    assert len(server.requests) == 2
    assert "no verdict" in caplog.text


def test_client_errors_are_not_retried(server):
    server.fail_first, server.fail_status = 100, 401
    with pytest.raises(RewardError, match="AuthenticationError"):
        run(opts(server, max_retries=3))
    assert len(server.requests) == 1


def test_rate_limits_are_retried(server):
    server.fail_first, server.fail_status = 1, 429
    assert run(opts(server)) == 1.0
    assert len(server.requests) == 2


def test_unparsable_replies_are_retried(server):
    replies = iter(["I do not know.", "{score: 0.5}"])
    server.reply = lambda body: next(replies)
    assert run(opts(server)) == 0.5
    assert len(server.requests) == 2


def test_timeout(server):
    server.delay = 3.0
    t0 = time.monotonic()
    with pytest.raises(RewardError, match="Timeout"):
        run(opts(server, timeout=0.2, max_retries=1))
    elapsed = time.monotonic() - t0
    assert len(server.requests) == 2
    assert elapsed < 2.0


def test_wrong_url_fails_cleanly(server):
    o = JudgeOptions(base_url=server.base_url.replace("/v1", "/nope"), model="m", max_retries=0)
    with pytest.raises(RewardError, match="NotFoundError"):
        run(o)


# ---------------------------------------------------------------- concurrency and cache

def test_concurrency_limit(server):
    server.delay = 0.15
    t0 = time.monotonic()
    values = run_many(opts(server, concurrency=2), 6)
    assert values == [1.0] * 6
    assert len(server.requests) == 6
    assert server.max_in_flight == 2
    assert time.monotonic() - t0 >= 0.15 * 3 - 0.05    # three waves of two


def test_without_a_tight_limit_requests_overlap(server):
    server.delay = 0.15
    run_many(opts(server, concurrency=8), 4)
    assert server.max_in_flight == 4


def test_sqlite_cache_hits_make_no_request(server, tmp_path):
    path = str(tmp_path / "verdicts.sqlite")
    server.reply = lambda body: "{score: 0.5}"
    assert run_many(opts(server, cache_path=path), 3) == [0.5] * 3
    assert len(server.requests) == 3
    judge_module._clients.clear()             # a new process would start here
    server.reply = lambda body: "{score: 0}"  # a different verdict would show if the server were asked
    assert run_many(opts(server, cache_path=path), 3) == [0.5] * 3
    assert len(server.requests) == 3
    assert len(VerdictCache(path)) == 3
    # the key is model + prompt: another model asks again
    assert run(opts(server, cache_path=path, model="other-judge")) == 0.0
    assert len(server.requests) == 4


def test_failed_calls_are_not_cached(server, tmp_path):
    path = str(tmp_path / "verdicts.sqlite")
    server.fail_first = 100
    assert run(opts(server, cache_path=path, max_retries=0, on_failure="none")) is None
    assert len(VerdictCache(path)) == 0


def test_several_event_loops_in_a_row(server):
    o = opts(server)
    assert [run(o) for _ in range(3)] == [1.0, 1.0, 1.0]


# ---------------------------------------------------------------- configuration

def test_check_reports_a_missing_endpoint(monkeypatch):
    for var in ("GRITKIT_JUDGE_BASE_URL", "GRITKIT_JUDGE_MODEL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    reason = check(JudgeOptions())
    assert "base URL" in reason and "model" in reason
    assert "model" in check(JudgeOptions(base_url="http://x/v1")) and "base URL" not in check(
        JudgeOptions(base_url="http://x/v1"))
    monkeypatch.setenv("GRITKIT_JUDGE_BASE_URL", "http://x/v1")
    monkeypatch.setenv("GRITKIT_JUDGE_MODEL", "m")
    assert check(JudgeOptions()) is None
    info = gritkit.get_plugin_manager().rewards.get("judge")
    assert info.check is check and info.is_async


def test_environment_fallbacks(server, monkeypatch):
    monkeypatch.setenv("GRITKIT_JUDGE_BASE_URL", server.base_url)
    monkeypatch.setenv("GRITKIT_JUDGE_MODEL", "env-model")
    monkeypatch.setenv("OPENAI_API_KEY", "env-key")
    assert run(JudgeOptions(backoff_initial=0.01)) == 1.0
    assert server.requests[0]["body"]["model"] == "env-model"
    assert server.requests[0]["auth"] == "Bearer env-key"


def test_unconfigured_judge_raises_with_the_reason(monkeypatch):
    for var in ("GRITKIT_JUDGE_BASE_URL", "GRITKIT_JUDGE_MODEL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(RewardError, match="has no base URL"):
        run(JudgeOptions())


def test_through_the_composer(server):
    from gritkit.testing import score

    value = score("judge", COMPLETION, options={"base_url": server.base_url, "model": "m", "binarize": True},
                  answer="Yes", question="q")
    assert value == 1.0


def test_render_prompt_fills_once():
    assert render_prompt("{question}|{answer}|{prediction}", "{answer}", "a", "p") == "{answer}|a|p"


# ---------------------------------------------------------------- replies that are not chat completions

NOT_CHAT_COMPLETIONS = [
    ("text/html", b"<html><body>502 Bad Gateway</body></html>"),         # a proxy's page on HTTP 200
    ("application/json", b"<html>oops</html>"),                          # labelled JSON, is not
    ("application/json", b""),
    ("application/json", b"null"),
    ("application/json", b"[1, 2]"),
    ("application/json", b'"just a string"'),
    ("application/json", b'{"id": "x", "object": "chat.completion"}'),   # no choices
    ("application/json", b'{"choices": []}'),
    ("application/json", b'{"choices": "abc"}'),
    ("application/json", b'{"choices": [null]}'),
    ("application/json", b'{"choices": [{"message": "hi"}]}'),
    ("application/json", b'{"choices": [{"message": {"content": 5}}]}'),
    ("application/json", b'{"choices": [{"message": {"content": ["{score: 1}"]}}]}'),
    ("application/json", b'{"choices": [{"message": {"role": "assistant"}}]}'),
]


@pytest.mark.parametrize("body", NOT_CHAT_COMPLETIONS, ids=lambda b: b[1][:40].decode())
def test_a_reply_that_is_not_a_chat_completion_is_retried(server, body):
    server.raw_first, server.raw_body = 1, body
    assert run(opts(server)) == 1.0
    assert len(server.requests) == 2


@pytest.mark.parametrize("body", NOT_CHAT_COMPLETIONS[:1] + NOT_CHAT_COMPLETIONS[-3:],
                         ids=lambda b: b[1][:40].decode())
def test_replies_that_are_never_chat_completions_follow_the_policy(server, body, caplog):
    server.raw_first, server.raw_body = 100, body
    with pytest.raises(RewardError, match="no verdict after 3 attempt"):
        run(opts(server, max_retries=2))
    assert len(server.requests) == 3
    judge_module._clients.clear()
    assert run(opts(server, max_retries=1, on_failure="none")) is None
    assert len(server.requests) == 5
    assert "no verdict" in caplog.text


def test_the_html_reply_is_named_in_the_error(server):
    server.raw_first = 100
    with pytest.raises(RewardError) as info:
        run(opts(server, max_retries=0))
    assert "NotAChatCompletion" in str(info.value) and "502 Bad Gateway" in str(info.value)


# ---------------------------------------------------------------- failures during training

def test_tally_counts_verdicts_and_failures(server):
    before = judge_module.tally()
    # one completion of four never gets a parsable verdict
    server.reply = lambda body: "I do not know." if "answer: Yes 0" in body["messages"][0]["content"] else "{score: 1}"
    values = run_many(opts(server, max_retries=1, on_failure="none"), 4)
    delta = judge_module.tally() - before
    assert values.count(None) == 1 and values.count(1.0) == 3
    assert (delta.asked, delta.failed, delta.zeroed) == (4, 1, 0)
    assert delta.failure_rate == 0.25
    # no call, no count: no answer, a skipped dataset, no reference
    before = judge_module.tally()
    run(opts(server), completion="<think>t</think><rethink>r</rethink>")
    run(opts(server), sample=Sample(answer="x", dataset="ovd"))
    assert (judge_module.tally() - before).asked == 0
    # a raised failure is counted too
    server.fail_first = 100
    before = judge_module.tally()
    with pytest.raises(RewardError):
        run(opts(server, max_retries=0))
    assert (judge_module.tally() - before).failed == 1


def test_on_failure_zero_reproduces_grits_zero_with_a_counting_warning(server, caplog):
    server.raw_first = 100           # the official code's "I do not know." -> parse error -> 0 after retries
    before = judge_module.tally()
    o = opts(server, max_retries=2, on_failure="zero", score_parsing="official")
    assert run(o) == 0.0
    assert run(o) == 0.0
    assert len(server.requests) == 6  # retried first, as GRIT does (3 attempts each)
    delta = judge_module.tally() - before
    assert (delta.asked, delta.failed, delta.zeroed) == (2, 2, 2)
    warnings = [r.getMessage() for r in caplog.records if "on_failure = 'zero'" in r.getMessage()]
    assert len(warnings) == 2
    assert "scored 0" in warnings[1] and "so far" in warnings[1]
    assert int(warnings[1].split("): ")[1].split()[0]) >= 2   # the running count of zeros


def test_for_training_turns_judge_failures_into_none():
    from gritkit.config import load_config

    cfg = load_config("grit-official")
    trained = judge_module.for_training(cfg)
    judge_spec = next(r for r in trained.rewards if r.name == "judge")
    assert judge_spec.options["on_failure"] == "none"
    assert judge_spec.options["binarize"] is True            # the rest is kept
    assert next(r for r in cfg.rewards if r.name == "judge").options.get("on_failure") is None  # a copy
    # explicit choices are kept: GRIT's zero when asked for, or a crash when asked for
    for choice in ("zero", "raise"):
        explicit = load_config({"rewards": [{"name": "judge", "options": {"on_failure": choice}}]})
        assert judge_module.for_training(explicit).rewards[0].options["on_failure"] == choice
    # a judge used as a fallback
    fb = load_config({"rewards": [{"name": "answer_match", "fallback": "judge"}]})
    assert judge_module.for_training(fb).rewards[0].fallback_options == {"on_failure": "none"}
    # no judge: unchanged
    plain = load_config("r1")
    assert judge_module.for_training(plain) is plain


def test_for_training_through_the_composer_gives_none(server):
    from gritkit.compose import Composer
    from gritkit.config import load_config

    server.fail_first = 100
    cfg = load_config({"rewards": [{"name": "judge", "options": {
        "base_url": server.base_url, "model": "m", "max_retries": 0, "backoff_initial": 0.0}}]})
    composer = Composer(judge_module.for_training(cfg))
    (score,) = composer.score_many([COMPLETION], [SAMPLE])
    assert score.rewards["judge"] is None


def test_log_failure_rate_reports_one_batch(server):
    server.reply = lambda body: "I do not know." if "answer: Yes 1" in body["messages"][0]["content"] else "{score: 1}"
    logged = []
    before = judge_module.tally()
    run_many(opts(server, max_retries=0, on_failure="none"), 4)
    assert judge_module.log_failure_rate(before, lambda name, value: logged.append((name, value))) == 0.25
    assert logged == [("grit/judge_failure_rate", 0.25)]
    # nothing asked since: nothing logged
    assert judge_module.log_failure_rate(judge_module.tally(), logged.append) is None and len(logged) == 1
