"""Parsing completions: :func:`parse` raises, :func:`try_parse` never does.

How a completion is parsed:

1. the scanner (:mod:`gritkit.lexer`) finds every tag and box in one pass;
2. Lark's LALR(1) tables for the grammar decide whether the token sequence
   follows the grammar, and where it first fails (``ok``, ``error``);
3. a recovery pass walks the same tokens and recovers the sections it can
   (an unclosed ``<think>`` ends where the next section starts, a missing
   open tag starts its section at the previous one's end, ...), records every
   deviation, and assigns each box to the section it was written in;
4. the immutable results are built without re-validation;
5. when the tags alone decide ``ok`` (the grammar lets boxes stand anywhere and
   no box of the text can hide a tag), only they are read at first and steps 1
   to 4 run when the structure is first read (:func:`_parse_lazy`): readers of
   ``ok`` and ``text`` alone never pay for boxes and sections.

Production parsing and the equivalence tests run the same code: :func:`_parse`
takes the scanner to use, the fast one (default) or the reference one built
straight from the ``.lark`` terminals (tests/test_scanner.py compares them).

Results are cached by text and grammar in a small bounded cache (16 entries by
default, :func:`set_cache_size`; the oldest go first), so code that parses one
completion again gets the same result; the composer and the adapters parse
each completion of a batch once anyway.

>>> r = try_parse("<think>cat at (1, 2, 30, 40)</think><rethink>ok</rethink><answer> 1")
>>> r.ok, r.boxes[0].coords, r.boxes[0].section, r.answer
(True, (1, 2, 30, 40), 'think', '1')
>>> bad = try_parse("<think>truncated (1, 2, 30, 40)")
>>> bad.ok, bad.error.line, bad.error.column, len(bad.boxes)
(False, 1, 32, 1)
"""

from __future__ import annotations

import heapq
import itertools
import threading
from typing import Mapping, Optional, Union

from gritkit.errors import GritSyntaxError
from gritkit.grammar import END, Grammar, load_grammar
from gritkit.lexer import Scanner
from gritkit.models import (PENDING, ErrorInfo, GroundedOutput, ParseResult, make_deviation, make_error,
                            make_output, make_parse_result, make_section)

GrammarLike = Union[str, Grammar]

# The composer, the trainer adapters and the commands parse each completion once
# and hand the result to every reward, so the cache only serves code that calls
# try_parse on one text again and again (a reward that parses for itself,
# gritkit.testing). It is kept small because it is not free: every result it
# keeps alive is more work for the garbage collector, and the bookkeeping costs
# too (measured on the benchmark corpus: 16 entries cost about 5% of the parse,
# 64 entries 12 to 15%, 256 entries 20%). Raise it with set_cache_size() when a
# loop of your own parses a batch once per reward.
CACHE_SIZE = 16
CACHE_MAX_CHARS = 65536  # longer texts are parsed every time rather than kept

_cache: "dict[tuple[str, str], ParseResult]" = {}   # insertion-ordered: FIFO eviction
_cache_lock = threading.Lock()
_scanners: dict[str, Scanner] = {}
_cache_stats = {"hits": 0, "misses": 0}


_by_name: dict[str, Grammar] = {}


def _grammar(grammar: GrammarLike, tags: Optional[Mapping[str, str]]) -> Grammar:
    if tags:
        if isinstance(grammar, Grammar):
            return load_grammar(grammar.base, {**grammar.tags, **tags})
        return load_grammar(grammar, tags)
    if isinstance(grammar, Grammar):
        return grammar
    g = _by_name.get(grammar)
    if g is None:
        g = _by_name[grammar] = load_grammar(grammar)
    return g


def _scanner(g: Grammar) -> Scanner:
    s = _scanners.get(g.name)
    if s is None or s.grammar is not g:
        s = _scanners[g.name] = Scanner(g)
    return s


def clear_cache() -> None:
    """Empty the parse cache (and reset its hit/miss counters)."""
    with _cache_lock:
        _cache.clear()
        _cache_stats["hits"] = _cache_stats["misses"] = 0


def set_cache_size(size: int) -> None:
    """Keep at most ``size`` parse results (0 turns the cache off).

    The composer and the trainer adapters parse each batch once, so they need
    no cache; make it the batch size when code of your own calls ``try_parse``
    on a batch once per reward.
    """
    global CACHE_SIZE
    if not isinstance(size, int) or size < 0:
        raise ValueError(f"set_cache_size() needs an int >= 0, got {size!r}")
    CACHE_SIZE = size
    with _cache_lock:
        while len(_cache) > size:
            del _cache[next(iter(_cache))]


