"""The exported grammars compile in xgrammar and llguidance, and accept what gritkit's parser accepts.

The agreement test checks, on thousands of strings sampled from the grammar (with
mutations) and from the benchmark corpus, that every engine's own matcher
accepts exactly the strings whose tags (read literally) follow the grammar and
whose free-text gaps fit the bound, and that this equals ``try_parse(s).ok``
except where a JSON box swallows a tag (docs/generation.md, "Where the
exported grammar and the parser differ").
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

import gritkit
from gritkit.errors import ConfigError, GrammarError
from gritkit.export import (FORMATS, export_grammar, exported_rules, free_text_fits, literal_tags,
                            shortest_closing)
from gritkit.grammar import BOX_SYNTAX, load_grammar
from gritkit.lexer import Scanner

xgr = pytest.importorskip("xgrammar", reason="the generate extra: pip install 'gritkit[generate]'")
llg = pytest.importorskip("llguidance", reason="the generate extra: pip install 'gritkit[generate]'")
from llguidance.gbnf_to_lark import gbnf_to_lark  # noqa: E402

GRAMMARS = ["grit", "r1", "grit[think=thinking,answer=final]"]
BOUND = 24
LONG_BOUND = 200  # over 128: runs are written in chunks of 128 (see the xgrammar test below)


# --------------------------------------------------------------------------- the engines' own matchers

class _ByteTokenizer:
    """A tokenizer of the 256 bytes (and an end token), so llguidance checks strings byte by byte."""

    def __init__(self):
        self.tokens = [bytes([i]) for i in range(256)] + [b"\xff</s>"]
        self.eos_token_id = 256
        self.bos_token_id = None
        self.special_token_ids = [256]

    def __call__(self, data):
        return list(data)


_LLTOK = None


def _lltok():
    global _LLTOK
    if _LLTOK is None:
        _LLTOK = llg.LLTokenizer(llg.TokenizerWrapper(_ByteTokenizer()))
    return _LLTOK


class XgrammarAccepts:
    def __init__(self, grammar):
        compiled = xgr.GrammarCompiler(xgr.TokenizerInfo([]), cache_enabled=False).compile_grammar(grammar)
        self.m = xgr.GrammarMatcher(compiled, terminate_without_stop_token=True)

    def __call__(self, s: str) -> bool:
        self.m.reset()
        return self.m.accept_string(s) and self.m.is_terminated()


class LlguidanceAccepts:
    def __init__(self, grammar: str):
        self.m = llg.LLMatcher(_lltok(), grammar, log_level=0)
        assert not self.m.is_error(), self.m.get_error()

    def __call__(self, s: str) -> bool:
        self.m.reset()
        data = list(s.encode("utf-8"))
        if self.m.validate_tokens(data) < len(data):  # (consuming a bad byte would leave it in error)
            return False
        return self.m.consume_tokens(data) and self.m.is_accepting()


# --------------------------------------------------------------------------- compiling

@pytest.mark.parametrize("name", GRAMMARS)
@pytest.mark.parametrize("max_free", [None, 16, 1024])
def test_every_export_compiles_in_xgrammar_and_llguidance(name, max_free):
    lark = export_grammar(name, to="lark", max_free=max_free)
    xgr.Grammar.from_lark(lark)
    assert not llg.LLMatcher(_lltok(), lark, log_level=0).is_error()
    ebnf = export_grammar(name, to="ebnf", max_free=max_free)
    xgr.Grammar.from_ebnf(ebnf)
    gbnf = export_grammar(name, to="gbnf", max_free=max_free)
    assert not llg.LLMatcher(_lltok(), gbnf_to_lark(gbnf), log_level=0).is_error()  # llama.cpp's syntax
    regex = export_grammar(name, to="regex", max_free=max_free)
    xgr.Grammar.from_regex(regex)
    assert not llg.LLMatcher(_lltok(), llg.LLMatcher.grammar_from_regex(regex), log_level=0).is_error()
    re.compile(regex)


def test_lark_export_has_no_import_and_defines_free_text():
    text = export_grammar("grit", to="lark", max_free=64)
    assert "%import" not in text and "%declare" not in text
    assert "FREE_RUN: /[^<]{1,64}/" in text
    assert 'THINK_OPEN: "<think>"' in text


def test_renamed_tags_are_exported():
    text = export_grammar("grit[think=thinking]", to="ebnf", max_free=8)
    assert '"<thinking>"' in text and '"<think>"' not in text
    m = XgrammarAccepts(text)
    assert m("<thinking>a</thinking><rethink>b</rethink><answer>c")
    assert not m("<think>a</think><rethink>b</rethink><answer>c")


def test_tags_as_tokens_compile_with_a_tokenizer_that_has_them():
    from gritkit.export import tags_as_tokens
    from gritkit.tiny import GRIT_TAGS, build_tokenizer

    tok = build_tokenizer(("<pad>", "<eos>"), eos="<eos>", pad="<pad>", vocab_size=300)
    assert tags_as_tokens(tok) == list(GRIT_TAGS)
    lark = export_grammar("grit", to="lark", max_free=16, tags_as_tokens=tags_as_tokens(tok))
    assert "(THINK_OPEN | <think>)" in lark
    import llguidance.hf

    lltok = llguidance.hf.from_tokenizer(tok)
    m = llg.LLMatcher(lltok, lark, log_level=0)
    assert not m.is_error(), m.get_error()
    ids = tok("<think>a cat</think><rethink>ok</rethink><answer>1").input_ids
    assert tok.convert_tokens_to_ids("<think>") in ids  # the tag is one token here
    assert m.consume_tokens(ids) and m.is_accepting()
    # and xgrammar's Lark front end reads the token syntax too
    info = xgr.TokenizerInfo.from_huggingface(tok)
    xgr.Grammar.from_lark(lark, tokenizer_info=info)


def test_tags_as_tokens_only_in_lark_and_only_tags():
    with pytest.raises(ConfigError, match="only be written in Lark"):
        export_grammar("grit", to="ebnf", tags_as_tokens=["<think>"])
    with pytest.raises(ConfigError, match="not tags of grammar"):
        export_grammar("grit", to="lark", tags_as_tokens=["<thinking>"])


def test_bad_format_bound_and_grammar_say_how_to_fix():
    with pytest.raises(ConfigError, match="Did you mean 'ebnf'"):
        export_grammar("grit", to="ebfn")
    with pytest.raises(ConfigError, match="max_free must be"):
        export_grammar("grit", to="lark", max_free=0)
    with pytest.raises(GrammarError):
        export_grammar("grot", to="lark")


def test_boxes_fold_into_gaps_and_the_rules_follow_the_lark_file():
    er = exported_rules("grit")
    rules = dict(er.rules)
    assert set(rules) == {"start", "think", "rethink", "answer"}
    assert rules["start"] == (("$GAP", "think", "$GAP", "rethink", "$GAP", "answer"),)
    assert set(rules["answer"]) == {("ANSWER_OPEN", "$GAP", "ANSWER_CLOSE", "$GAP"), ("ANSWER_OPEN", "$GAP")}
    assert not set(BOX_SYNTAX) & {s for alts in rules.values() for alt in alts for s in alt}


@pytest.mark.parametrize("text,closing", [
    ("", ["<think>", "</think>", "<rethink>", "</rethink>", "<answer>"]),
    ("<think>a <thi", ["</think>", "<rethink>", "</rethink>", "<answer>"]),
    ("<think>a</think> <rethink>", ["</rethink>", "<answer>"]),
    ("<think>a</think><rethink>b</rethink><answer>c", []),
    ("<rethink>", None),  # out of order: no tags can repair it
])
def test_shortest_closing(text, closing):
    assert shortest_closing(text) == closing
    if closing is not None:
        assert gritkit.try_parse(text + "".join(closing)).ok


# --------------------------------------------------------------------------- agreement with try_parse

_PIECES = ["a", "the cat", " ", "\n", "7", "é", "中", "<", "/", ">", "<t", "<thi", "think", "</", "</th",
           "answer", "<ans", "re", "<<", "<a>", "<br/>", "{", "}", '{"bbox_2d": [1, 2, 30, 40]}',
           "(10, 20, 30, 40)", "[1, 2, 3, 4]", "<box>[[1, 2, 3, 4]]</box>", '{"bbox_2d": [5, 6',
           "<|box_start|>(1,2),(3,4)<|box_end|>", "ing>", "k>", "rethin"]


def _gap(rng: random.Random, max_pieces: int) -> str:
    return "".join(rng.choice(_PIECES) for _ in range(rng.randrange(max_pieces + 1)))


def _sample(rng: random.Random, name: str) -> str:
    """A string from the grammar's rules, free text random, then maybe mutated."""
    er = exported_rules(name)
    rules = dict(er.rules)

    def walk(sym: str) -> list[str]:
        if sym == "$GAP":
            return [_gap(rng, rng.choice([2, 6, 14]))]
        if sym in er.tags:
            return [er.tags[sym]]
        alt = rng.choice(rules[sym])
        return [x for s in alt for x in walk(s)]

    parts = walk("start")
    tags = list(er.tags.values())
    r = rng.random()
    if r < 0.08:   # drop a tag
        tag_at = [i for i, p in enumerate(parts) if p in tags]
        del parts[rng.choice(tag_at)]
    elif r < 0.16:  # a tag again, somewhere
        parts.insert(rng.randrange(len(parts) + 1), rng.choice(tags))
    elif r < 0.22:  # truncated
        s = "".join(parts)
        return s[:rng.randrange(len(s) + 1)]
    elif r < 0.26:  # two parts swapped
        i, j = rng.randrange(len(parts)), rng.randrange(len(parts))
        parts[i], parts[j] = parts[j], parts[i]
    return "".join(parts)


