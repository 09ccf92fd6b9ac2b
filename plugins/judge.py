"""``judge``: an LLM judge through any OpenAI-compatible chat-completions endpoint.

GRIT's answer reward asks GPT-4o to score the model's answer against the
reference with the prompt below, parses a number out of the reply and (in the
trainer) binarises it. This reward does the same through the ``openai`` client
(imported on first use) against any endpoint (vLLM, SGLang, Ollama, OpenAI,
Azure's v1 API), with a timeout, retries with exponential backoff, a
concurrency limit, an on-disk SQLite cache of verdicts, and an explicit failure
policy: a failed call raises or gives ``None``, never a silent 0 (GRIT's 0 only
when asked, ``on_failure = "zero"``, with a warning that counts them). Any reply
that is not a chat completion (an HTML page on HTTP 200, no ``choices``, a
content that is not text) is a failed call, retried like a server error.

Training: :func:`for_training` makes a config's judges give ``None`` on failure
(left out of TRL's sum) instead of raising, and :func:`tally` counts the verdicts
asked for and the failures in this process, so an adapter can log the failure
rate (:data:`FAILURE_RATE_METRIC`) for each batch (:func:`log_failure_rate`).

It is an ``async def`` reward: the composer awaits many of them at once, and the
semaphore bounds how many requests are in flight per event loop.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sqlite3
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any, Literal, Optional

from pydantic import Field

from gritkit.errors import RewardError
from gritkit.hookspecs import hookimpl
from gritkit.models import ParseResult, Sample

from ._common import RewardOptions

log = logging.getLogger(__name__)

#: GRIT's judge prompt (``gpt_score_reward`` in ``grpo-gr/rewards.py``), verbatim:
#: typographic apostrophes (U+2019) in "model’s"/"Model’s", a space before the
#: newline after the question and the standard answer, literal ``{score: <score>}``.
#: Placeholders: ``{question}``, ``{answer}`` (the reference), ``{prediction}``.
GRIT_JUDGE_PROMPT = (
    "You are responsible for proofreading the answers, you need to give a score to the model\u2019s answer "
    "by referring to the standard answer, based on the given question. The full score is 1 point and the "
    "minimum score is 0 points. Please output the score in the json form \"{score: <score>}\". The "
    "evaluation criteria require that the closer the model\u2019s answer is to the standard answer, the "
    "higher the score.\n"
    "Question: {question} \n"
    "Standard answer: {answer} \n"
    "Model\u2019s answer: {prediction}"
)

ENV_BASE_URL = "GRITKIT_JUDGE_BASE_URL"
ENV_MODEL = "GRITKIT_JUDGE_MODEL"
ENV_API_KEY = "GRITKIT_JUDGE_API_KEY"
#: Sent when no key is configured: local servers (vLLM, SGLang) ignore it, and the
#: openai client refuses an empty key.
NO_API_KEY = "EMPTY"


class JudgeOptions(RewardOptions):
    """Options of the ``judge`` reward."""

    base_url: Optional[str] = Field(
        None, description=f"endpoint base URL, e.g. http://localhost:8000/v1; else ${ENV_BASE_URL}, "
                          "else $OPENAI_BASE_URL")
    model: Optional[str] = Field(None, description=f"model name; else ${ENV_MODEL}")
    api_key: Optional[str] = Field(
        None, repr=False, description=f"API key; else ${ENV_API_KEY}, else $OPENAI_API_KEY, else '{NO_API_KEY}'")
    timeout: float = Field(60.0, gt=0, description="seconds per request")
    max_retries: int = Field(3, ge=0, description="retries after the first attempt (server errors, timeouts, "
                                                  "rate limits, unparsable replies)")
    backoff_initial: float = Field(1.0, ge=0, description="seconds before the first retry; doubles each retry")
    backoff_max: float = Field(30.0, ge=0, description="longest wait between retries")
    concurrency: int = Field(16, ge=1, description="requests in flight at once (per event loop)")
    cache_path: Optional[str] = Field(
        None, description="SQLite file caching verdicts by model + prompt (None: no cache)")
    on_failure: Literal["raise", "none", "zero"] = Field(
        "raise", description="when every attempt fails: raise RewardError; give None (not applicable); or 'zero': "
                             "0.0 as GRIT's code does, with a warning that counts them (only when asked)")
    binarize: bool = Field(False, description="map the score to 1.0 when > binarize_threshold, else 0.0 "
                                              "(GRIT's trainer does this)")
    binarize_threshold: float = Field(0.0, description="binarize: scores above this become 1.0 (GRIT: > 0)")
    score_parsing: Literal["robust", "official"] = Field(
        "robust", description="'robust': JSON, 'score: x', 'The score is x', x/10, x%, a bare number, clamped "
                              "to [0, 1]; 'official': GRIT's string surgery ('The score is 0.5' gives 0.0)")
    answer_text: Literal["parsed", "official"] = Field(
        "parsed", description="'parsed': the stripped answer section (no call for an empty one); 'official': "
                              "the raw text after the first '<answer>' up to '</answer>', as GRIT sends it")
    prompt: str = Field(GRIT_JUDGE_PROMPT, description="prompt template with {question}, {answer}, {prediction}")
    temperature: Optional[float] = Field(None, description="sampling temperature (None: the server's default, as GRIT)")
    max_tokens: Optional[int] = Field(None, gt=0, description="cap on the reply length (None: the server's default)")
    skip_datasets: tuple[str, ...] = Field(
        ("ovd",), description="samples whose dataset contains one of these strings get skipped_value without "
                              "a call (GRIT: 'ovd')")
    skipped_value: Optional[float] = Field(0.0, description="value for skipped datasets (GRIT: 0; None: not applicable)")


DEFAULT = JudgeOptions()


def endpoint(options: JudgeOptions, environ=None) -> tuple[Optional[str], Optional[str], str]:
    """``(base_url, model, api_key)`` from the options, else the environment."""
    env = os.environ if environ is None else environ
    base_url = options.base_url or env.get(ENV_BASE_URL) or env.get("OPENAI_BASE_URL")
    model = options.model or env.get(ENV_MODEL)
    api_key = options.api_key or env.get(ENV_API_KEY) or env.get("OPENAI_API_KEY") or NO_API_KEY
    return base_url, model, api_key


def check(options: Optional[JudgeOptions]) -> Optional[str]:
    """Why the judge cannot run as configured, or ``None`` when it can."""
    o = options or DEFAULT
    base_url, model, _ = endpoint(o)
    missing = []
    if not base_url:
        missing.append(f"base URL (option base_url or ${ENV_BASE_URL})")
    if not model:
        missing.append(f"model (option model or ${ENV_MODEL})")
    if missing:
        return "the judge has no " + " and no ".join(missing)
    try:
        import openai  # noqa: F401
    except ImportError:
        return "the judge needs the openai package (pip install 'gritkit[judge]')"
    return None


# ---------------------------------------------------------------- failures, counted

#: The metric name an adapter logs the judge's failure rate under (``log_metric``).
FAILURE_RATE_METRIC = "grit/judge_failure_rate"


@dataclass(frozen=True)
class JudgeTally:
    """Judge verdicts in this process: ``asked`` (completions the judge was asked to
    score, cache hits included), ``failed`` (every attempt failed, whatever
    ``on_failure`` then did) and ``zeroed`` (of those, scored 0 under
    ``on_failure = "zero"``). Subtract two snapshots to count one batch.

    >>> (JudgeTally(10, 3, 1) - JudgeTally(6, 2, 0)).failure_rate
    0.25
    """

    asked: int = 0
    failed: int = 0
    zeroed: int = 0

    def __sub__(self, other: "JudgeTally") -> "JudgeTally":
        return JudgeTally(self.asked - other.asked, self.failed - other.failed, self.zeroed - other.zeroed)

    @property
    def failure_rate(self) -> Optional[float]:
        """``failed / asked``, or ``None`` when nothing was asked."""
        return self.failed / self.asked if self.asked else None


_tally = [0, 0, 0]
_tally_lock = threading.Lock()


def _count(asked: int = 0, failed: int = 0, zeroed: int = 0) -> tuple[int, int, int]:
    with _tally_lock:
        _tally[0] += asked
        _tally[1] += failed
        _tally[2] += zeroed
        return _tally[0], _tally[1], _tally[2]


def tally() -> JudgeTally:
    """A snapshot of this process's judge counters (they only grow).

    >>> before = tally()
    >>> # ... score a batch ...
    >>> (tally() - before).failure_rate is None   # nothing was asked
    True
    """
    with _tally_lock:
        return JudgeTally(*_tally)


def log_failure_rate(before: JudgeTally, log_metric: Any) -> Optional[float]:
    """Log the share of judge verdicts that failed since ``before`` (a :func:`tally`
    snapshot) as :data:`FAILURE_RATE_METRIC` through ``log_metric`` (TRL's
    ``log_metric(name, value)``), when the judge was asked anything; return it.

    A logger that raises is logged as a warning: logging never ends a training step.

    >>> seen = []
    >>> log_failure_rate(tally(), lambda name, value: seen.append((name, value))) is None, seen
    (True, [])
    """
    rate = (tally() - before).failure_rate
    if rate is not None and callable(log_metric):
        try:
            log_metric(FAILURE_RATE_METRIC, rate)
        except Exception as exc:  # pragma: no cover - depends on the trainer's logger
            log.warning("judge: logging %s through %r failed: %s", FAILURE_RATE_METRIC, log_metric, exc)
    return rate


def for_training(config: Any) -> Any:
    """``config`` (a ``RewardConfig``) with every judge component that does not set
    ``on_failure`` set to ``"none"``: during training a failed judge call is left out
    of that completion's sum (TRL's ``None``) instead of ending the run. An explicit
    ``on_failure`` (``"raise"``, or ``"zero"`` to reproduce GRIT's code) is kept.
    A config without a judge is returned unchanged.
    """
    specs = []
    changed = False
    for spec in config.rewards:
        update: dict = {}
        if spec.name == "judge" and "on_failure" not in spec.options:
            update["options"] = {**spec.options, "on_failure": "none"}
        if spec.fallback == "judge" and "on_failure" not in spec.fallback_options:
            update["fallback_options"] = {**spec.fallback_options, "on_failure": "none"}
        if update:
            changed = True
            spec = spec.model_copy(update=update)
        specs.append(spec)
    return config.model_copy(update={"rewards": specs}) if changed else config


# ---------------------------------------------------------------- score parsing

_NUM = r"(\d+(?:\.\d+)?|\.\d+)"
_SCORE = re.compile(r"\bscore\b[\"'\s]*(?:[:=]|\bis\b|\bof\b)?\s*(?:of\b)?\s*[\"']?\s*(-?)" + _NUM
                    + r"(?:\s*(?:/|\bout of\b)\s*" + _NUM + r"|\s*(%))?", re.IGNORECASE)
_BARE = re.compile(r"\s*(-?)" + _NUM + r"\s*(?:/\s*" + _NUM + r"|(%))?\s*\.?\s*")
_OFFICIAL_DROP = re.compile(r"[^\w\s\.]")
_OFFICIAL_KEEP = re.compile(r"[^\d.]")


def parse_score(content: Optional[str]) -> float:
    """The score in a judge's reply, clamped to ``[0, 1]``; ``ValueError`` when there is none.

    The last ``score`` followed by a number wins (``{score: 0.8}``,
    ``{"score": 0.8}``, ``score: 0.8``, ``The score is 0.8``, ``Score: 8/10``,
    ``score of 80%``); else a reply that is only a number.

    >>> [parse_score(s) for s in ["{score: 0.75}", '{"score": 1}', "The score is 0.5", "Score: 8/10", "0.3", "score: 7"]]
    [0.75, 1.0, 0.5, 0.8, 0.3, 1.0]
    """
    if content is None:
        raise ValueError("the judge's reply has no content")
    found = _SCORE.findall(content)
    if found:
        sign, value, denominator, percent = found[-1]
    else:
        m = _BARE.fullmatch(content)
        if m is None:
            raise ValueError(f"no score in the judge's reply {content[:200]!r}")
        sign, value, denominator, percent = m.groups()
    x = float(value)
    if denominator:
        d = float(denominator)
        if d == 0:
            raise ValueError(f"score with a zero denominator in {content[:200]!r}")
        x /= d
    elif percent:
        x /= 100.0
    if sign:
        x = -x
    return min(1.0, max(0.0, x))


def parse_score_official(content: Optional[str]) -> float:
    """GRIT's parsing: lowercase, drop every char outside ``[\\w\\s.]``, take the text
    after the **last** "score", keep its first 5 characters, drop every char
    outside ``[\\d.]``, ``float()``. ``ValueError`` when that fails (GRIT retries).

    >>> parse_score_official("{score: 0.75}"), parse_score_official("The score is 0.5")
    (0.75, 0.0)
    """
    if content is None:
        raise ValueError("the judge's reply has no content")
    out = _OFFICIAL_DROP.sub("", content.strip().lower())
    return float(_OFFICIAL_KEEP.sub("", out.split("score")[-1][:5]))


# ---------------------------------------------------------------- the verdict cache

class VerdictCache:
    """Judge replies on disk (SQLite), keyed by ``sha256(model + "\\n" + prompt)``.

    Safe across threads (one connection behind a lock) and processes (WAL
    journal, busy timeout). Only replies that parsed are stored.
    """

    def __init__(self, path: str):
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=30.0, check_same_thread=False, isolation_level=None)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS verdicts (key TEXT PRIMARY KEY, model TEXT NOT NULL, "
                             "prompt TEXT NOT NULL, content TEXT NOT NULL, created REAL NOT NULL)")

    @staticmethod
    def key(model: str, prompt: str) -> str:
        return hashlib.sha256(f"{model}\n{prompt}".encode()).hexdigest()

    def get(self, model: str, prompt: str) -> Optional[str]:
        with self._lock:
            row = self._db.execute("SELECT content FROM verdicts WHERE key = ?",
                                   (self.key(model, prompt),)).fetchone()
        return row[0] if row else None

    def put(self, model: str, prompt: str, content: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO verdicts VALUES (?, ?, ?, ?, ?)",
                             (self.key(model, prompt), model, prompt, content, time.time()))

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0]


# ---------------------------------------------------------------- the client

class JudgeClient:
    """One endpoint + options: an ``AsyncOpenAI`` client and a semaphore per event
    loop (both are bound to the loop they are first used in), the verdict cache,
    and the retry loop."""

    def __init__(self, options: JudgeOptions, base_url: str, model: str, api_key: str):
        self.options = options
        self.base_url, self.model, self._api_key = base_url, model, api_key
        self.cache = VerdictCache(options.cache_path) if options.cache_path else None
        self._loops: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
        self._parse = parse_score_official if options.score_parsing == "official" else parse_score

    def _for_loop(self):
        import asyncio  # here, not at import: loading the plugins stays light

        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:
            from openai import AsyncOpenAI

            client = AsyncOpenAI(base_url=self.base_url, api_key=self._api_key,
                                 timeout=self.options.timeout, max_retries=0)
            state = self._loops[loop] = (client, asyncio.Semaphore(self.options.concurrency))
        return state

    async def _ask(self, prompt: str) -> str:
        client, semaphore = self._for_loop()
        o = self.options
        extra = {}
        if o.temperature is not None:
            extra["temperature"] = o.temperature
        if o.max_tokens is not None:
            extra["max_tokens"] = o.max_tokens
        async with semaphore:
            response = await client.chat.completions.create(
                model=self.model, messages=[{"role": "user", "content": prompt}], **extra)
        return reply_content(response)

    async def score(self, prompt: str) -> float:
        """The judge's score for ``prompt``; ``RewardError`` when every attempt failed."""
        import openai

        if self.cache is not None:
            content = self.cache.get(self.model, prompt)
            if content is not None:
                try:
                    return self._parse(content)
                except ValueError:
                    pass  # cached under another parsing mode: ask again
        o = self.options
        attempts = 1 + o.max_retries
        last: Optional[BaseException] = None
        for attempt in range(attempts):
            if attempt:
                await _sleep(min(o.backoff_max, o.backoff_initial * 2 ** (attempt - 1)))
            try:
                content = await self._ask(prompt)
                value = self._parse(content)
            except Exception as exc:  # any failed call: an API error, a reply that is no chat completion
                last = exc
                if _retryable(exc, openai):
                    continue
                break  # a 400, 401, 403, 404 or 422: asking again cannot help
            if self.cache is not None:
                self.cache.put(self.model, prompt, content)
            return value
        raise RewardError(
            f"The judge gave no verdict after {attempt + 1} attempt(s) (model {self.model!r} at {self.base_url}).\n"
            f"Last error: {type(last).__name__}: {last}\n"
            "Check the endpoint, or set on_failure = 'none' to score such samples as not applicable.")


class NotAChatCompletion(ValueError):
    """The endpoint answered, but not with a chat completion (an HTML page, no choices, ...)."""


def reply_content(response: Any) -> str:
    """The text of a chat completion's first choice.

    Raises:
        NotAChatCompletion: the reply is not a chat completion: not an object with a
            non-empty ``choices`` list whose first entry has a ``message`` with a
            text ``content`` (a proxy's HTML error page on HTTP 200 arrives as a ``str``).
        ValueError: the message has no content.

    >>> try:
    ...     reply_content("<html>Bad gateway</html>")
    ... except NotAChatCompletion as exc:
    ...     print(exc)
    the judge's reply is not a chat completion (a str body): '<html>Bad gateway</html>'
    """
    if response is None or isinstance(response, (str, bytes, list, dict, int, float)):
        raise _not_chat(response, f"a {type(response).__name__} body")
    choices = getattr(response, "choices", None)
    if not isinstance(choices, list) or not choices:
        raise _not_chat(response, f"choices is a {type(choices).__name__}" if choices else "no choices")
    message = getattr(choices[0], "message", None)
    if message is None or isinstance(message, str) or not hasattr(message, "content"):
        raise _not_chat(response, "the first choice has no message")
    content = message.content
    if content is None:
        raise ValueError("the judge's reply has no content")
    if not isinstance(content, str):
        raise _not_chat(response, f"the message content is a {type(content).__name__}")
    return content


def _not_chat(response: Any, why: str) -> NotAChatCompletion:
    shown = response if isinstance(response, (str, bytes)) else repr(response)
    return NotAChatCompletion(f"the judge's reply is not a chat completion ({why}): {str(shown)[:200]!r}")


def _retryable(exc: BaseException, openai) -> bool:
    """Every failed call is worth a retry (unparsable replies, replies that are no chat
    completion, connection errors and timeouts, 408, 409, 429, 5xx), except the other
    4xx statuses, which asking again cannot change."""
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409, 429) or exc.status_code >= 500
    return True


