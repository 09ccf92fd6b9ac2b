"""The ``answer_match`` reward: normalised matching that resists the known hacks."""

from __future__ import annotations

import sys
import threading
import types

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import gritkit
from gritkit.builtin import answer_match as am
from gritkit.builtin.answer_match import AnswerMatchOptions, answer_match_reward, parse_options
from gritkit.models import Sample

GRIT = yaml.safe_load((Path(__file__).parent / "cases" / "grit_outputs.yaml").read_text(encoding="utf-8"))

MC_QUESTION = "What is on the table?\nA. a cat\nB. the dog\nC. hot dog\nD. a dog bowl\nAnswer with the letter."


def match(answer: str | None, reference, options: AnswerMatchOptions | None = None, **sample) -> float | None:
    text = "<think>t</think><rethink>r</rethink>" + ("" if answer is None else f"<answer>{answer}</answer>")
    return answer_match_reward(gritkit.try_parse(text), Sample(answer=reference, **sample), options)


@pytest.mark.parametrize("answer, reference, expected", [
    # case, punctuation, articles, whitespace
    ("The Hot-Dog.", "hot dog", 1.0),
    ("  a   cat ", "Cat", 1.0),
    ("cats", "cat", 0.0),
    # number words and digits
    ("seven", "7", 1.0), ("7", "seven", 1.0), ("Twenty-one", "21", 1.0), ("1,000", "1000", 1.0),
    ("7 zebras", "7", 1.0), ("There are 7.", "7", 1.0), ("8", "7", 0.0), ("7.0", "7", 1.0),
    # yes/no decided by the first yes/no word
    ("Yes", "yes", 1.0), ("No, there is no knife.", "No", 1.0), ("Yes, it is.", "No", 0.0),
    ("Yes, there is no cat on the left.", "Yes", 1.0), ("It is not.", "No", 0.0),
])
def test_normalised_matching(answer, reference, expected):
    assert match(answer, reference) == expected


@pytest.mark.parametrize("answer, reference", [
    # a peer project's issue #17: empty answers
    ("", "cat"), ("   ", "7"), ("...", "cat"),
    # #18: hedging and listing every option
    ("A or B", "B"), ("A, B, C, D", "B"), ("(A) (B) (C) (D)", "B"), ("B. dog, or A. cat", "B"),
    ("yes or no", "yes"), ("Yes/No", "no"), ("Yes/No", "yes"), ("yes, no", "yes"), ("No or yes", "no"), ("3 or 4", "3"), ("between 3 and 4", "4"),
    ("cat or dog", "cat"), ("cat, dog", "dog"),
])
def test_hacks_score_zero(answer, reference):
    assert match(answer, reference) == 0.0


def test_no_answer_section_is_the_floor_and_missing_reference_is_none():
    assert match(None, "7") == 0.0
    assert match("7", None) is None
    assert match("7", "") is None
    assert match("7", "?!") is None


@pytest.mark.parametrize("answer, expected", [
    ("B", 1.0), ("(B)", 1.0), ("B.", 1.0), ("b", 1.0), ("B)", 1.0), ("Answer: B", 1.0),
    ("The answer is B.", 1.0), ("(B) the dog", 1.0), ("option B", 1.0),
    ("dog", 1.0), ("The dog", 1.0),
    ("A", 0.0), ("cat", 0.0), ("hot dog", 0.0), ("A or B", 0.0), ("cat or dog", 0.0), ("A, B, C, D", 0.0),
])
def test_multiple_choice_with_listed_options(answer, expected):
    assert match(answer, "B", question=MC_QUESTION) == expected


def test_multiple_choice_reference_given_as_option_text():
    assert match("(C)", "hot dog", question=MC_QUESTION) == 1.0
    assert match("hot dog", "hot dog", question=MC_QUESTION) == 1.0
    assert match("B", "hot dog", question=MC_QUESTION) == 0.0


def test_multiple_choice_letter_without_listed_options():
    assert match("(B)", "B") == 1.0
    assert match("Answer: B", "B") == 1.0
    assert match("C", "B") == 0.0


def test_parse_options():
    assert parse_options(MC_QUESTION) == (("A", "cat"), ("B", "dog"), ("C", "hot dog"), ("D", "dog bowl"))
    assert parse_options("Options: (A) red (B) blue (C) green") == (("A", "red"), ("B", "blue"), ("C", "green"))
    # markers must start at A and run in order
    assert parse_options("See B. and C. below") == ()
    assert parse_options(None) == ()