def _json_box_swallows_a_tag(s: str, g, scanner: Scanner) -> bool:
    """A tag written in ``s`` that the parser's scanner does not see as a tag (a box terminal took it)."""
    scanned = {start for _, start, _, *_ in scanner.scan(s)[0]}
    return any(start not in scanned for _, start, _ in literal_tags(s, g))


def _export_should_accept(s: str, g, max_free) -> bool:
    """The exported grammar's language, said in Python: tags read literally, gaps within the bound."""
    found = literal_tags(s, g)
    if not g.accepts([t for t, _, _ in found])[0]:
        return False
    cuts = [0] + [x for _, a, b in found for x in (a, b)] + [len(s)]
    return all(free_text_fits(s[cuts[i]:cuts[i + 1]], max_free, g) for i in range(0, len(cuts), 2))


@pytest.mark.slow
@pytest.mark.parametrize("name", GRAMMARS)
def test_exported_grammars_agree_with_try_parse(name):
    sys.path.insert(0, "benchmarks")
    from corpus import make_corpus

    g = load_grammar(name)
    scanner = Scanner(g)
    rng = random.Random(11)
    strings = [_sample(rng, name) for _ in range(2500 if name == "grit" else 600)]
    if name == "grit":
        strings += [rec["output"] for rec in make_corpus(1200, seed=5)]
    strings += JSON_SWALLOW_EXAMPLES if name == "grit" else []
    checks = {}
    for bound in (None, BOUND, LONG_BOUND):
        checks[bound] = {
            "xgrammar ebnf": XgrammarAccepts(export_grammar(g, to="ebnf", max_free=bound)),
            "llguidance lark": LlguidanceAccepts(export_grammar(g, to="lark", max_free=bound)),
            "python regex": re.compile(export_grammar(g, to="regex", max_free=bound), re.S).fullmatch,
        }
    checks[BOUND]["xgrammar lark"] = XgrammarAccepts(xgr.Grammar.from_lark(export_grammar(g, to="lark",
                                                                                          max_free=BOUND)))
    checks[BOUND]["xgrammar regex"] = XgrammarAccepts(xgr.Grammar.from_regex(export_grammar(g, to="regex",
                                                                                           max_free=BOUND)))
    counts = {"parsed": 0, "bound": 0, "json": 0}
    for s in strings:
        ok = gritkit.try_parse(s, g).ok
        counts["parsed"] += ok
        for bound, engines in checks.items():
            want = _export_should_accept(s, g, bound)
            for engine, accepts in engines.items():
                assert bool(accepts(s)) == want, (engine, bound, s)
        exact = _export_should_accept(s, g, None)
        if _json_box_swallows_a_tag(s, g, scanner):
            counts["json"] += 1
            continue
        assert exact == ok, s   # the one structural difference is the JSON box
        if ok and not _export_should_accept(s, g, BOUND):
            counts["bound"] += 1
    # the sample exercises both sides and the bound
    assert 0.2 * len(strings) < counts["parsed"] < 0.9 * len(strings), counts
    assert counts["bound"] > 10, counts
    if name == "grit":
        assert counts["json"] >= len(JSON_SWALLOW_EXAMPLES), counts


