"""`gritkit grammar export NAME --to lark|ebnf|gbnf|regex`: the grammar for decoding engines."""

from __future__ import annotations

import argparse
import sys

NAME = "grammar"
HELP = "export a grammar for constrained decoding (Lark, EBNF, GBNF, regex)"
DESCRIPTION = """\
gritkit grammar export NAME --to FORMAT writes grammar NAME (grit, r1, or with
renamed tags such as 'grit[think=thinking]') translated from the shipped .lark
file for a decoding engine:

  lark    llguidance, xgrammar (Grammar.from_lark), vLLM structured_outputs={"grammar": ...}
  ebnf    xgrammar (Grammar.from_ebnf)
  gbnf    llama.cpp (the same text as ebnf)
  regex   TRL's vllm_structured_outputs_regex (the same language as one regex)

Free text is any text without a tag; boxes are free text (never required).
--max-free N bounds each free-text gap (runs of at most N characters without
'<', at most N pieces that start at a '<'; default 1024; 0 for no bound), so a
weak model must move on. --tags-as-tokens
TOKENIZER (Lark only) lets each tag that the tokenizer holds as one added token
be written as that token, as llguidance needs. See docs/generation.md.

examples:
  gritkit grammar export grit --to lark --max-free 512 > grit.gen.lark
  gritkit grammar export 'grit[think=thinking]' --to ebnf
  gritkit grammar export grit --to lark --tags-as-tokens Qwen/Qwen3-8B
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from gritkit.export import DEFAULT_MAX_FREE, FORMATS

    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    ex = sub.add_parser("export", help="write the grammar in a decoding engine's language")
    ex.add_argument("name", metavar="NAME", help="grit, r1, or e.g. 'grit[think=thinking]'")
    ex.add_argument("--to", required=True, choices=FORMATS, help="the format")
    ex.add_argument("--max-free", type=int, default=DEFAULT_MAX_FREE, metavar="N",
                    help="bound on each free-text gap (default %(default)s; 0: no bound)")
    ex.add_argument("--tags-as-tokens", metavar="TOKENIZER",
                    help="a tokenizer (folder or hub id) whose single-token tags may be written as tokens "
                         "(--to lark)")
    ex.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")


def run(args: argparse.Namespace) -> int:
    from gritkit.errors import ConfigError
    from gritkit.export import export_grammar, tags_as_tokens
    from gritkit.grammar import load_grammar

    if getattr(args, "action", None) != "export":
        raise ConfigError("Say what to do: gritkit grammar export NAME --to lark|ebnf|gbnf|regex.")
    if args.max_free < 0:
        raise ConfigError(f"--max-free must be >= 0 (0: no bound), got {args.max_free}.")
    grammar = load_grammar(args.name)
    tokens = tags_as_tokens(args.tags_as_tokens, grammar) if args.tags_as_tokens else None
    if args.tags_as_tokens and not tokens:
        print(f"gritkit grammar: note: the tokenizer {args.tags_as_tokens!r} holds none of the tags as one token; "
              "they are spelled out.", file=sys.stderr)
    text = export_grammar(grammar, to=args.to, max_free=args.max_free or None, tags_as_tokens=tokens)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text if text.endswith("\n") else text + "\n")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0