def cache_info() -> dict:
    """``{"hits", "misses", "size", "maxsize"}`` of the parse cache."""
    with _cache_lock:
        return {**_cache_stats, "size": len(_cache), "maxsize": CACHE_SIZE}


def try_parse(text: str, grammar: GrammarLike = "grit", *,
              tags: Optional[Mapping[str, str]] = None) -> ParseResult:
    """Parse ``text``; never raises for any ``str``.

    Args:
        text: the completion. ``bytes`` are decoded as UTF-8 (invalid bytes
            replaced).
        grammar: ``"grit"`` (default), ``"r1"``, a spec with tag renamings such
            as ``"grit[think=thinking]"``, or a loaded :class:`Grammar`.
        tags: section kind to tag word, e.g. ``{"think": "thinking"}``.

    Returns:
        A :class:`ParseResult`: ``ok``, the best-effort ``output`` (sections and
        every box, also when ``ok`` is false), the first ``error`` and every
        ``deviation``.

    Raises:
        TypeError: ``text`` is neither ``str`` nor ``bytes``.
        GrammarError: the grammar name or a tag renaming is invalid.

    Example:
        >>> r = try_parse('<think>{"bbox_2d": [1, 2, 3, 4], "label": "cup"}</think>')
        >>> r.ok, r.boxes[0].label, r.error.label
        (False, 'cup', 'missing <rethink>')
    """
    if text.__class__ is not str:
        if isinstance(text, (bytes, bytearray)):
            text = bytes(text).decode("utf-8", errors="replace")
        elif not isinstance(text, str):
            raise TypeError(f"try_parse() needs the completion as str, got {type(text).__name__}")
    g = _by_name.get(grammar) if tags is None and grammar.__class__ is str else None
    if g is None:
        g = _grammar(grammar, tags)
    stats = _cache_stats
    if not CACHE_SIZE or len(text) > CACHE_MAX_CHARS:
        stats["misses"] += 1
        return _parse_lazy(text, g)
    key = (g.name, text)
    hit = _cache.get(key)
    if hit is not None:
        stats["hits"] += 1
        return hit
    stats["misses"] += 1
    result = _parse_lazy(text, g)
    # Dict operations are atomic, so the hot path takes no lock; two threads
    # that evict at once may leave the cache one entry over its size.
    _cache[key] = result
    if len(_cache) > CACHE_SIZE:
        try:
            del _cache[next(iter(_cache))]  # the oldest entry (insertion order)
        except (KeyError, RuntimeError, StopIteration):
            pass
    return result


def parse(text: str, grammar: GrammarLike = "grit", *,
          tags: Optional[Mapping[str, str]] = None) -> GroundedOutput:
    """Parse ``text`` and return its structure; raise when it breaks the grammar.

    Raises:
        GritSyntaxError: with ``line``, ``column``, ``expected``, a caret
            ``context`` and the best-effort ``result``.

    Example:
        >>> parse("<think>a</think><rethink>b</rethink><answer>c</answer>").answer
        'c'
    """
    r = try_parse(text, grammar, tags=tags)
    if r.ok:
        return r.output
    e = r.error
    raise GritSyntaxError(format_error(e), line=e.line, column=e.column, offset=e.offset,
                          expected=e.expected, label=e.label, context=e.snippet, result=r)


def format_error(e: ErrorInfo) -> str:
    """The full, multi-line text of an error: message, snippet, expectations, fix."""
    lines = [f"{e.message} at line {e.line}, column {e.column}"]
    if e.snippet:
        lines.append(e.snippet)
    if e.expected:
        lines.append("expected: " + ", ".join(e.expected))
    return "\n".join(lines)


# --------------------------------------------------------------------------- internals

