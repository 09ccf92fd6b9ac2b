"""The scanner: one pass over a completion that finds every tag and every box.

The terminals come from the grammar's ``.lark`` files (see
:class:`gritkit.grammar.Grammar`); they are compiled into one regular expression
whose alternatives never back up, so the cost is linear in the text. Text
between matches is TEXT, which the grammars ignore, so it is never turned into
tokens. Each box terminal's match is then read by a small handler that pulls out
its numbers and label (the rules are in docs/grammar.md).

:meth:`Scanner.scan` returns ``(tags, boxes, deviations)``:

* ``tags``: ``(type, start, end, n_boxes)`` per tag, ``n_boxes`` being the number
  of boxes found before it;
* ``boxes``: a :class:`~gritkit.models.Box` per box, in reading order, with
  ``section=None`` (the parser assigns sections; a box terminal may hold several
  boxes, or none: a list of three numbers is scanned as ``LIST_BOX`` but holds
  no box, and a deviation says so);
* ``deviations``: ``(code, message, offset)``, in text order.

Production parsing (:func:`gritkit.parsing.try_parse`) and the equivalence tests
run this one method, with the fast regex or with the reference regex built
straight from the ``.lark`` terminals.
"""

from __future__ import annotations

import bisect
import re
import sys
from typing import Callable, Optional

from gritkit.grammar import BOX_SYNTAX, Grammar
from gritkit.models import make_box