_clients: dict = {}
_clients_lock = threading.Lock()


def get_client(options: JudgeOptions) -> JudgeClient:
    """The shared :class:`JudgeClient` of these options and the current environment."""
    base_url, model, api_key = endpoint(options)
    key = (options, base_url, model, api_key)
    client = _clients.get(key)
    if client is None:
        reason = check(options)
        if reason:
            raise RewardError(f"{reason[0].upper()}{reason[1:]}.")
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = JudgeClient(options, base_url, model, api_key)
    return client


# ---------------------------------------------------------------- the reward

_ANSWER_OPEN, _ANSWER_CLOSE = "<answer>", "</answer>"
_PLACEHOLDER = re.compile(r"\{(question|answer|prediction)\}")


def official_answer(text: str) -> Optional[str]:
    """GRIT's answer extraction: after the first ``<answer>``, up to the next
    ``</answer>`` (or the end), unstripped; ``None`` without ``<answer>``."""
    i = text.find(_ANSWER_OPEN)
    if i < 0:
        return None
    return text[i + len(_ANSWER_OPEN):].split(_ANSWER_CLOSE, 1)[0]


def render_prompt(template: str, question: str, answer: str, prediction: str) -> str:
    """Fill the three placeholders in one pass (a ``{answer}`` inside the question stays as written).

    >>> render_prompt("Q: {question} A: {answer} P: {prediction} {score: <score>}", "{answer}?", "7", "7")
    'Q: {answer}? A: 7 P: 7 {score: <score>}'
    """
    values = {"question": question, "answer": answer, "prediction": prediction}
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


