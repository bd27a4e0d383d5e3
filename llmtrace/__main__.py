"""``python -m llmtrace ...``: the same as the ``llmtrace`` command."""

from llmtrace.cli import main

main()