JSON_SWALLOW_EXAMPLES = [
    # the parser reads `{"bbox_2d": ... }` as one box across </think><rethink>..., the export sees the tags
    '<think>{"bbox_2d": [1, 2, 3, 4] </think><rethink>x</rethink><answer>y}',
    # the parser hides the first <think> inside the box, the export sees two
    '{"bbox_2d": [1, 2, 3, 4], "note": "<think>"}<think>a</think><rethink>b</rethink><answer>c',
]


def test_json_box_examples_differ_as_documented():
    a, b = JSON_SWALLOW_EXAMPLES
    g = load_grammar("grit")
    assert not gritkit.try_parse(a).ok and _export_should_accept(a, g, None)
    assert gritkit.try_parse(b).ok and not _export_should_accept(b, g, None)
    assert XgrammarAccepts(export_grammar("grit", to="ebnf"))(a)


def _random_walk_refusals(compiled, vocab_size: int, stop: int, outputs: int, seed: int = 1) -> int:
    """Walk the grammar with random tokens its mask allows; count tokens accept_token then refuses."""
    import torch

    rng = random.Random(seed)
    bitmask = xgr.allocate_token_bitmask(1, vocab_size)
    refused = 0
    for _ in range(outputs):
        m = xgr.GrammarMatcher(compiled)
        for _step in range(48):
            m.fill_next_token_bitmask(bitmask, 0)
            scores = torch.zeros((1, vocab_size))
            xgr.apply_token_bitmask_inplace(scores, bitmask)
            token = rng.choice(torch.isfinite(scores[0]).nonzero().flatten().tolist())
            if token == stop:
                break
            if not m.accept_token(token):
                refused += 1
                break
    return refused