async def judge_reward(result: ParseResult, sample: Sample, options: Optional[JudgeOptions] = None) -> Optional[float]:
    """The judge's score of the completion's answer against the reference.

    Range ``[0, 1]`` (``{0, 1}`` with ``binarize``; official parsing does not
    clamp). ``None`` when the sample has no reference answer, or when every
    attempt failed and ``on_failure`` is ``"none"`` (0.0 with a counting warning
    under ``"zero"``). Each verdict asked for, and each failure, is counted in
    :func:`tally`. ``skipped_value`` for the
    ``skip_datasets`` ("ovd"). 0.0 without a call when the completion has no
    answer (or an empty one, with ``answer_text="parsed"``).

    Raises:
        RewardError: every attempt failed and ``on_failure`` is ``"raise"``, or
            no endpoint is configured.
    """
    o = options or DEFAULT
    if sample.answer is None:
        return None
    dataset = sample.dataset or ""
    if any(s in dataset for s in o.skip_datasets):
        return o.skipped_value
    if o.answer_text == "official":
        prediction = official_answer(result.text)
        if prediction is None:
            return 0.0
    else:
        prediction = result.answer
        if not prediction:
            return 0.0
    client = get_client(o)
    prompt = render_prompt(o.prompt, sample.question or "", sample.answer, prediction)
    try:
        value = await client.score(prompt)
    except RewardError as exc:
        if o.on_failure == "zero":
            _, failed, zeroed = _count(asked=1, failed=1, zeroed=1)
            log.warning("judge: %s; scored 0 as GRIT's code does (on_failure = 'zero'): %d verdict(s) scored 0 "
                        "this way so far (%d failed in all).", str(exc).splitlines()[0], zeroed, failed)
            return 0.0
        _count(asked=1, failed=1)
        if o.on_failure == "raise":
            raise
        log.warning("judge: %s", str(exc).splitlines()[0])
        return None
    _count(asked=1)
    if o.binarize:
        return 1.0 if value > o.binarize_threshold else 0.0
    return value


@hookimpl
def register_rewards(register) -> None:
    register(judge_reward, name="judge", requires=("answer",), options=JudgeOptions, check=check,
             description="LLM judge via an OpenAI-compatible endpoint with GRIT's prompt; cached, retried, bounded")


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)