def test_numeric_tolerance():
    assert match("3.1", "3") == 0.0
    assert match("3.1", "3", AnswerMatchOptions(abs_tolerance=0.1)) == 1.0
    # 5% of 200 = 10
    assert match("209", "200", AnswerMatchOptions(rel_tolerance=0.05)) == 1.0
    assert match("211", "200", AnswerMatchOptions(rel_tolerance=0.05)) == 0.0
    assert match("-3", "-3") == 1.0 and match("3", "-3") == 0.0


def test_containment_is_off_by_default():
    assert match("a hot dog on a plate", "hot dog") == 0.0
    opts = AnswerMatchOptions(containment=True)
    # 'hot dog on plate': 2 extra words after dropping articles
    assert match("a hot dog on a plate", "hot dog", opts) == 1.0
    assert match("there is a hot dog on the big white plate", "hot dog", opts) == 0.0
    assert match("hot dog or pizza", "hot dog", opts) == 0.0


def test_switching_off_the_special_cases():
    assert match("Yes, it is.", "yes", AnswerMatchOptions(yes_no=False)) == 0.0
    assert match("(B)", "B", AnswerMatchOptions(multiple_choice=False)) == 1.0   # equal after normalisation


def test_grit_readme_examples():
    for text, reference in [(GRIT["example_1_zebras"]["completion"], "7"), (GRIT["example_2_truck"]["completion"], "Yes"), (GRIT["example_3_knife"]["completion"], "No")]:
        assert answer_match_reward(gritkit.try_parse(text), Sample(answer=reference)) == 1.0


# ---------------------------------------------------------------- math-verify (a stand-in module)

@pytest.fixture
def fake_math_verify(monkeypatch):
    """A stand-in math_verify (the real one is optional) that records how it was called."""
    calls = []
    mod = types.ModuleType("math_verify")

    def parse(text, parsing_timeout=5):
        calls.append(("parse", text, parsing_timeout))
        return [text.replace(" ", "").replace("\\frac{1}{2}", "0.5")]

    def verify(gold, pred, timeout_seconds=5):
        calls.append(("verify", timeout_seconds))
        return gold == pred

    mod.parse, mod.verify = parse, verify
    monkeypatch.setitem(sys.modules, "math_verify", mod)
    monkeypatch.setattr(am, "_MATH", {})
    yield calls
    am._MATH.clear()


def test_math_verify_is_used_with_timeouts_disabled(fake_math_verify):
    assert match("\\frac{1}{2}", "0.5") == 1.0
    assert ("parse", "0.5", None) in fake_math_verify
    assert ("verify", None) in fake_math_verify


def in_thread(fn):
    """``fn()`` run in a worker thread (where SIGALRM-based timeouts cannot work)."""
    out = []
    t = threading.Thread(target=lambda: out.append(fn()))
    t.start()
    t.join(10)
    return out[0]


def test_math_verify_in_a_thread_never_uses_signals(fake_math_verify):
    assert in_thread(lambda: match("\\frac{1}{2}", "0.5")) == 1.0


def test_old_math_verify_is_skipped_off_the_main_thread(monkeypatch):
    mod = types.ModuleType("math_verify")
    mod.parse = lambda text: [text]          # no way to switch its SIGALRM timeout off
    mod.verify = lambda gold, pred: True
    monkeypatch.setitem(sys.modules, "math_verify", mod)
    monkeypatch.setattr(am, "_MATH", {})
    assert match("x+x", "2x") == 1.0         # main thread: allowed
    assert in_thread(lambda: match("x+x", "2x")) == 0.0


def test_math_verify_failure_or_absence_is_not_a_crash(monkeypatch):
    mod = types.ModuleType("math_verify")

    def boom(*args, **kwargs):
        raise RuntimeError("sympy exploded")

    mod.parse, mod.verify = boom, boom
    monkeypatch.setitem(sys.modules, "math_verify", mod)
    monkeypatch.setattr(am, "_MATH", {})
    assert match("\\frac{1}{2}", "0.5") == 0.0
    monkeypatch.setitem(sys.modules, "math_verify", None)   # import fails
    monkeypatch.setattr(am, "_MATH", {})
    assert match("\\frac{1}{2}", "0.5") == 0.0
    assert match("0.5", "0.5") == 1.0