def test_long_runs_are_chunked_so_xgrammar_masks_match_what_it_accepts():
    """xgrammar 0.2.9: `[^<]{0,256}` lets the mask allow invalid UTF-8 that accept_token refuses."""
    rng = random.Random(0)
    vocab = [bytes([i]) for i in range(256)]
    seen = set(vocab)
    while len(vocab) < 3000:  # multi-byte tokens, many of them not valid UTF-8 (as in byte-level BPEs)
        tok = bytes(rng.randrange(256) for _ in range(rng.randint(2, 4)))
        if tok not in seen:
            seen.add(tok)
            vocab.append(tok)
    vocab.append(b"</s>")
    info = xgr.TokenizerInfo(vocab, stop_token_ids=[len(vocab) - 1])
    compiler = xgr.GrammarCompiler(info, cache_enabled=False)
    ours = compiler.compile_grammar(export_grammar("grit", to="ebnf", max_free=256))
    assert "free_chunk ::= [^<]{128}" in export_grammar("grit", to="ebnf", max_free=256)
    assert _random_walk_refusals(ours, len(vocab), len(vocab) - 1, outputs=120) == 0
    lark = compiler.compile_grammar(xgr.Grammar.from_lark(export_grammar("grit", to="lark", max_free=256)))
    assert _random_walk_refusals(lark, len(vocab), len(vocab) - 1, outputs=60) == 0


def test_free_text_fits_counts_as_the_grammar_does():
    m = XgrammarAccepts(export_grammar("r1", to="ebnf", max_free=3))
    for gap in ["", "abc", "abcd", "<<<", "<<<<", "<thinx" + "abc", "<thinx" + "abcd", "a<b<c", "<", "</answer"]:
        s = f"<think>{gap}</think><answer>"
        assert m(s) == free_text_fits(gap, 3, "r1"), gap


# --------------------------------------------------------------------------- the command

def _cli(*args, check=True):
    return subprocess.run([sys.executable, "-m", "gritkit.cli", *args], capture_output=True, text=True,
                          check=check)


def test_cli_export_writes_each_format(tmp_path):
    for fmt in FORMATS:
        out = tmp_path / f"g.{fmt}"
        _cli("grammar", "export", "grit[think=thinking]", "--to", fmt, "--max-free", "32", "-o", str(out))
        assert out.read_text().rstrip("\n") == export_grammar("grit[think=thinking]", to=fmt,
                                                               max_free=32).rstrip("\n")
    r = _cli("grammar", "export", "grit", "--to", "regex", "--max-free", "0")
    assert r.stdout.strip() == export_grammar("grit", to="regex", max_free=None)


def test_cli_export_errors_say_how_to_fix():
    r = _cli("grammar", "export", "grit", "--to", "ebnf", "--tags-as-tokens", "nowhere/none", check=False)
    assert r.returncode == 2 and "tokenizer" in r.stderr
    r = _cli("grammar", check=False)
    assert r.returncode == 2 and "gritkit grammar export NAME" in r.stderr
    r = _cli("grammar", "export", "grot", "--to", "lark", check=False)
    assert r.returncode == 2 and "grit" in r.stderr


def test_generated_docs_example_is_current():
    doc = Path("docs/generation.md").read_text(encoding="utf-8")
    block = re.search(r"```lark\n(.*?)```", doc, re.S).group(1)
    assert block == export_grammar("r1", to="lark", max_free=64), \
        "docs/generation.md shows an old export; paste `gritkit grammar export r1 --to lark --max-free 64`"
    json.dumps(block)
