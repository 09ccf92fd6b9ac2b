"""One module per `gritkit` subcommand.

Each module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int`` (the exit code). Modules are imported only when their
command runs (``--help`` imports all of them, cheaply: heavy imports stay inside
``run``).
"""

COMMANDS = ("validate", "score", "rewards", "plugins", "eval", "render", "report", "train", "generate", "grammar",
            "experiment")
