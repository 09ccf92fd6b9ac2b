"""Parsing completions: :func:`parse` raises, :func:`try_parse` never does.

How a completion is parsed:

1. the scanner (:mod:`gritkit.lexer`) finds every tag and box in one pass;
2. Lark's LALR(1) tables for the grammar decide whether the token sequence
   follows the grammar, and where it first fails (``ok``, ``error``);
3. a recovery pass walks the same tokens and recovers the sections it can
   (an unclosed ``<think>`` ends where the next section starts, a missing
   open tag starts its section at the previous one's end, ...), records every
   deviation, and assigns each box to the section it was written in;
4. the immutable result models are built without re-validation.

Results are cached by text and grammar in a bounded cache (256 entries by
default, :func:`set_cache_size`; the oldest go first), so the several rewards
that read one completion parse it once.

>>> r = try_parse("<think>cat at (1, 2, 30, 40)</think><rethink>ok</rethink><answer> 1")
>>> r.ok, r.boxes[0].coords, r.boxes[0].section, r.answer
(True, (1, 2, 30, 40), 'think', '1')
>>> bad = try_parse("<think>truncated (1, 2, 30, 40)")
>>> bad.ok, bad.error.line, bad.error.column, len(bad.boxes)
(False, 1, 32, 1)
"""

from __future__ import annotations

import threading
from typing import Mapping, Optional, Union

from gritkit.errors import GritSyntaxError
from gritkit.grammar import END, Grammar, load_grammar
from gritkit.lexer import Scanner, read_fast
from gritkit.models import (Box, Deviation, ErrorInfo, GroundedOutput, ParseResult, Section,
                            construct, fast_construct)

GrammarLike = Union[str, Grammar]

# The cache needs to hold one batch of completions: every reward reads the same
# completions one after another. A larger cache costs more than it saves: cached
# results live long enough to reach the garbage collector's oldest generation,
# whose full passes then come more often (measured: 1,024 entries cost 10% of
# scoring throughput, 256 cost nothing). Raise it with set_cache_size() when one
# reward call sees more completions than this.
CACHE_SIZE = 256
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

    Make it at least the number of completions a reward call sees at once
    (TRL: the per-process generation batch).
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
    if not isinstance(text, str):
        if isinstance(text, (bytes, bytearray)):
            text = bytes(text).decode("utf-8", errors="replace")
        else:
            raise TypeError(f"try_parse() needs the completion as str, got {type(text).__name__}")
    g = _grammar(grammar, tags)
    key = (g.name, text)
    hit = _cache.get(key)
    if hit is not None:
        _cache_stats["hits"] += 1
        return hit
    _cache_stats["misses"] += 1
    result = _parse(text, g)
    if len(text) <= CACHE_MAX_CHARS and CACHE_SIZE:
        _cache[key] = result
        if len(_cache) > CACHE_SIZE:
            with _cache_lock:  # evict the oldest entries (insertion order)
                try:
                    while len(_cache) > CACHE_SIZE:
                        del _cache[next(iter(_cache))]
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
    src = "".join(c if c.isprintable() or c == "\t" else "\ufffd" for c in src).replace("\t", " ")
    prefix = "…" if lo > ls else ""
    suffix = "…" if hi < le else ""
    caret = " " * (len(prefix) + offset - lo) + "^"
    return f"  {prefix}{src}{suffix}\n  {caret}"


def _deviations(text: str, devs: list) -> tuple:
    """Deviation models for ``(code, message, offset)`` sorted by offset (one pass for lines)."""
    out = []
    line, pos = 1, 0
    for code, message, offset in devs:
        line += text.count("\n", pos, offset)
        pos = offset
        col = offset - (text.rfind("\n", 0, offset) + 1) + 1
        out.append(fast_construct(Deviation, code=code, message=message, offset=offset,
                                  line=line, column=col))
    return tuple(out)


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


def _describe_error(g: Grammar, text: str, tags: list, idx: int, state: int) -> ErrorInfo:
    """Turn the LALR failure at entry ``idx`` of ``tags`` (``(type, offset)``) into an error."""
    if idx < len(tags):
        t, offset = tags[idx]
    else:
        t, offset = END, len(text)
    label, message, hint, open_kind = _error_kind(g, t, state)
    if open_kind is not None:
        where = ""
        want = f"{open_kind.upper()}_OPEN"
        for tt, off in reversed(tags[:idx]):
            if tt == want:
                ol, oc = _line_col(text, off)
                where = f" (opened at line {ol}, column {oc})"
                break
        message = message.format(where=where)
    line, col = _line_col(text, offset)
    return fast_construct(ErrorInfo, line=line, column=col, offset=offset,
                          message=f"{message}; {hint}", expected=g.expected_names(state),
                          label=label, snippet=snippet(text, offset))


_BOX = "BOX"
_ACCEPT_CACHE_MAX = 4096


def _accepts(g: Grammar, types: tuple) -> tuple[bool, int, int]:
    """Lark's LALR tables over a token-type sequence, memoised per grammar.

    Box terminals are interchangeable in every grammar here (each is one
    alternative of ``box``, used only as ``box*``), so the sequence is keyed
    with consecutive boxes collapsed into one representative box terminal.
    """
    cache = g.accept_cache
    r = cache.get(types)
    if r is None:
        if len(cache) >= _ACCEPT_CACHE_MAX:
            cache.clear()
        r = cache[types] = g.accepts([g.box_terminal if t is _BOX else t for t in types])
    return r


