"""Exporting a gritkit grammar to the grammar languages of decoding engines.

``gritkit grammar export NAME --to lark|ebnf|gbnf|regex`` (and
:func:`export_grammar`) translates the grammar that gritkit parses with, read
from the shipped ``grammars/*.lark`` through :func:`gritkit.grammar.load_grammar`
(tag renamings included), into a grammar a decoding engine can constrain
generation with. Nothing here is a second copy of the format: the rules are
Lark's own compiled rules of that file.

What changes on the way, and why:

* **Boxes become free text.** The parser reads boxes anywhere and never
  requires one, so every rule that only repeats boxes (``_free: box*``) becomes
  one *free-text gap*. The exported grammars therefore do not require (or
  shape) boxes; they fix the sections and their order.
* **Free text is defined.** The ``.lark`` file only ``%declare``\\ s ``TEXT``
  (gritkit's scanner finds tags and boxes and ignores the rest). A generative
  grammar needs it spelled out: a gap is any text in which no tag of the
  grammar occurs. It is written as runs without ``<`` and pieces that start at a
  ``<``: a piece is either the start of a tag word that goes no further
  (``<``, ``<thi``, ``</answ``) or such a start followed by a character that
  breaks it (``<ta``, ``< b``) and another run. This is a regular language, so
  every engine (and a regular expression) takes it, and no engine needs
  lookahead or intersection.
* **Each gap is bounded** when ``max_free`` is given: at most ``max_free``
  characters in each run without ``<`` and at most ``max_free`` pieces that
  start with ``<``, so a weak or random model must move on to the next tag.
  :func:`free_text_fits` is the same rule in Python.
* **Tags as tokens** (``tags_as_tokens``, Lark only): where the tokenizer has a
  tag as one added token, the tag may be written as that token
  (``(THINK_OPEN | <think>)``), as llguidance needs: it treats added tokens as
  special and would otherwise crash when the model emits one.

Where the exported grammars and ``gritkit.try_parse(...).ok`` differ (the
agreement test in ``tests/test_grammar_export.py`` checks exactly this):

1. the length bound: a gap that does not fit ``max_free`` is rejected by the
   export and accepted by the parser;
2. a JSON box that swallows a tag: gritkit's ``JSON_BOX`` terminal
   (``{ … "bbox_2d": [ … }`` without braces inside) may run across a tag, e.g.
   ``{"bbox_2d": [1, 2, 3, 4] </think> … }``; the parser then reads the tag as
   part of the box, while the export sees the tag. Every other string is
   accepted by both or by neither.

>>> print(export_grammar("r1", to="ebnf", max_free=64).splitlines()[3])
root ::= free_text think free_text answer
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence

from gritkit.errors import ConfigError, GrammarError
from gritkit.grammar import BOX_SYNTAX, Grammar, load_grammar

__all__ = ["FORMATS", "DEFAULT_MAX_FREE", "export_grammar", "free_text_fits", "max_free_for_budget",
           "literal_tags", "tags_as_tokens", "shortest_closing", "ExportedRules", "exported_rules"]

FORMATS = ("lark", "ebnf", "gbnf", "regex")
"""The export formats: Lark (llguidance, xgrammar, vLLM), EBNF (xgrammar), GBNF (llama.cpp), regex."""

DEFAULT_MAX_FREE = 1024
"""The bound ``gritkit grammar export`` puts on free text unless told otherwise (``--max-free 0``: none)."""


# --------------------------------------------------------------------------- the structure

@dataclass(frozen=True)
class ExportedRules:
    """A grammar's rules with boxes folded into free-text gaps.

    Attributes:
        grammar: the loaded grammar.
        rules: ``(name, alternatives)`` in the order of the ``.lark`` file; each
            alternative is a tuple of symbols: a rule name, a tag terminal
            (``THINK_OPEN``), or :data:`GAP`.
        tags: tag terminal to its text, e.g. ``{"THINK_OPEN": "<think>"}``.
    """

    grammar: Grammar
    rules: tuple[tuple[str, tuple[tuple[str, ...], ...]], ...]
    tags: dict

    @property
    def words(self) -> tuple[str, ...]:
        """The tags without their leading ``<`` (``think>``, ``/think>``, …): what may not follow a ``<``."""
        return tuple(sorted({t[1:] for t in self.tags.values()}))


GAP = "$GAP"


def exported_rules(grammar: str | Grammar = "grit") -> ExportedRules:
    """The rules of ``grammar`` (a name such as ``"grit[think=thinking]"``, or a loaded one), boxes folded.

    A rule is *free* when each of its alternatives holds only box terminals and
    free rules (``box``, ``_free: box*``); every use of a free rule becomes one
    gap, and adjacent gaps merge.

    Raises:
        GrammarError: the grammar has a terminal that is neither a tag nor a box.
    """
    g = grammar if isinstance(grammar, Grammar) else load_grammar(grammar)
    hit = _RULES.get(g.name)
    if hit is not None and hit.grammar is g:
        return hit
    _RULES[g.name] = er = _fold(g)
    return er


_RULES: dict[str, ExportedRules] = {}


def _fold(g: Grammar) -> ExportedRules:
    by_origin: dict[str, list[tuple]] = {}
    for rule in g.lark.rules:
        by_origin.setdefault(str(rule.origin.name), []).append(
            tuple((str(s.name), bool(s.is_term)) for s in rule.expansion))
    free = set(by_origin)  # the greatest fixpoint: box* is recursive
    changed = True
    while changed:
        changed = False
        for name, alts in by_origin.items():
            if name in free and not all(all((term and n in BOX_SYNTAX) or (not term and n in free)
                                            for n, term in alt) for alt in alts):
                free.discard(name)
                changed = True
    tags = {}
    rules = []
    for name, alts in by_origin.items():
        if name in free:
            continue
        out_alts = []
        for alt in alts:
            syms: list[str] = []
            for n, term in alt:
                if (term and n in BOX_SYNTAX) or (not term and n in free):
                    if not syms or syms[-1] != GAP:
                        syms.append(GAP)
                    continue
                if term:
                    text = g.display.get(n)
                    if text is None or not (text.startswith("<") and text.endswith(">")):
                        raise GrammarError(f"Grammar {g.name!r}: terminal {n} is neither a tag nor a box, so "
                                           "it cannot be exported (free text stands for everything else).")
                    tags[n] = text
                syms.append(n)
            if tuple(syms) not in out_alts:
                out_alts.append(tuple(syms))
        rules.append((name, tuple(out_alts)))
    rules.sort(key=lambda r: (r[0] != "start",))
    return ExportedRules(grammar=g, rules=tuple(rules), tags=tags)


def _prefixes(words: Sequence[str]) -> list[str]:
    """Proper prefixes of the tag words (the empty one first), shortest first."""
    out = {w[:i] for w in words for i in range(len(w))}
    return sorted(out, key=lambda p: (len(p), p))


def _next_chars(words: Sequence[str], prefix: str) -> str:
    return "".join(sorted({w[len(prefix)] for w in words if w.startswith(prefix) and len(w) > len(prefix)}))


# --------------------------------------------------------------------------- the bound, in Python

def literal_tags(text: str, grammar: str | Grammar = "grit") -> list[tuple[str, int, int]]:
    """Every occurrence of a tag of ``grammar`` in ``text``: ``(terminal, start, end)``.

    This is how the exported grammars see tags: literally, wherever they stand.
    (gritkit's parser agrees except inside a JSON box that swallows a tag.)

    >>> literal_tags("a<think>b</think>")
    [('THINK_OPEN', 1, 8), ('THINK_CLOSE', 9, 17)]
    """
    er = exported_rules(grammar)
    rx = _tag_regex(tuple(sorted(er.tags.items())))
    return [(m.lastgroup, m.start(), m.end()) for m in rx.finditer(text)]


_TAG_RX: dict = {}


def _tag_regex(items: tuple) -> re.Pattern:
    rx = _TAG_RX.get(items)
    if rx is None:
        rx = _TAG_RX[items] = re.compile("|".join(f"(?P<{n}>{re.escape(t)})" for n, t in
                                                  sorted(items, key=lambda x: -len(x[1]))))
    return rx


def free_text_fits(gap: str, max_free: Optional[int], grammar: str | Grammar = "grit") -> bool:
    """Whether one free-text gap (text holding no tag) fits the exported grammar's bound.

    The gap splits at each ``<``: the part before the first ``<`` may hold at
    most ``max_free`` characters; there may be at most ``max_free`` parts after
    a ``<``; each such part is the beginning of a tag word (``thi``, ``/answ``)
    optionally followed by one character that breaks it and then at most
    ``max_free`` more characters. ``None`` means no bound.

    >>> free_text_fits("a" * 8, 8), free_text_fits("a" * 9, 8), free_text_fits("<thinx" + "a" * 8, 8)
    (True, False, True)
    """
    if max_free is None:
        return True
    words = exported_rules(grammar).words
    parts = gap.split("<")
    if len(parts[0]) > max_free or len(parts) - 1 > max_free:
        return False
    for part in parts[1:]:
        p = 0
        while p < len(part) and any(w.startswith(part[:p + 1]) for w in words):
            p += 1
        if len(part) - min(len(part), p + 1) > max_free:
            return False
    return True


def max_free_for_budget(max_new_tokens: int) -> int:
    """The free-text bound ``gritkit generate`` uses for a token budget: four characters a token.

    A token holds about four characters of English, so for a real model the
    bound seldom binds before the budget does, while it still bounds every gap
    of a grammar handed to an engine that cannot force closing tags (vLLM).
    ``gritkit generate`` also forces the closing tags when the budget runs out,
    so its outputs end well-formed whatever the bound.

    >>> max_free_for_budget(64)
    256
    """
    return max(8, 4 * int(max_new_tokens))


# --------------------------------------------------------------------------- closing

def shortest_closing(text: str, grammar: str | Grammar = "grit") -> Optional[list[str]]:
    """The fewest tags that, appended to ``text``, make it follow ``grammar`` (as the export reads tags).

    Returns the tags' texts (``[]`` when ``text`` is complete already), or
    ``None`` when no tags can (a tag out of order was written).

    >>> shortest_closing("<think>the cat")
    ['</think>', '<rethink>', '</rethink>', '<answer>']
    """
    er = exported_rules(grammar)
    types = tuple(t for t, _, _ in literal_tags(text, er.grammar))
    return _closing(er, types)


_CLOSING: dict = {}


def _closing(er: ExportedRules, types: tuple) -> Optional[list[str]]:
    key = (er.grammar.name, types)
    if key in _CLOSING:
        return _CLOSING[key]
    g = er.grammar
    result = None
    frontier: list[tuple] = [()]
    seen = set()
    for _depth in range(len(er.tags) * 2 + 1):  # breadth first: the fewest tags win
        nxt = []
        for suffix in frontier:
            if g.accepts(list(types + suffix))[0]:
                result = [er.tags[t] for t in suffix]
                break
            for t in er.tags:
                cand = suffix + (t,)
                ok, idx, _ = g.accepts(list(types + cand))
                if idx >= len(types) + len(cand) and cand not in seen:  # the prefix is still viable
                    seen.add(cand)
                    nxt.append(cand)
        if result is not None or not nxt:
            break
        frontier = nxt
    _CLOSING[key] = result
    return result


# --------------------------------------------------------------------------- tags as tokens

def tags_as_tokens(tokenizer: Any, grammar: str | Grammar = "grit") -> list[str]:
    """The tags of ``grammar`` that ``tokenizer`` holds as single added tokens.

    ``tokenizer`` is a Hugging Face tokenizer (or processor), or a local folder /
    hub id to load one from.
    """
    if isinstance(tokenizer, str):
        try:
            from transformers import AutoTokenizer
        except ImportError as exc:  # pragma: no cover - transformers is in the generate extra
            raise ConfigError("--tags-as-tokens needs transformers: pip install 'gritkit[generate]'.") from exc
        try:
            tokenizer = AutoTokenizer.from_pretrained(tokenizer)
        except Exception as exc:
            raise ConfigError(f"Cannot load a tokenizer from {tokenizer!r}: {exc}\n"
                              "Pass a local model folder or a hub id (with network access).") from exc
    tokenizer = getattr(tokenizer, "tokenizer", tokenizer)
    added = set(tokenizer.get_added_vocab()) if hasattr(tokenizer, "get_added_vocab") else set()
    return [t for t in exported_rules(grammar).tags.values() if t in added]


# --------------------------------------------------------------------------- writers

def _cls(chars: str, regex: bool) -> str:
    """A negated character class of ``<`` and ``chars`` (``/`` escaped too in a regex: Lark's ``/…/``)."""
    special = "]\\^-[/" if regex else "]\\^-["
    return "[^<" + "".join("\\" + c if c in special else c for c in chars) + "]"


def _q(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _rx(s: str) -> str:
    return "".join("\\" + c if c in "\\/.^$|?*+()[]{}-" else c for c in s)


def _free_parts(words: Sequence[str], regex: bool) -> tuple[list[str], list[tuple[str, str]]]:
    """Tag-word prefixes (non-empty), and ``(prefix, breaking class)`` pairs."""
    pre = _prefixes(words)
    return [p for p in pre if p], [(p, _cls(_next_chars(words, p), regex)) for p in pre]


def _rep(n: Optional[int]) -> str:
    return "*" if n is None else f"{{0,{n}}}"


def _header(er: ExportedRules, to: str, max_free: Optional[int], tokens: Sequence[str], comment: str) -> str:
    from gritkit import __version__

    bound = "no bound" if max_free is None else f"runs of at most {max_free} characters without '<', " \
        f"at most {max_free} pieces that start at a '<'"
    lines = [f"{er.grammar.name} ({er.grammar.base}.lark), exported by gritkit {__version__}: "
             f"gritkit grammar export {er.grammar.name} --to {to}"
             + ("" if max_free is None else f" --max-free {max_free}"),
             f"Free text: any text without a tag; boxes are free text. Each gap: {bound}.",
             ]
    if tokens:
        lines.append("Tags that may also be written as one token: " + " ".join(tokens))
    return "\n".join(f"{comment} {line}" for line in lines) + "\n"


_CHUNK = 128


def _run(n: Optional[int], lo: int, regex: bool) -> str:
    """``[^<]{lo,n}`` (``lo`` is 0 or 1), written in chunks of 128 when ``n`` is larger.

    xgrammar 0.2.9 rewrites a repetition of more than 128 with lookahead
    assertions, and then its token mask allows tokens (byte sequences that are
    not valid UTF-8) that ``accept_token`` refuses. The chunked form is the same
    language and safe: lengths below 128, then 128..128q-1, then 128q..n.
    """
    if n is None:
        return "[^<]" + ("*" if lo == 0 else "+")
    if n <= _CHUNK:
        return f"[^<]{{{lo},{n}}}"
    q, r = divmod(n, _CHUNK)
    group = "(?:[^<]{%d})" % _CHUNK if regex else "free_chunk"  # EBNF: free_chunk ::= [^<]{128}
    sep = "" if regex else " "
    alts = [f"[^<]{{{lo},{_CHUNK - 1}}}"]
    if q >= 2:
        alts.append(f"{group}{{1,{q - 1}}}{sep}[^<]{{0,{_CHUNK - 1}}}")
    alts.append(f"{group}{{{q}}}" + (f"{sep}[^<]{{0,{r}}}" if r else ""))
    return ("|" if regex else " | ").join(alts)


def _to_ebnf(er: ExportedRules, max_free: Optional[int], to: str) -> str:
    pre, brk = _free_parts(er.words, regex=False)
    out = [_header(er, to, max_free, (), "#")]
    for name, alts in er.rules:
        rhs = " | ".join(" ".join("free_text" if s == GAP else _q(er.tags[s]) if s in er.tags else s
                                  for s in alt) or '""' for alt in alts)
        out.append(f"{'root' if name == 'start' else name} ::= {rhs}")
    n = max_free
    out.append(f'free_text ::= free_run ("<" free_piece){_rep(n)}')
    out.append(f"free_run ::= {_run(n, 0, regex=False)}")
    if n is not None and n > _CHUNK:
        out.append(f"free_chunk ::= [^<]{{{_CHUNK}}}")
    out.append("free_piece ::= free_prefix? | free_break free_run")
    out.append("free_prefix ::= " + " | ".join(_q(p) for p in pre))
    out.append("free_break ::= " + " | ".join((_q(p) + " " if p else "") + c for p, c in brk))
    return "\n".join(out) + "\n"


def _to_lark(er: ExportedRules, max_free: Optional[int], tokens: Sequence[str]) -> str:
    pre, brk = _free_parts(er.words, regex=True)
    token_set = set(tokens)
    out = [_header(er, "lark", max_free, tokens, "//")]

    def sym(s: str) -> str:
        if s == GAP:
            return "free_text"
        if s in er.tags and er.tags[s] in token_set:
            return f"({s} | {er.tags[s]})"
        return s

    for name, alts in er.rules:
        out.append(f"{name}: " + "\n    | ".join(" ".join(sym(s) for s in alt) for alt in alts))
    n = max_free
    rep = "*" if n is None else f"~0..{n}"
    out.append(f"free_text: FREE_RUN? (FREE_PREFIX | FREE_BREAK FREE_RUN?){rep}")
    out.append("")
    for t, text in er.tags.items():
        out.append(f"{t}: {_q(text)}")
    out.append(f"FREE_RUN: /{_run(n, 1, regex=True)}/")
    out.append("FREE_PREFIX: /<(?:" + "|".join(_rx(p) for p in pre) + ")?/")
    out.append("FREE_BREAK: /<(?:" + "|".join(_rx(p) + c for p, c in brk) + ")/")
    return "\n".join(out) + "\n"


def _to_regex(er: ExportedRules, max_free: Optional[int]) -> str:
    pre, brk = _free_parts(er.words, regex=True)
    n = max_free
    run = f"(?:{_run(n, 0, regex=True)})"
    piece = "(?:" + "|".join(_rx(p) for p in pre) + ")?"
    broken = "(?:" + "|".join(_rx(p) + c for p, c in brk) + ")" + run
    gap = f"{run}(?:<(?:{broken}|{piece})){_rep(n)}"
    rules = dict(er.rules)

    def expand(name: str, stack: tuple) -> str:
        if name in stack:
            raise GrammarError(f"Grammar {er.grammar.name!r} is recursive at rule {name!r}; "
                               "a regular expression cannot say it. Export it --to lark or --to ebnf.")
        alts = []
        for alt in rules[name]:
            alts.append("".join(gap if s == GAP else _rx(er.tags[s]) if s in er.tags
                                else expand(s, stack + (name,)) for s in alt))
        return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"

    return expand("start", ())


def export_grammar(grammar: str | Grammar = "grit", *, to: str = "lark", max_free: Optional[int] = DEFAULT_MAX_FREE,
                   tags_as_tokens: Optional[Iterable[str]] = None) -> str:
    """The grammar ``grammar`` in the language of a decoding engine.

    Args:
        grammar: ``"grit"``, ``"r1"``, ``"grit[think=thinking]"``, or a loaded :class:`Grammar`.
        to: ``"lark"`` (llguidance, xgrammar's ``Grammar.from_lark``, vLLM's
            ``structured_outputs={"grammar": ...}``), ``"ebnf"`` (xgrammar's
            ``Grammar.from_ebnf``), ``"gbnf"`` (llama.cpp; the same text), or
            ``"regex"`` (TRL's ``vllm_structured_outputs_regex``; the same language,
            as one regular expression, without comments or token names).
        max_free: the bound on each free-text gap (see :func:`free_text_fits`);
            ``None`` for none.
        tags_as_tokens: tag texts (e.g. from :func:`tags_as_tokens`) the model's
            tokenizer holds as single added tokens; Lark only: each such tag may
            then also be written as the token (llguidance's ``<think>`` syntax).

    Raises:
        ConfigError: an unknown format, a bound below 1, or token tags for a format other than Lark.
        GrammarError: an unknown grammar or tag renaming.

    >>> print(export_grammar("grit", to="regex", max_free=4)[:22])
    [^<]{0,4}(?:<(?:(?:[^<
    """
    if to not in FORMATS:
        from gritkit.errors import unknown_name_message

        raise ConfigError(unknown_name_message("export format", to, FORMATS))
    if max_free is not None and (not isinstance(max_free, int) or max_free < 1):
        raise ConfigError(f"max_free must be a whole number of characters >= 1 (or None for no bound), "
                          f"got {max_free!r}.")
    tokens = [t for t in (tags_as_tokens or ())]
    er = exported_rules(grammar)
    unknown = [t for t in tokens if t not in er.tags.values()]
    if unknown:
        raise ConfigError(f"{unknown} are not tags of grammar {er.grammar.name!r} "
                          f"(its tags: {' '.join(er.tags.values())}).")
    if tokens and to != "lark":
        raise ConfigError(f"Tags as tokens can only be written in Lark (llguidance's <token> syntax); "
                          f"--to {to} spells the tags out, which xgrammar and llama.cpp match byte by byte.")
    if to == "lark":
        return _to_lark(er, max_free, tokens)
    if to == "regex":
        return _to_regex(er, max_free)
    return _to_ebnf(er, max_free, to)