_NUM = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")  # ASCII digits only, as in box_syntax.lark
_INNER_LIST = re.compile(r"\[([^\[\]]*)\]")
_WORD_BACKWARDS = re.compile(r"[\w\-]*")
_LABEL_START = re.compile(r"[A-Za-z_]")
# A bbox key, then its value: a list of lists up to the first "]]" (``\[\s*\[[^{}]*?\]\s*\]``)
# or a flat list (``\[[^\[\]{}]*\]``). _json_values finds the "]]" by bisection over
# all of them, since a regex search for each key would read to the end of the
# object whenever a "[[" is never closed (quadratic in the number of keys).
_JSON_KEY = re.compile(r"""["']?\b(?:bbox_2d|bbox)\b["']?\s*:\s*(?=\[)""")
_NESTED_OPEN = re.compile(r"\[\s*\[")
_FLAT_VALUE = re.compile(r"\[[^\[\]{}]*\]")
_DOUBLE_CLOSE_AT = re.compile(r"\](?=\s*\])")
_DOUBLE_CLOSE = re.compile(r"\]\s*\]")
_JSON_LABEL = re.compile(r"""["']?\blabel\b["']?\s*:\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")
_QWEN_REF = re.compile(r"<\|object_ref_start\|>([^<]*)<\|object_ref_end\|>")
_INTERN_REF = re.compile(r"<ref>([^<]*)</ref>")
_DEEPSEEK_REF = re.compile(r"<\|ref\|>([^<]*)<\|/ref\|>")
_WS = re.compile(r"\s")

# The integers most boxes are written with, by their text: a dict lookup is
# several times faster than int() (box numbers are most of a parse's work).
_INT = {str(i): i for i in range(4096)}



def _num(s: str):
    if "." in s:
        return float(s)
    try:
        return int(s)
    except ValueError:  # more digits than int() accepts: far outside any image anyway
        return float(s)


def _nums(s: str) -> list:
    found = _NUM.findall(s)
    if "." not in s:
        try:
            return list(map(int, found))
        except ValueError:
            pass
    return [_num(x) for x in found]


def _label_before(text: str, start: int) -> Optional[str]:
    """The word written right before ``start`` (the label of ``label[[...]]``).

    That is the longest ``[A-Za-z_][\\w\\-]*`` ending at ``start`` within the 64
    characters before it, read backwards so no search tries every position.
    """
    run = _WORD_BACKWARDS.match(text[max(0, start - 64):start][::-1]).group()
    if not run:
        return None
    word = run[::-1]
    m = _LABEL_START.search(word)
    return word[m.start():] if m else None


def _clean_label(s: Optional[str]) -> Optional[str]:
    if s is None:
        return None
    s = s.strip()
    return s or None


def _quads(nums: list, label, syntax, start, end, boxes: list, devs: list, what: str) -> None:
    """Append one box per four numbers; a remainder is a deviation."""
    n = len(nums)
    for i in range(0, n - n % 4, 4):
        boxes.append((tuple(nums[i:i + 4]), label, syntax, start, end))
    if n % 4:
        devs.append(("not_a_box", f"{what} holds {n} numbers; a box needs four "
                                  f"(x1, y1, x2, y2), so {n % 4} were ignored", start))


def _lists(body: str, offset: int, label, syntax, boxes: list, devs: list) -> None:
    """Boxes from every innermost [...] list in ``body`` (spans of each list)."""
    found = False
    for m in _INNER_LIST.finditer(body):
        found = True
        nums = _nums(m.group(1))
        s, e = offset + m.start(), offset + m.end()
        if len(nums) == 4:
            boxes.append((tuple(nums), label, syntax, s, e))
        else:
            devs.append(("not_a_box", f"a list of {len(nums)} numbers is not a box "
                                      "(a box needs four: x1, y1, x2, y2)", s))
    if not found:
        _quads(_nums(body), label, syntax, offset, offset + len(body), boxes, devs, "a box group")


def _h_bare(text, s, e, boxes, devs):
    raw = text[s:e]
    if raw.count(",") != 3:
        return
    parts = raw.split(",")
    decimal = "." in raw
    if (not decimal and "-" not in raw and not _WS.search(raw)
            and 1 <= len(parts[0]) <= 3 and all(len(p) == 3 for p in parts[1:])):
        return  # 1,000,000,000: one number with thousands separators
    if not decimal:
        try:  # each part is an integer with spaces around it, which int() ignores
            boxes.append((tuple(map(int, parts)), None, "bare", s, e))
            return
        except ValueError:  # more digits than int() accepts
            pass
    boxes.append((tuple(_nums(raw)), None, "bare", s, e))


def _h_list(text, s, e, boxes, devs):
    nums = _nums(text[s:e])
    if len(nums) == 4:
        boxes.append((tuple(nums), None, "list", s, e))
    elif len(nums) in (3, 5):
        devs.append(("not_a_box", f"a list of {len(nums)} numbers is not a box "
                                  "(a box needs four: x1, y1, x2, y2)", s))


def _h_tuple(text, s, e, boxes, devs):
    boxes.append((tuple(_nums(text[s:e])), None, "tuple", s, e))


def _h_points(text, s, e, boxes, devs):
    boxes.append((tuple(_nums(text[s:e])), None, "point_pair", s, e))


def _h_nested(text, s, e, boxes, devs):
    _lists(text[s:e], s, _label_before(text, s), "nested_list", boxes, devs)


def _json_values(body: str) -> list[tuple[int, int, str]]:
    """``(key_start, value_start, value)`` of each bbox key of a JSON object, in order."""
    out = []
    closes = None  # where each "]" followed by "]" stands, found once
    pos = 0
    while True:
        k = _JSON_KEY.search(body, pos)
        if k is None:
            return out
        vs = k.end()
        end = None
        nested = _NESTED_OPEN.match(body, vs)
        if nested is not None:
            if closes is None:
                closes = [c.start() for c in _DOUBLE_CLOSE_AT.finditer(body)]
            j = bisect.bisect_left(closes, nested.end())
            if j < len(closes):
                end = _DOUBLE_CLOSE.match(body, closes[j]).end()
        if end is None:
            flat = _FLAT_VALUE.match(body, vs)
            if flat is not None:
                end = flat.end()
        if end is None:  # no value here: look again from the next character
            pos = k.start() + 1
            continue
        out.append((k.start(), vs, body[vs:end]))
        pos = end


def _h_json(text, s, e, boxes, devs):
    body = text[s:e]
    keys = _json_values(body)
    labels = [(m.start(), m.group(1) if m.group(1) is not None else m.group(2))
              for m in _JSON_LABEL.finditer(body)]

    positions = [p for p, _ in labels]

    def label_for(i: int, pos: int):
        if not labels:
            return None
        if len(labels) == len(keys):
            return labels[i][1]
        if len(labels) == 1:
            return labels[0][1]
        # the nearest label (the earlier one on a tie), found by bisection: linear overall
        j = bisect.bisect_left(positions, pos)
        if j == 0:
            return labels[0][1]
        if j == len(labels) or pos - positions[j - 1] <= positions[j] - pos:
            return labels[j - 1][1]
        return labels[j][1]

    for i, (key_start, value_start, value) in enumerate(keys):
        label = _clean_label(label_for(i, key_start))
        vs = s + value_start
        if value[1:].lstrip().startswith("["):
            _lists(value[1:-1], vs + 1, label, "json", boxes, devs)
        else:
            nums = _nums(value)
            if len(nums) == 4:
                boxes.append((tuple(nums), label, "json", vs, vs + len(value)))
            else:
                devs.append(("not_a_box", f"a bbox value of {len(nums)} numbers is not a box "
                                          "(a box needs four: x1, y1, x2, y2)", vs))


def _h_tagged(ref: re.Pattern, open_tag: str, syntax: str, pairs: bool):
    def handler(text, s, e, boxes, devs):
        body = text[s:e]
        m = ref.search(body)
        label = _clean_label(m.group(1)) if m else None
        i = body.rfind(open_tag)
        inner_start = s + i + len(open_tag)
        inner = text[inner_start:e]
        if pairs:
            _quads(_nums(inner), label, syntax, s, e, boxes, devs, f"a {open_tag} group")
        else:
            _lists(inner, inner_start, label, syntax, boxes, devs)
    return handler


_HANDLERS: dict[str, Callable] = {
    "BARE_BOX": _h_bare,
    "LIST_BOX": _h_list,
    "TUPLE_BOX": _h_tuple,
    "POINT_PAIR_BOX": _h_points,
    "NESTED_LIST_BOX": _h_nested,
    "JSON_BOX": _h_json,
    "QWEN2_VL_BOX": _h_tagged(_QWEN_REF, "<|box_start|>", "qwen2_vl", pairs=True),
    "INTERNVL_BOX": _h_tagged(_INTERN_REF, "<box>", "internvl", pairs=False),
    "DEEPSEEK_VL2_BOX": _h_tagged(_DEEPSEEK_REF, "<|det|>", "deepseek_vl2", pairs=False),
}


# --------------------------------------------------------------------------- scanners
#
# The reference scanner joins the grammar's terminal regexes into one
# alternation. It is exact but slow: no alternative starts with a literal, so
# Python's regex engine tries every alternative at every character. The fast
# scanner is the same language, hand-factored so that every top-level branch
# starts with one literal character (the engine then skips, in C, every
# character that cannot start a token), and with extra branches for the common
# one-box forms that capture their four numbers and label directly, so no
# second pass over the match is needed. tests/test_scanner.py checks that both
# scanners give the same scan and the same parse results on the benchmark
# corpus and on random text, Unicode digits included.
#
# A number is written in ASCII digits: [0-9], never \d (which also matches
# Arabic-Indic, Devanagari, fullwidth ... digits). docs/grammar.md says why.

_N = r"-?[0-9]+(?:\.[0-9]+)?"
_S = r"\s*+,\s*+"
_Q = r"[\"']?"
_SQ = rf"\[\s*+{_N}(?:{_S}{_N})*+\s*+\]"
_C4 = rf"({_N}){_S}({_N}){_S}({_N}){_S}({_N})"          # four captured numbers
_L4 = rf"(\[\s*{_C4}\s*\])"                              # a captured [x1, y1, x2, y2]
_P4 = rf"\(\s*({_N}){_S}({_N})\s*\)\s*,?\s*\(\s*({_N}){_S}({_N})\s*\)"  # (x1,y1),(x2,y2)
_KEY = rf"{_Q}(?:bbox_2d|bbox){_Q}\s*:\s*"
_LABEL = rf"{_Q}label{_Q}\s*:\s*\"([^\"\\{{}}]*)\""

# Fast one-box branches: name -> (token type, syntax, span group offset (None:
# the whole match), first number group offset, label group offset (None: no
# label)). Offsets count capturing groups after the branch's named group.
_FAST = {
    "JSON_1": ("JSON_BOX", "json", 1, 2, 6),
    "JSON_2": ("JSON_BOX", "json", 2, 3, 1),
    "NESTED_1": ("NESTED_LIST_BOX", "nested_list", 1, 2, None),
    "LIST_1": ("LIST_BOX", "list", None, 1, None),
    "TUPLE_BOX": ("TUPLE_BOX", "tuple", None, 1, None),
    "POINT_PAIR_BOX": ("POINT_PAIR_BOX", "point_pair", None, 1, None),
    "QWEN_1": ("QWEN2_VL_BOX", "qwen2_vl", None, 2, 1),
    "INTERNVL_1": ("INTERNVL_BOX", "internvl", 2, 3, 1),
    "DEEPSEEK_1": ("DEEPSEEK_VL2_BOX", "deepseek_vl2", 2, 3, 1),
}

_BOX_BRANCHES = [
    r"\{(?:"
    rf"(?P<JSON_1>\s*{_KEY}{_L4}\s*(?:,\s*{_LABEL}\s*)?\}})"
    rf"|(?P<JSON_2>\s*{_LABEL}\s*,\s*{_KEY}{_L4}\s*\}})"
    r"|(?P<JSON_BOX>(?=[^{}]*?[\"']?\b(?:bbox_2d|bbox)\b[\"']?\s*:\s*\[)[^{}]*+\}))",
    r"\[(?:"
    rf"(?P<NESTED_1>\s*{_L4}\s*\])"
    rf"|(?P<NESTED_LIST_BOX>\s*+{_SQ}(?:{_S}{_SQ})*+\s*+\])"
    rf"|(?P<LIST_1>\s*{_C4}\s*\])"
    rf"|(?P<LIST_BOX>\s*+{_N}(?:{_S}{_N})*+\s*+\]))",
    rf"\((?:(?P<TUPLE_BOX>\s*{_C4}\s*\))"
    rf"|(?P<POINT_PAIR_BOX>\s*({_N}){_S}({_N})\s*\)\s*,?\s*\(\s*({_N}){_S}({_N})\s*\)))",
] + [
    # A bare run starts at a digit or '-' that does not continue a word or a
    # number; the lookbehind re-reads that first character.
    re.escape(c) + rf"(?<![\w.]{re.escape(c)})(?P<BARE_{i}>" + (r"[0-9]+" if c == "-" else r"[0-9]*")
    + rf"(?:\.[0-9]+)?(?:{_S}{_N})++)"
    for i, c in enumerate("-0123456789")
]
_TAGGED_BOXES = [
    rf"(?P<QWEN_1>(?:\|object_ref_start\|>([^<]*)<\|object_ref_end\|>\s*<)?\|box_start\|>\s*{_P4}\s*<\|box_end\|>)",
    r"(?P<QWEN2_VL_BOX>(?:\|object_ref_start\|>[^<]*+<\|object_ref_end\|>\s*<)?\|box_start\|>[^<]*+<\|box_end\|>)",
    rf"(?P<INTERNVL_1>(?:ref>([^<]*)</ref>\s*<)?box>\s*\[\s*{_L4}\s*\]\s*</box>)",
    r"(?P<INTERNVL_BOX>(?:ref>[^<]*+</ref>\s*<)?box>[^<]*+</box>)",
    rf"(?P<DEEPSEEK_1>(?:\|ref\|>([^<]*)<\|/ref\|>\s*<)?\|det\|>\s*\[\s*{_L4}\s*\]\s*<\|/det\|>)",
    r"(?P<DEEPSEEK_VL2_BOX>(?:\|ref\|>[^<]*+<\|/ref\|>\s*<)?\|det\|>[^<]*+<\|/det\|>)",
]
#: The tags that the tagged box syntaxes above are written with, in the ``<word>`` form
#: a section's tag could take: a section tag spelt like one of them could be read
#: inside a box, so :meth:`Scanner.tags_alone` never reads tags alone for such a grammar.
BOX_DELIMITER_TAGS = frozenset({"<ref>", "</ref>", "<box>", "</box>"})
#: A ``{`` whose brace-free run reaches a ``<``: only there can a box (a JSON object,
#: whose text is ``{`` then no brace then ``}``) hold a tag (docs/grammar.md).
_BRACE_THEN_TAG = re.compile(r"\{[^{}<]*+<")
_GROUP_TYPE = {f"BARE_{i}": "BARE_BOX" for i in range(11)}
_GROUP_TYPE.update({k: v[0] for k, v in _FAST.items()})


def _reference_regex(grammar: Grammar) -> str:
    return "|".join(f"(?P<{n}>{rx})" for n, rx in grammar.terminals)


def _compat(rx: str) -> str:
    """Python < 3.11 has no possessive quantifiers: drop them (same language, slower
    on pathological input)."""
    if sys.version_info >= (3, 11):
        return rx
    return rx.replace("*+", "*").replace("++", "+")


def _fast_regex(grammar: Grammar) -> str:
    tags = sorted(((n, grammar.display[n]) for n, _ in grammar.terminals if n not in BOX_SYNTAX),
                  key=lambda x: -len(x[1]))
    if not all(v.startswith("<") for _, v in tags):  # pragma: no cover - tags are <word> by construction
        raise ValueError("fast scanning needs tags that start with '<'")
    tag_branch = "|".join(f"(?P<{n}>{re.escape(v[1:])})" for n, v in tags)
    return _compat("<(?:" + "|".join([tag_branch] + _TAGGED_BOXES) + ")|" + "|".join(_BOX_BRANCHES))


# The end of a text cut inside a bracketed box: an opening [ or ( followed only by
# numbers, commas and spaces up to the end. The run is matched on the reversed
# end of the text (a match, not a search), in windows that grow fourfold: linear.
_TAIL_CHARS = frozenset("0123456789,.- \t\r\n")
_TAIL_RUN = re.compile(r"[0-9,.\-\s]*")
_DIGIT = re.compile(r"[0-9]")


def truncated_tail(text: str) -> Optional[tuple[int, str]]:
    """Where a bracketed box cut off by the end of the text starts, and a message.

    ``None`` unless the text ends inside ``[`` or ``(`` followed by numbers only
    (``… the jar [101, 44, 160, 9``): such a group is not a box, however many
    numbers it holds, since its last number may be unfinished.
    """
    n = len(text)
    if not n or (text[-1] not in _TAIL_CHARS and not text[-1].isspace()):
        return None
    window = 64  # read the end backwards, widening the window while it is all digits and commas
    while True:
        lo = max(0, n - window)
        run = _TAIL_RUN.match(text[lo:][::-1]).end()
        if run < n - lo:
            break
        if lo == 0:
            return None  # the whole text is numbers and commas: no bracket
        window *= 4
    start = n - run - 1
    if text[start] not in "[(":
        return None
    if _DIGIT.search(text, start + 1) is None:  # "[" or "( ," alone: nothing of a box yet
        return None
    written = text[start:].rstrip()
    shown = written if len(written) <= 40 else written[:37] + "..."
    close = "]" if text[start] == "[" else ")"
    return start, (f"{shown!r} is cut off by the end of the text (no closing {close!r}); "
                   f"a box that was never finished is not read as a box")


class Scanner:
    """The compiled scanner of one grammar.

    Args:
        grammar: the grammar whose terminals to scan.
        reference: use the slow reference scanner built directly from the
            grammar's terminal regexes (tests compare the two).
    """

    def __init__(self, grammar: Grammar, reference: bool = False):
        unknown = [n for n, _ in grammar.terminals
                   if n not in _HANDLERS and not (n.endswith("_OPEN") or n.endswith("_CLOSE"))]
        if unknown:
            from gritkit.errors import GrammarError
            raise GrammarError(f"Grammar {grammar.name!r} has terminals gritkit cannot scan: {unknown}.")
        self.grammar = grammar
        self.reference = reference
        self.regex = re.compile(_reference_regex(grammar) if reference else _fast_regex(grammar))
        self.handlers = {n: _HANDLERS[n] for n, _ in grammar.terminals if n in BOX_SYNTAX}
        for g, t in _GROUP_TYPE.items():
            self.handlers[g] = _HANDLERS[t]
        # fast branches: named group -> (syntax, span group, the four number groups, label group)
        self.fast = {}
        if not reference:
            index = self.regex.groupindex
            for name, (_, syntax, span, num, label) in _FAST.items():
                i = index[name]
                self.fast[name] = (syntax, None if span is None else i + span,
                                   tuple(range(i + num, i + num + 4)),
                                   None if label is None else i + label)
                self.handlers.pop(name, None)
        # regex group -> None (a tag), a fast branch's spec (a tuple) or a box handler
        self.dispatch = {n: None for n, _ in grammar.terminals if n not in BOX_SYNTAX}
        self.dispatch.update(self.handlers)
        self.dispatch.update(self.fast)
        self.opens = {f"{k.upper()}_OPEN": k for k in grammar.sections}
        self.closes = {f"{k.upper()}_CLOSE": k for k in grammar.sections}
        self.order = {k: i for i, k in enumerate(grammar.sections)}
        # The tags alone (Scanner.tags_alone), where they decide ok by themselves.
        tag_text = {grammar.display[n]: n for n in self.opens} | {grammar.display[n]: n for n in self.closes}
        self.tag_regex = None
        if not reference and grammar.boxes_anywhere and not BOX_DELIMITER_TAGS & set(tag_text):
            self.tag_regex = re.compile("|".join(re.escape(t) for t in sorted(tag_text, key=len, reverse=True)))
        self.tag_type = tag_text

    def tags_alone(self, text: str) -> Optional[tuple]:
        """``text``'s tags as written, in order, or ``None`` when they may differ from :meth:`scan`'s.

        Whenever it is not ``None`` these are exactly the tags that :meth:`scan`
        finds (``tag_type`` gives their types): a box's text can hold a tag only
        inside a JSON object (``{`` and ``}`` with no brace between; the other
        syntaxes hold no ``<`` but their own delimiters), so a text where no ``{``
        is followed by a ``<`` before the next brace has the same tags; a grammar
        whose tags are spelt like those delimiters is never read this way.
        ``None`` too when the grammar's ``ok`` may depend on where boxes stand
        (:attr:`~gritkit.grammar.Grammar.boxes_anywhere`).
        """
        rx = self.tag_regex
        if rx is None or ("{" in text and _BRACE_THEN_TAG.search(text) is not None):
            return None
        return tuple(rx.findall(text))

    def scan(self, text: str) -> tuple[list, list, list]:
        """Return ``(tags, boxes, deviations)`` for ``text`` (see the module docstring)."""
        tags: list = []
        boxes: list = []
        devs: list = []
        dispatch = self.dispatch
        add_tag, add_box = tags.append, boxes.append
        for m in self.regex.finditer(text):
            t = m.lastgroup
            spec = dispatch[t]
            if spec is None:
                s, e = m.span()
                add_tag((t, s, e, len(boxes)))
            elif spec.__class__ is tuple:  # one box whose numbers and label the regex captured
                syntax, sg, g4, lg = spec
                g4 = m.group(*g4)
                try:
                    coords = _INT[g4[0]], _INT[g4[1]], _INT[g4[2]], _INT[g4[3]]
                except KeyError:  # negative, large, decimal, or leading zeros
                    coords = tuple(map(_num, g4))
                label = None
                if lg is not None:
                    label = m.group(lg)
                    if label is not None:
                        label = label.strip() or None
                elif syntax == "nested_list":
                    label = _label_before(text, m.start())
                s, e = m.span(sg) if sg is not None else m.span()
                add_box(make_box(coords, label, syntax, None, s, e, len(boxes)))
            else:
                raw: list = []
                spec(text, m.start(), m.end(), raw, devs)
                for coords, label, syntax, s, e in raw:
                    add_box(make_box(coords, label, syntax, None, s, e, len(boxes)))
        if text and (text[-1] in _TAIL_CHARS or text[-1].isspace()):
            cut = truncated_tail(text)
            if cut is not None:
                start, message = cut
                while boxes and boxes[-1]._start >= start:  # the bare run read inside the cut box
                    boxes.pop()
                devs.append(("truncated_box", message, start))
        return tags, boxes, devs