def _parse(text: str, g: Grammar) -> ParseResult:
    sc = _scanner(g)
    handlers = sc.handlers
    opens, closes, order = sc.opens, sc.closes, sc.order
    boxes: list = []        # Box models, in reading order
    lex_devs: list = []     # (code, message, offset)
    devs: list = []         # (code, message, offset), from recovery
    types: list = []        # token types, consecutive boxes collapsed (for the LALR run)
    offsets: list = []      # where each of ``types`` starts
    spans: list = []        # (kind, start, end, body_start, body_end, closed)
    cur = None              # open section: (kind, start, body_start)
    cur_kind = None         # its kind
    seen: set = set()
    highest = -1
    last_end = 0
    fast = sc.fast
    for m in sc.regex.finditer(text):
        t = m.lastgroup
        spec = fast.get(t)
        if spec is not None:
            # one box whose numbers and label the regex captured (see lexer._FAST)
            coords, label, syntax, bs, be = read_fast(m, spec, text)
            boxes.append(construct(Box, {"coords": coords, "label": label, "syntax": syntax,
                                         "section": cur_kind, "start": bs, "end": be,
                                         "index": len(boxes)}, _BOX_FIELDS))
            if not types or types[-1] is not _BOX:
                types.append(_BOX)
                offsets.append(bs)
            continue
        h = handlers.get(t)
        if h is not None:
            raw = []
            h(text, m.start(), m.end(), raw, lex_devs)
            for coords, label, syntax, bs, be in raw:
                boxes.append(_box(coords, label, syntax, cur_kind, bs, be, len(boxes)))
            if not types or types[-1] is not _BOX:
                types.append(_BOX)
                offsets.append(m.start())
            continue
        s, e = m.span()
        types.append(t)
        offsets.append(s)
        k = opens.get(t)
        if k is not None:
            if cur is not None:
                if cur[0] == k:
                    devs.append(("nested_tag", f"{g.open_tag(k)} inside an open {g.open_tag(k)} "
                                               "section; ignored", s))
                    continue
                devs.append(("unclosed_section", f"{g.open_tag(cur[0])} is not closed before "
                                                 f"{g.open_tag(k)}; it is taken to end there", s))
                spans.append((cur[0], cur[1], s, cur[2], s, False))
                last_end = s
            if k in seen:
                devs.append(("repeated_section", f"a second {g.open_tag(k)} section", s))
            elif order[k] < highest:
                devs.append(("out_of_order", f"{g.open_tag(k)} after a later section", s))
            seen.add(k)
            if order[k] > highest:
                highest = order[k]
            cur = (k, s, e)
            cur_kind = k
            continue
        k = closes[t]
        if cur is not None and cur[0] == k:
            spans.append((k, cur[1], e, cur[2], s, True))
            last_end = e
            cur = cur_kind = None
        elif cur is None and k not in seen and order[k] > highest:
            devs.append(("missing_open_tag", f"{g.close_tag(k)} without {g.open_tag(k)}; the section "
                                             f"is taken to start at offset {last_end}", s))
            seen.add(k)
            highest = order[k]
            spans.append((k, last_end, e, last_end, s, True))
            # boxes written before the missing open tag belong to this section
            boxes = [_box(b.coords, b.label, b.syntax, k, b.start, b.end, b.index)
                     if b.section is None and b.start >= last_end else b for b in boxes]
            last_end = e
        else:
            where = f"inside {g.open_tag(cur[0])}" if cur is not None else "outside any section"
            devs.append(("stray_tag", f"stray {g.close_tag(k)} {where}; ignored", s))
    n = len(text)
    if cur is not None:
        k = cur[0]
        if k not in g.may_end_open:
            devs.append(("unclosed_section", f"{g.open_tag(k)} is never closed (truncated output?)", n))
        spans.append((k, cur[1], n, cur[2], n, False))
    if len(seen) < len(order):
        for k in g.sections:
            if k not in seen:
                devs.append(("missing_section", f"no {g.open_tag(k)} section", n))

    ok, idx, state = _accepts(g, tuple(types))
    error = None if ok else _describe_error(g, text, list(zip(types, offsets)), idx, state)

    # ---- models (built without re-validation)
    sections = []
    answer = None
    for k, s, e, bs, be, closed in spans:
        body = text[bs:be]
        if answer is None and k == "answer":
            answer = body.strip()
        sections.append(construct(Section, {"kind": k, "start": s, "end": e, "body_start": bs,
                                            "body_end": be, "text": body, "closed": closed},
                                  _SECTION_FIELDS))
    deviations = ()
    if devs or lex_devs:
        deviations = _deviations(text, sorted(lex_devs + devs, key=lambda d: d[2]))
    output = construct(GroundedOutput, {"text": text, "sections": tuple(sections),
                                        "boxes": tuple(boxes), "answer": answer}, _OUTPUT_FIELDS)
    return construct(ParseResult, {"ok": ok, "grammar": g.name, "output": output, "error": error,
                                   "deviations": deviations}, _RESULT_FIELDS)


def _box(coords, label, syntax, section, start, end, index) -> Box:
    return construct(Box, {"coords": coords, "label": label, "syntax": syntax, "section": section,
                           "start": start, "end": end, "index": index}, _BOX_FIELDS)


# Frozen models never change their fields-set, so one set per class is shared.
_SECTION_FIELDS = set(Section.model_fields)
_BOX_FIELDS = set(Box.model_fields)
_OUTPUT_FIELDS = set(GroundedOutput.model_fields)
_RESULT_FIELDS = set(ParseResult.model_fields)