# A degenerate completion (a tag repeated a hundred thousand times) has as many
# deviations as tags. The first MAX_DEVIATIONS are kept in full; one last
# ``too_many_deviations`` entry counts the rest (docs/grammar.md).
MAX_DEVIATIONS = 1000


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def snippet(text: str, offset: int, width: int = 72) -> str:
    """Two lines: the source line around ``offset`` and a caret under it."""
    ls = text.rfind("\n", 0, offset) + 1
    le = text.find("\n", offset)
    if le == -1:
        le = len(text)
    lo = max(ls, offset - width // 2)
    hi = min(le, lo + width)
    lo = max(ls, min(lo, hi - width))
    src = text[lo:hi]
    if not src.isprintable():  # tabs become spaces, other unprintable characters U+FFFD
        src = "".join(c if c.isprintable() or c == "\t" else "\ufffd" for c in src).replace("\t", " ")
    prefix = "…" if lo > ls else ""
    suffix = "…" if hi < le else ""
    caret = " " * (len(prefix) + offset - lo) + "^"
    return f"  {prefix}{src}{suffix}\n  {caret}"


def _deviations(text: str, lex: list, rec: list) -> tuple:
    """Deviation objects for the scanner's and the recovery's ``(code, message, offset)``.

    Both lists are in text order; they are merged stably (the scanner's first
    on a tie) and cut at :data:`MAX_DEVIATIONS`. Lines and columns are counted
    in one pass over the text.
    """
    total = len(lex) + len(rec)
    if not rec:
        merged = lex[:MAX_DEVIATIONS]
    elif not lex:
        merged = rec[:MAX_DEVIATIONS]
    else:
        merged = list(itertools.islice(heapq.merge(lex, rec, key=_offset), MAX_DEVIATIONS))
    out = []
    line, pos, line_start = 1, 0, 0
    for code, message, offset in merged:
        n = text.count("\n", pos, offset)
        if n:
            line += n
            line_start = text.rfind("\n", pos, offset) + 1
        pos = offset
        out.append(make_deviation(code, message, offset, line, offset - line_start + 1))
    if total > MAX_DEVIATIONS:
        rest = total - MAX_DEVIATIONS
        first = next(itertools.islice(heapq.merge(lex, rec, key=_offset), MAX_DEVIATIONS, None))[2]
        line, col = _line_col(text, first)
        out.append(make_deviation(
            "too_many_deviations",
            f"{rest:,} more deviations from here on are not listed (gritkit lists the first "
            f"{MAX_DEVIATIONS:,}); the text is far from the grammar", first, line, col))
    return tuple(out)


def _offset(dev: tuple) -> int:
    return dev[2]


def _error_kind(g: Grammar, t: str, state: int) -> tuple:
    """What an LALR failure on token type ``t`` in ``state`` means (memoised per grammar).

    Returns ``(label, message, hint, open_kind)``; ``message`` may hold
    ``{where}``, filled with where the unclosed section ``open_kind`` opened.
    """
    key = (state, t)
    hit = g.error_kinds.get(key)
    if hit is not None:
        return hit
    acts = g.states[state]
    got = "end of text" if t == END else g.display.get(t, "a box")
    open_expected = [k for k in g.sections if f"{k.upper()}_CLOSE" in acts]
    next_expected = [k for k in g.sections if f"{k.upper()}_OPEN" in acts]
    kind = t[:-5].lower() if t.endswith("_OPEN") else t[:-6].lower() if t.endswith("_CLOSE") else None
    open_kind = None
    if open_expected:
        open_kind = k = open_expected[0]
        label = f"unclosed {g.open_tag(k)}"
        if t == END:
            message = (f"The {g.open_tag(k)} section{{where}} is never closed: "
                       f"the text ends before {g.close_tag(k)}")
        else:
            message = f"{got} inside the unclosed {g.open_tag(k)} section{{where}}"
        hint = f"close the section with {g.close_tag(k)}"
    elif next_expected:
        k = next_expected[0]
        label = f"missing {g.open_tag(k)}"
        if t == END:
            message = f"The text ends before the {g.open_tag(k)} section"
        elif kind and t.endswith("_CLOSE"):
            label = f"stray {got}"
            message = f"Stray {got} with no open {g.open_tag(kind)}"
        elif kind and g.sections.index(kind) < g.sections.index(k):
            label = f"repeated {got}"
            message = f"{got} again, or out of order: the next section must be {g.open_tag(k)}"
        else:
            message = f"{got} where the {g.open_tag(k)} section must come first"
        hint = "write the sections in the order " + " ".join(
            f"{g.open_tag(s)}…{g.close_tag(s)}" for s in g.sections)
    else:
        label = f"unexpected {got}"
        message = f"{got} after the {g.open_tag(g.sections[-1])} section has ended"
        hint = "each section may appear once, in the order " + ", ".join(g.open_tag(s) for s in g.sections)
    out = g.error_kinds[key] = (label, message, hint, open_kind)
    return out


def _describe_error(g: Grammar, text: str, tags: list, boxes: list, err: tuple) -> ErrorInfo:
    """The first grammar error, from a plan's ``err`` (see :func:`_plan`) and the text's tags."""
    t, at, state, opened, box_run = err
    offset = boxes[tags[at][3]]._start if box_run else tags[at][1]
    label, message, hint, open_kind = _error_kind(g, t, state)
    if open_kind is not None:
        where = ""
        if opened is not None:
            ol, oc = _line_col(text, tags[opened][1])
            where = f" (opened at line {ol}, column {oc})"
        message = message.format(where=where)
    line, col = _line_col(text, offset)
    return make_error(line, col, offset, f"{message}; {hint}", g.expected_names(state), label,
                      snippet(text, offset))


_BOX = "BOX"
_PLAN_CACHE_MAX = 4096
_PLAN_KEY_MAX = 256  # longer token sequences (degenerate texts) are planned each time, not memoised

# Positions in a plan are (tag, field) pairs over the text's tags framed by two
# virtual ones: tag 0 is (None, 0, 0, 0) and the last is (END, n, n, boxes), so
# (i, 1) is where tag i starts, (i, 2) where it ends, (0, 1) the text's start
# and (-1, 1) its end; tags[i][3] is the number of boxes before tag i.
_START = (0, 1)
_END = (-1, 1)


def _plan(g: Grammar, key: tuple) -> tuple:
    """The recovery of one token-type sequence (memoised per grammar).

    Recovery depends only on the order of the tags (and where boxes stand
    between them), never on the text itself, so it is worked out once per
    sequence: 12,000 completions of the benchmark corpus have 28.
    ``key`` holds the tag types in order, with :data:`_BOX` for each run of
    boxes between two tags.

    Returns ``(ok, spans, assign, devs, err)``: ``spans`` are
    ``(kind, start, end, body_start, body_end, closed)``, ``assign`` are
    ``(first_tag, last_tag, kind)`` (the boxes between those tags belong to a
    section of ``kind``), ``devs`` are ``(code, message, at, fill)`` (``fill``:
    a position written into ``message``), ``err`` is ``None`` or
    ``(type, at_tag, state, opened_at_tag, at_box_run)``; positions as described
    above (for a box run, ``at_tag`` is the tag before it).
    """
    plans = g.plans
    plan = plans.get(key)
    if plan is not None:
        return plan
    opens = {f"{k.upper()}_OPEN": k for k in g.sections}
    closes = {f"{k.upper()}_CLOSE": k for k in g.sections}
    order = {k: i for i, k in enumerate(g.sections)}
    devs: list = []
    spans: list = []
    assign: list = []
    cur = None              # open section: (kind, start tag)
    seen: set = set()
    highest = -1
    last_end = _START       # where the last section ended
    last_end_tag = 0        # the tag there (the boxes before it are not this section's)
    i = 0                   # tag index (1-based: tag 0 is the virtual start)
    pending_boxes = False
    for t in key:
        if t is _BOX:
            pending_boxes = True
            continue
        i += 1
        if pending_boxes:
            pending_boxes = False
            if cur is not None:
                assign.append((i - 1, i, cur[0]))
        k = opens.get(t)
        if k is not None:
            if cur is not None:
                if cur[0] == k:
                    devs.append(("nested_tag", f"{g.open_tag(k)} inside an open {g.open_tag(k)} "
                                               "section; ignored", (i, 1), None))
                    continue
                devs.append(("unclosed_section", f"{g.open_tag(cur[0])} is not closed before "
                                                 f"{g.open_tag(k)}; it is taken to end there", (i, 1), None))
                spans.append((cur[0], (cur[1], 1), (i, 1), (cur[1], 2), (i, 1), False))
                last_end, last_end_tag = (i, 1), i
            if k in seen:
                devs.append(("repeated_section", f"a second {g.open_tag(k)} section", (i, 1), None))
            elif order[k] < highest:
                devs.append(("out_of_order", f"{g.open_tag(k)} after a later section", (i, 1), None))
            seen.add(k)
            if order[k] > highest:
                highest = order[k]
            cur = (k, i)
            continue
        k = closes[t]
        if cur is not None and cur[0] == k:
            spans.append((k, (cur[1], 1), (i, 2), (cur[1], 2), (i, 1), True))
            last_end, last_end_tag = (i, 2), i
            cur = None
        elif cur is None and k not in seen and order[k] > highest:
            devs.append(("missing_open_tag", f"{g.close_tag(k)} without {g.open_tag(k)}; the section "
                                             "is taken to start at offset {}", (i, 1), last_end))
            seen.add(k)
            highest = order[k]
            spans.append((k, last_end, (i, 2), last_end, (i, 1), True))
            assign.append((last_end_tag, i, k))  # boxes written before the missing open tag
            last_end, last_end_tag = (i, 2), i
        else:
            where = f"inside {g.open_tag(cur[0])}" if cur is not None else "outside any section"
            devs.append(("stray_tag", f"stray {g.close_tag(k)} {where}; ignored", (i, 1), None))
    if pending_boxes and cur is not None:
        assign.append((i, -1, cur[0]))
    if cur is not None:
        k = cur[0]
        if k not in g.may_end_open:
            devs.append(("unclosed_section", f"{g.open_tag(k)} is never closed (truncated output?)",
                         _END, None))
        spans.append((k, (cur[1], 1), _END, (cur[1], 2), _END, False))
    for k in g.sections:
        if k not in seen:
            devs.append(("missing_section", f"no {g.open_tag(k)} section", _END, None))

    ok, idx, state = g.accepts([g.box_terminal if t is _BOX else t for t in key])
    err = None
    if not ok:
        tag_of = list(_tag_numbers(key))
        t = key[idx] if idx < len(key) else END
        _, _, _, open_kind = _error_kind(g, g.box_terminal if t is _BOX else t, state)
        opened = None
        if open_kind is not None:
            want = f"{open_kind.upper()}_OPEN"
            for j in range(idx - 1, -1, -1):
                if key[j] == want:
                    opened = tag_of[j]
                    break
        if t is _BOX:  # pragma: no cover - boxes may stand anywhere in the shipped grammars
            err = (g.box_terminal, tag_of[idx], state, opened, True)
        else:
            err = (t, tag_of[idx] if idx < len(key) else -1, state, opened, False)
    plan = (ok, tuple(spans), tuple(assign), tuple(devs), err)
    _remember(plans, key, plan)
    return plan


def _remember(memo: dict, key: tuple, value) -> None:
    """Keep ``value`` in a per-grammar memo of token sequences (bounded; degenerate texts are not kept)."""
    if len(key) <= _PLAN_KEY_MAX:
        if len(memo) >= _PLAN_CACHE_MAX:
            memo.clear()
        memo[key] = value


def _tag_numbers(key: tuple):
    """For each entry of a plan key: a tag's index, or for a box run the index of the tag before it."""
    i = 0
    for t in key:
        if t is not _BOX:
            i += 1
            yield i
        else:
            yield i


def _parse(text: str, g: Grammar, scanner: Optional[Scanner] = None) -> ParseResult:
    """Parse ``text`` with grammar ``g``, scanning with ``scanner`` (default: the fast one)."""
    ok, output, error, deviations, lazy = _structure(text, g, scanner)
    return make_parse_result(ok, g.name, output, error, deviations, text, lazy)


def _structure(text: str, g: Grammar, scanner: Optional[Scanner] = None) -> tuple:
    """``(ok, output, error, deviations, lazy)`` of ``text``: a ParseResult's fields (see :func:`_parse`)."""
    sc = scanner if scanner is not None else _scanner(g)
    tags, boxes, lex_devs = sc.scan(text)  # boxes: Box objects, section not yet set
    key = []
    nb0 = 0
    for tag in tags:
        if tag[3] != nb0:
            key.append(_BOX)
            nb0 = tag[3]
        key.append(tag[0])
    nboxes = len(boxes)
    if nboxes != nb0:
        key.append(_BOX)
    key = tuple(key)
    plan = g.plans.get(key)
    if plan is None:
        plan = _plan(g, key)
    ok, spans, assign, devs, err = plan
    n = len(text)
    tags.insert(0, _VIRTUAL_START)
    tags.append((END, n, n, nboxes))
    for a, b, k in assign:  # the scanner's boxes are new and not yet shared: set their section
        for box in boxes[tags[a][3]:tags[b][3]]:
            box._section = k
    sections = []
    answer = None
    for k, (a, fa), (b, fb), (c, fc), (d, fd), closed in spans:
        bs, be = tags[c][fc], tags[d][fd]
        body = text[bs:be]
        if answer is None and k == "answer":
            answer = body.strip()
        sections.append(make_section(k, tags[a][fa], tags[b][fb], bs, be, body, closed))
    output = make_output(text, tuple(sections), tuple(boxes), answer)
    if ok and not devs and not lex_devs:
        return ok, output, None, (), None
    # malformed text: the error and the deviations are built when first read
    return ok, output, PENDING, PENDING, (_finish, (g, text, tags, boxes, err, lex_devs, devs))


def _finish(r: ParseResult, g: Grammar, text: str, tags: list, boxes: list, err, lex_devs: list,
            devs: tuple) -> None:
    """Set the error and the deviations of a malformed text's result (see :func:`_parse`)."""
    error = None if err is None else _describe_error(g, text, tags, boxes, err)
    if devs:
        devs = [(code, message if fill is None else message.format(tags[fill[0]][fill[1]]),
                 tags[at[0]][at[1]]) for code, message, at, fill in devs]
    r._error, r._deviations = error, (_deviations(text, lex_devs, devs) if devs or lex_devs else ())
    r._lazy = None


# Reading the tags alone first costs about a tenth of a full parse (1.5 us against 18
# on the benchmark corpus), wasted when the structure is read anyway. So the parser
# watches how often the structure of its pending results gets built: when more than
# LAZY_BUILT_SHARE of them were, it parses in full, save one text in LAZY_PROBE_EVERY
# that it leaves pending, to notice when the readers change. Results are the same
# either way; only where the time goes changes.
LAZY_BUILT_SHARE = 0.8
LAZY_PROBE_EVERY = 64
# The counts are halved at every _LAZY_WINDOW pending results (an epoch), so recent
# ones weigh most; a structure built later counts with its own result's weight,
# halved once per epoch since it was made, so a batch whose structure is read after
# the whole batch was parsed weighs its reads against its own results.
_LAZY_WINDOW = 512


class _Reads:
    """How often one grammar's pending results get their structure built (see above)."""

    __slots__ = ("parses", "pending", "built", "epoch")

    def __init__(self) -> None:
        self.parses = 0      # calls of _parse_lazy
        self.pending = 0.0   # results left pending, halved each epoch
        self.built = 0.0     # of those, built since (each weighed by its result's epoch)
        self.epoch = 0



def _parse_lazy(text: str, g: Grammar) -> ParseResult:
    """Parse ``text``, leaving the structure to be built on first read when ``ok`` needs only the tags.

    :meth:`Scanner.tags_alone` gives the text's tags when no box could hide one
    in this text and the grammar lets boxes stand anywhere
    (:attr:`Grammar.boxes_anywhere`); the plan of that tag sequence says ``ok``,
    and the full parse runs when the output, error or deviations are first read.
    Rewards that read only ``result.text`` (GRIT's official regex terms), and
    ``gritkit score``, which reads only ``ok``, then never pay for boxes and
    sections. The results are the same either way (tests/test_lazy_parse.py).
    """
    sc = _scanner(g)
    reads = g.reads
    if reads is None:
        reads = g.reads = _Reads()
    reads.parses += 1
    if reads.built > LAZY_BUILT_SHARE * reads.pending and reads.parses % LAZY_PROBE_EVERY:
        return _parse(text, g, sc)  # the structure of nearly every pending result was read
    found = sc.tags_alone(text)
    if found is None:
        return _parse(text, g, sc)
    ok = g.ok_of_tags.get(found)  # by the tags as written: no mapping to types on the hot path
    if ok is None:
        ok = _plan(g, tuple(map(sc.tag_type.__getitem__, found)))[0]
        _remember(g.ok_of_tags, found, ok)
    reads.pending += 1
    if reads.pending >= _LAZY_WINDOW:
        reads.pending /= 2
        reads.built /= 2
        reads.epoch += 1
    return make_parse_result(ok, g.name, PENDING, PENDING, PENDING, text,
                             (_build_structure, (g, sc, reads, reads.epoch)))


def _build_structure(r: ParseResult, g: Grammar, sc: Scanner, reads: _Reads, epoch: int) -> None:
    """Fill a pending result (see :func:`_parse_lazy`) from the full parse of its text."""
    _, output, error, deviations, lazy = _structure(r._text, g, sc)
    # the output first: a reader in another thread sees PENDING until each is set
    r._output, r._error, r._deviations = output, error, deviations
    r._lazy = lazy  # None, or the malformed text's error and deviations still to build
    reads.built += 0.5 ** (reads.epoch - epoch)


_VIRTUAL_START = (None, 0, 0, 0)
