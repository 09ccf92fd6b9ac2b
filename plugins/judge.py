"""``judge``: an LLM judge through any OpenAI-compatible chat-completions endpoint.

GRIT's answer reward asks GPT-4o to score the model's answer against the
reference with the prompt below, parses a number out of the reply and (in the
trainer) binarises it. This reward does the same through the ``openai`` client
(imported on first use) against any endpoint (vLLM, SGLang, Ollama, OpenAI,
Azure's v1 API), with a timeout, retries with exponential backoff, a
concurrency limit, an on-disk SQLite cache of verdicts, and an explicit failure
policy: a failed call raises or gives ``None``, never a silent 0.

It is an ``async def`` reward: the composer awaits many of them at once, and the
semaphore bounds how many requests are in flight per event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import sqlite3
import threading
import time
import weakref
from typing import Literal, Optional

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
    on_failure: Literal["raise", "none"] = Field(
        "raise", description="when every attempt fails: raise RewardError, or give None (not applicable)")
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
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:
            from openai import AsyncOpenAI

            client = AsyncOpenAI(base_url=self.base_url, api_key=self._api_key,
                                 timeout=self.options.timeout, max_retries=0)
            state = self._loops[loop] = (client, asyncio.Semaphore(self.options.concurrency))
        return state

    async def _ask(self, prompt: str) -> Optional[str]:
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
        return response.choices[0].message.content if response.choices else None

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
                await asyncio.sleep(min(o.backoff_max, o.backoff_initial * 2 ** (attempt - 1)))
            try:
                content = await self._ask(prompt)
                value = self._parse(content)
            except (ValueError, openai.APIError) as exc:
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


def _retryable(exc: BaseException, openai) -> bool:
    """Unparsable replies, connection errors and timeouts, 408, 409, 429 and 5xx are worth a retry."""
    if isinstance(exc, (ValueError, openai.APIConnectionError)):  # APITimeoutError is a connection error
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409, 429) or exc.status_code >= 500
    return False


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
    attempt failed and ``on_failure`` is ``"none"``. ``skipped_value`` for the
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
        if o.on_failure == "raise":
            raise
        log.warning("judge: %s", str(exc).splitlines()[0])
        return None
    if o.binarize:
        return 1.0 if value > o.binarize_threshold else 0.0
    return value


@hookimpl
def register_rewards(register) -> None:
    register(judge_reward, name="judge", requires=("answer",), options=JudgeOptions, check=check,
             description="LLM judge via an OpenAI-compatible endpoint with GRIT's prompt; cached, retried, bounded")