# An answer that names both options of a yes/no question, or several numbers for a count, is a
# hedge: 0 whichever option the reference is. A "no" followed by a word is a determiner.
HEDGE_TABLE = [
    # answer                               ref "yes"  ref "no"
    ("yes or maybe no",                     0.0,       0.0),
    ("probably yes, possibly no",           0.0,       0.0),
    ("yes but maybe no",                    0.0,       0.0),
    ("Yes, unless no",                      0.0,       0.0),
    ("Maybe no, maybe yes",                 0.0,       0.0),
    ("no, but yes",                         0.0,       0.0),
    ("No or yes",                           0.0,       0.0),
    ("Yes. No.",                            0.0,       0.0),
    ("Yes (or no)",                         0.0,       0.0),
    ("YES... or NO",                        0.0,       0.0),
    ("yes/no",                              0.0,       0.0),
    ("Yes, no.",                            0.0,       0.0),
    ("yes and no",                          0.0,       0.0),
    # one option, "no" as a determiner or inside a word
    ("Yes, there is no cat on the left.",   1.0,       0.0),
    ("Yes, no doubt.",                      1.0,       0.0),
    ("Yes, no-one is behind the car.",      1.0,       0.0),
    ("No, there is no knife.",              0.0,       1.0),
    ("No. Not at all.",                     0.0,       1.0),
    ("There is no dog.",                    0.0,       1.0),
    ("Yesterday it was no.",                0.0,       1.0),
]


@pytest.mark.parametrize("answer, if_yes, if_no", HEDGE_TABLE)
def test_yes_no_hedges_table(answer, if_yes, if_no):
    assert (match(answer, "yes"), match(answer, "no")) == (if_yes, if_no)


COUNT_HEDGE_TABLE = [
    # answer                               ref "3"  ref "4"
    ("3 or 4",                              0.0,     0.0),
    ("three, or maybe four",                0.0,     0.0),
    ("I count 3, but it could be 4",        0.0,     0.0),
    ("3 (or possibly 4)",                   0.0,     0.0),
    ("3-4",                                 0.0,     0.0),
    ("3\u20134",                            0.0,     0.0),
    ("between 3 and 4",                     0.0,     0.0),
    ("3 cats, possibly four",               0.0,     0.0),
    ("There are 3 cats and 1 dog",          0.0,     0.0),
    # one number, however often it is said
    ("3",                                   1.0,     0.0),
    ("three (3)",                           1.0,     0.0),
    ("There are 4 cats.",                   0.0,     1.0),
]


@pytest.mark.parametrize("answer, if_3, if_4", COUNT_HEDGE_TABLE)
def test_count_hedges_table(answer, if_3, if_4):
    assert (match(answer, "3"), match(answer, "4")) == (if_3, if_4)


_JOINS = [" or ", ", ", " but ", "; ", "/", "... ", ", unless ", " and ", ". ", " (or ", " - "]
_HEDGES = ["", "maybe ", "possibly ", "probably ", "perhaps "]


def _cased(word: str, how: int) -> str:
    return (word, word.capitalize(), word.upper())[how]


@settings(max_examples=150, deadline=None)
@given(st.booleans(), st.sampled_from(_HEDGES), st.sampled_from(_JOINS), st.sampled_from(_HEDGES),
       st.integers(0, 2), st.integers(0, 2), st.sampled_from(["", ".", "?", ")"]))
def test_naming_both_yes_no_options_never_pays(yes_first, hedge1, join, hedge2, case1, case2, end):
    first, second = ("yes", "no") if yes_first else ("no", "yes")
    answer = f"{hedge1}{_cased(first, case1)}{join}{hedge2}{_cased(second, case2)}{end}"
    assert (match(answer, "yes"), match(answer, "no")) == (0.0, 0.0), answer


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 50), st.integers(0, 50), st.sampled_from(_HEDGES), st.sampled_from(_JOINS),
       st.sampled_from(_HEDGES))
def test_several_numbers_for_a_count_never_pay(a, b, hedge1, join, hedge2):
    if a == b:
        return
    answer = f"{hedge1}{a}{join}{hedge2}{b}"
    assert (match(answer, str(a)), match(answer, str(b))) == (0.0, 0.0), answer
