"""Loading the grammars: the ``.lark`` files, tag renaming, and Lark's LALR tables.

A :class:`Grammar` is built once per (name, tag renaming) and cached. It holds

* the Lark LALR(1) parser built from ``grammars/<name>.lark`` (through
  ``importlib.resources``, so it works from a wheel, a zip or a checkout);
* the grammar's terminals as regular expressions, which :mod:`gritkit.lexer`
  compiles into one scanner;
* a compact copy of Lark's parse table, which :mod:`gritkit.parsing` drives
  directly on the hot path (no parse tree is built);
* what the recovery pass needs to know about sections, derived from the
  grammar itself: their kinds in order, and which may stay unclosed at the end.

>>> g = load_grammar("grit", tags={"think": "thinking"})
>>> g.name, g.open_tag("think"), g.sections
('grit[think=thinking]', '<thinking>', ('think', 'rethink', 'answer'))
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import os
import pickle
import re
from dataclasses import dataclass, field
from typing import Mapping, Optional

from gritkit.errors import GrammarError, unknown_name_message

GRAMMAR_PACKAGE = "gritkit.grammars"
END = "$END"

_TAG_WORD = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*$")

# Readable names for the box terminals, used in error messages and --json output.
BOX_SYNTAX = {
    "JSON_BOX": "json",
    "NESTED_LIST_BOX": "nested_list",
    "LIST_BOX": "list",
    "TUPLE_BOX": "tuple",
    "POINT_PAIR_BOX": "point_pair",
    "BARE_BOX": "bare",
    "QWEN2_VL_BOX": "qwen2_vl",
    "INTERNVL_BOX": "internvl",
    "DEEPSEEK_VL2_BOX": "deepseek_vl2",
}


def available_grammars() -> list[str]:
    """Names of the grammars shipped with gritkit (``grit``, ``r1``)."""
    root = importlib.resources.files(GRAMMAR_PACKAGE)
    return sorted(p.name[:-5] for p in root.iterdir()
                  if p.name.endswith(".lark") and p.name != "box_syntax.lark")


def _read(name: str) -> str:
    return importlib.resources.files(GRAMMAR_PACKAGE).joinpath(name).read_text(encoding="utf-8")


def _import_loader(base_path, grammar_path):
    """Lark ``import_paths`` hook: resolve ``%import .x`` inside the package."""
    name = grammar_path if grammar_path.endswith(".lark") else grammar_path + ".lark"
    try:
        return f"{GRAMMAR_PACKAGE}/{name}", _read(name)
    except FileNotFoundError:
        raise IOError(f"grammar file {name!r} not found in {GRAMMAR_PACKAGE}") from None


@dataclass
class Grammar:
    """One loaded grammar. Build it with :func:`load_grammar`.

    Attributes:
        name: the name, with tag renamings, e.g. ``"grit[think=thinking]"``.
        base: the ``.lark`` file's name (``"grit"``).
        tags: section kind to tag word, e.g. ``{"think": "think", ...}``.
        sections: section kinds in the order the grammar requires them.
        may_end_open: section kinds that may run unclosed to the end of the text.
        terminals: ``(name, regex)`` pairs in scanning order.
        display: readable names of terminals for messages.
    """

    name: str
    base: str
    source: str = field(repr=False)  # the .lark text, tags renamed
    tags: dict[str, str] = field(default_factory=dict)
    sections: tuple[str, ...] = ()
    terminals: list[tuple[str, str]] = field(default_factory=list)
    display: dict[str, str] = field(default_factory=dict)
    states: dict[int, dict[str, tuple]] = field(default_factory=dict, repr=False)
    start_state: int = 0
    end_state: int = 0
    may_end_open: frozenset[str] = frozenset()
    box_terminal: str = "JSON_BOX"
    plans: dict = field(default_factory=dict, repr=False)  # gritkit.parsing._plan memo
    ok_of_tags: dict = field(default_factory=dict, repr=False)  # gritkit.parsing._parse_lazy memo
    reads: object = field(default=None, repr=False)  # gritkit.parsing._parse_lazy's counts
    _expected: dict = field(default_factory=dict, repr=False)
    error_kinds: dict = field(default_factory=dict, repr=False)
    _lark: object = field(default=None, repr=False)
    _boxes_anywhere: Optional[bool] = field(default=None, repr=False)

    @property
    def lark(self):
        """The Lark parser of :attr:`source` (rules, terminals), built on first use.

        Parsing never needs it: its tables come from the on-disk grammar cache when
        they are there (see :func:`load_grammar`).
        """
        if self._lark is None:
            self._lark = _build_lark(self.source, self.base)
        return self._lark

    def __reduce__(self):
        # Plain pickle (Ray, spawned workers): by name, rebuilt (once per process) on load;
        # the Lark tables it holds do not pickle.
        return load_grammar, (self.name,)

    def open_tag(self, kind: str) -> str:
        return f"<{self.tags[kind]}>"

    def close_tag(self, kind: str) -> str:
        return f"</{self.tags[kind]}>"

    def expected_names(self, state: int) -> tuple[str, ...]:
        """Readable names of the tags (or end of text) the parser accepts in ``state`` (memoised).

        Text and boxes may stand anywhere in every grammar here, so they are
        never listed: the list says which tag was due.
        """
        names = self._expected.get(state)
        if names is None:
            acts = self.states[state]
            tags = {self.display[t] for t in acts if t in self.display and t not in BOX_SYNTAX}
            names = self._expected[state] = tuple(sorted(tags, key=lambda n: (n == "end of text", n)))
        return names

    def accepts(self, types: list[str]) -> tuple[bool, int, int]:
        """Run the LALR tables over terminal ``types`` (``$END`` appended).

        Returns ``(ok, index_of_failing_token, state_at_failure)``.
        """
        stack = [self.start_state]
        for i, t in enumerate([*types, END]):
            done = self._step(stack, t)
            if done is not None:
                return done, i, stack[-1]
        return True, len(types), stack[-1]

    def _step(self, stack: list, t: str) -> Optional[bool]:
        """Feed token ``t`` to the LALR parser whose state stack is ``stack`` (changed in place).

        ``None``: ``t`` was shifted, the parse goes on. ``False``: ``t`` is an error
        (the stack is left where it failed). ``True``: the text was accepted, which
        only the end of text can do.
        """
        states = self.states
        while True:
            act = states[stack[-1]].get(t)
            if act is None:
                return False
            if act[0]:  # shift
                stack.append(act[1])
                return None
            n, origin = act[1], act[2]
            if n:
                del stack[-n:]
            goto = states[stack[-1]].get(origin)
            if goto is None:  # pragma: no cover - LALR tables always have the goto
                return False
            stack.append(goto[1])
            if goto[1] == self.end_state:
                return t == END

    @property
    def boxes_anywhere(self) -> bool:
        """Whether boxes never change whether a text follows the grammar (worked out once).

        True when inserting a box anywhere into any sequence of tags leaves ``ok``
        as it was, so ``ok`` can be read from the tags alone
        (:func:`gritkit.parsing.try_parse` does, when no box can hide a tag).
        :func:`box_transparent` proves it on the grammar's LALR tables.
        """
        if self._boxes_anywhere is None:
            tags = [n for n, _ in self.terminals if n not in BOX_SYNTAX]
            self._boxes_anywhere = box_transparent(self, tags, self.box_terminal)
        return self._boxes_anywhere


#: A grammar whose parser needs more stack configurations than this is not analysed
#: (:func:`box_transparent` answers False): the shipped grammars need a few dozen.
MAX_CONFIGURATIONS = 10_000


def box_transparent(g: Grammar, tags: list[str], box: str) -> bool:
    """Prove that inserting ``box`` tokens anywhere never changes ``g.accepts``.

    The parser's configurations (its whole state stack after each token) are
    explored from the start over the alphabet ``tags + [box]``; the grammars here
    repeat boxes with left recursion, so there are finitely many (beyond
    :data:`MAX_CONFIGURATIONS` the answer is a safe False). They form a
    deterministic automaton that accepts exactly what ``g.accepts`` accepts.
    Its states are then grouped by the language they accept (Moore's partition
    refinement); boxes are transparent exactly when, from every reachable
    configuration ``q``, reading a box leads to a configuration that accepts the
    same language as ``q``: by induction on the number of boxes, removing the
    boxes from any token sequence then keeps its verdict.
    """
    alphabet = [*tags, box]
    dead = ()
    index = {(g.start_state,): 0}
    configs = [(g.start_state,)]
    moves: list[list[int]] = []
    final: list[bool] = []
    i = 0
    while i < len(configs):
        stack = configs[i]
        row = []
        for t in alphabet if stack != dead else ():
            s = list(stack)
            if g._step(s, t) is not None:  # an error (a token never accepts)
                nxt = dead
            else:
                nxt = tuple(s)
            j = index.get(nxt)
            if j is None:
                if len(configs) >= MAX_CONFIGURATIONS:
                    return False
                j = index[nxt] = len(configs)
                configs.append(nxt)
            row.append(j)
        moves.append(row or [i] * len(alphabet))
        final.append(stack != dead and g._step(list(stack), END) is True)
        i += 1
    # Moore: split the states by acceptance, then by the classes their moves reach.
    cls = [int(f) for f in final]
    while True:
        sig = {}
        new = [sig.setdefault((cls[q], *(cls[j] for j in moves[q])), len(sig)) for q in range(len(configs))]
        if len(sig) == len(set(cls)):
            break
        cls = new
    b = len(tags)
    return all(cls[moves[q][b]] == cls[q] for q in range(len(configs)) if configs[q] != dead)


def _parse_tags(tags: Optional[Mapping[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for kind, word in (tags or {}).items():
        w = str(word).strip()
        if w.startswith("<") and w.endswith(">"):
            w = w[1:-1].lstrip("/")
        if not _TAG_WORD.match(w):
            raise GrammarError(
                f"Invalid tag name {word!r} for section {kind!r}.\n"
                "A tag name is a letter followed by letters, digits, '_' or '-', "
                "e.g. tags={'think': 'thinking'} for <thinking>…</thinking>.")
        out[str(kind)] = w
    return out


def parse_grammar_spec(spec: str) -> tuple[str, dict[str, str]]:
    """Split ``"grit[think=thinking,answer=final]"`` into a name and a renaming.

    >>> parse_grammar_spec("grit[think=thinking]")
    ('grit', {'think': 'thinking'})
    """
    spec = spec.strip()
    m = re.fullmatch(r"([A-Za-z0-9_\-]+)(?:\[(.*)\])?", spec)
    if not m:
        raise GrammarError(
            f"Invalid grammar {spec!r}.\nExpected a grammar name such as 'grit' or 'r1', "
            "optionally with tag renamings: 'grit[think=thinking,answer=final]'.")
    tags = {}
    if m.group(2):
        for part in m.group(2).split(","):
            if not part.strip():
                continue
            if "=" not in part:
                raise GrammarError(
                    f"Invalid tag renaming {part!r} in grammar {spec!r}; expected SECTION=TAG, "
                    "e.g. 'think=thinking'.")
            k, v = part.split("=", 1)
            tags[k.strip()] = v.strip()
    return m.group(1), tags


def load_grammar(name: str = "grit", tags: Optional[Mapping[str, str]] = None) -> Grammar:
    """Load (once) the grammar ``name``, with sections' tags optionally renamed.

    Args:
        name: ``"grit"`` or ``"r1"`` (or ``"grit[think=thinking]"``).
        tags: section kind to new tag word, e.g. ``{"think": "thinking"}``.

    Raises:
        GrammarError: unknown grammar, unknown section or invalid tag.
    """
    base, spec_tags = parse_grammar_spec(name)
    return _load(base, tuple(sorted(_parse_tags({**spec_tags, **(tags or {})}).items())))


@functools.lru_cache(maxsize=32)
def _load(base: str, renames: tuple[tuple[str, str], ...]) -> Grammar:
    names = available_grammars()
    if base not in names:
        raise GrammarError(unknown_name_message("grammar", base, names))
    text = _read(f"{base}.lark")
    kinds = [m.group(1).lower() for m in re.finditer(r"^([A-Z][A-Z0-9_]*)_OPEN\s*:", text, re.M)]
    tags = {k: k for k in kinds}
    for kind, word in renames:
        if kind not in tags:
            raise GrammarError(unknown_name_message(
                "section", kind, tags, f"Grammar {base!r} has these sections; rename their tags only."))
        tags[kind] = word
    for kind in kinds:
        up = kind.upper()
        text = re.sub(rf"^{up}_OPEN\s*:.*$", f'{up}_OPEN: "<{tags[kind]}>"', text, flags=re.M)
        text = re.sub(rf"^{up}_CLOSE\s*:.*$", f'{up}_CLOSE: "</{tags[kind]}>"', text, flags=re.M)
    if len(set(tags.values())) != len(tags):
        raise GrammarError(f"Two sections of grammar {base!r} would share one tag: {tags}.")
    label = base + ("[" + ",".join(f"{k}={v}" for k, v in renames) + "]" if renames else "")

    # Everything parsing needs is plain data derived from the text; it is kept in the
    # on-disk cache, so a new process neither imports Lark nor rebuilds its tables.
    includes = "".join(_read(m.group(1) + ".lark") for m in re.finditer(r"^%import \.(\w+)", text, re.M))
    key = hashlib.sha256(f"{_CACHE_FORMAT}\0{text}\0{includes}".encode()).hexdigest()[:32]
    data = _cache_read(key)
    lark = None
    if data is None:
        lark = _build_lark(text, base)
        data = _derive(lark, text, kinds)
    g = Grammar(name=label, base=base, source=text, tags=tags, sections=data["sections"],
                terminals=data["terminals"], display=data["display"], states=data["states"],
                start_state=data["start_state"], end_state=data["end_state"], _lark=lark)
    # Which sections may run to the end of the text unclosed? Ask the tables.
    open_end = set()
    for i, kind in enumerate(g.sections):
        prefix = []
        for k in g.sections[:i]:
            prefix += [f"{k.upper()}_OPEN", f"{k.upper()}_CLOSE"]
        rest = []
        for k in g.sections[i + 1:]:
            rest += [f"{k.upper()}_OPEN", f"{k.upper()}_CLOSE"]
        if not rest and g.accepts(prefix + [f"{kind.upper()}_OPEN"])[0]:
            open_end.add(kind)
    g.may_end_open = frozenset(open_end)
    if lark is not None:
        _check_boxes_interchangeable(lark, g)
        _cache_write(key, data)
    return g


_CACHE_FORMAT = "gritkit-grammar-1"


def cache_dir() -> Optional[str]:
    """Where built grammar tables are kept: ``$GRITKIT_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/gritkit``, else ``~/.cache/gritkit`` (``GRITKIT_CACHE_DIR=""`` turns it off)."""
    env = os.environ.get("GRITKIT_CACHE_DIR")
    if env is not None:
        return env or None
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(root, "gritkit")


def _cache_read(key: str) -> Optional[dict]:
    folder = cache_dir()
    if not folder:
        return None
    try:
        with open(os.path.join(folder, f"grammar-{key}.pickle"), "rb") as fh:
            data = pickle.load(fh)
        return data if isinstance(data, dict) and data.get("format") == _CACHE_FORMAT else None
    except Exception:  # missing, unreadable or from another version: rebuild
        return None


def _cache_write(key: str, data: dict) -> None:
    folder = cache_dir()
    if not folder:
        return
    try:
        os.makedirs(folder, exist_ok=True)
        tmp = os.path.join(folder, f".grammar-{key}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, os.path.join(folder, f"grammar-{key}.pickle"))
    except OSError:  # a read-only home: parse without the cache
        pass


def _build_lark(text: str, base: str):
    from lark import Lark

    return Lark(text, parser="lalr", lexer=_no_lexer(), import_paths=[_import_loader],
                source_path=f"{GRAMMAR_PACKAGE}/{base}.lark", propagate_positions=False)


@functools.lru_cache(maxsize=1)
def _no_lexer():
    from lark.lexer import Lexer

    class NoLexer(Lexer):  # gritkit.lexer scans; Lark only builds the tables
        def __init__(self, conf):
            pass

        def lex(self, data):  # pragma: no cover - never called
            raise NotImplementedError

    return NoLexer


def _derive(lark, text: str, kinds: list[str]) -> dict:
    """The plain data parsing needs, from a built Lark parser."""
    from lark.parsers.lalr_analysis import Shift

    table = lark.parser.parser.parser.parse_table
    states: dict[int, dict[str, tuple]] = {}
    for st, acts in table.states.items():
        d = {}
        for tok, (action, arg) in acts.items():
            key = "".join([tok])  # a plain str, not lark's Token (whose __eq__ is slow)
            if action is Shift:
                d[key] = (True, arg)
            else:
                d[key] = (False, len(arg.expansion), "".join([arg.origin.name]))
        states[st] = d

    # Order sections as the start rule uses them.
    start_rule = re.search(r"^start\s*:(.*)$", text, re.M)
    order = start_rule.group(1).split() if start_rule else []
    sections = tuple(sorted(kinds, key=lambda k: order.index(k) if k in order else len(order)))

    display = {END: "end of text"}
    terminals: list[tuple[str, str]] = []
    literal, regex = [], []
    for t in lark.terminals:
        name = "".join([t.name])  # plain str keys: lark's Token compares slowly
        if name == "TEXT":
            continue
        pat = t.pattern
        if type(pat).__name__ == "PatternStr":
            literal.append((name, pat.to_regexp(), "".join([pat.value])))
        else:
            regex.append((name, pat.to_regexp()))
    literal.sort(key=lambda x: -len(x[2]))
    for name, rx, value in literal:
        terminals.append((name, rx))
        display[name] = value
    for name, rx in regex:
        terminals.append((name, rx))
        display[name] = f"a box ({BOX_SYNTAX.get(name, name.lower())})"
    return {"format": _CACHE_FORMAT, "states": states, "start_state": table.start_states["start"],
            "end_state": table.end_states["start"], "sections": sections, "terminals": terminals,
            "display": display}


def _check_boxes_interchangeable(lark, g: Grammar) -> None:
    """The parser plans token sequences with one box per run of boxes; make sure that is exact.

    True when every box terminal occurs only as an alternative of ``box`` and
    ``box`` occurs only in repetitions (``box*``).
    """
    box_terms = set(BOX_SYNTAX)
    for rule in lark.rules:
        names = [s.name for s in rule.expansion]
        origin = rule.origin.name
        if box_terms & set(names) and not (origin == "box" and len(names) == 1):
            raise GrammarError(f"Grammar {g.name!r}: box terminal used outside the rule 'box' ({rule}).")
        if "box" in names and not (origin.startswith("__") and "_star_" in origin or "_plus_" in origin):
            raise GrammarError(f"Grammar {g.name!r}: 'box' must only be repeated (box*), found in {rule}.")
    present = [n for n, _ in g.terminals if n in box_terms]
    if present:
        g.box_terminal = present[0]
