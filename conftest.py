"""The README's and docs' code blocks run as tests (``tests/docs.py`` says how each kind of block runs)."""

from sybil import Sybil
from sybil.parsers.markdown import CodeBlockParser, PythonCodeBlockParser, SkipParser

from tests import docs

pytest_collect_file = Sybil(
    parsers=[
        CodeBlockParser("bash", docs.evaluate_bash),
        CodeBlockParser("console", docs.evaluate_console),
        PythonCodeBlockParser(),
        SkipParser(),
    ],
    patterns=["README.md", "README.zh-CN.md", "docs/*.md"],
    setup=docs.setup,
    teardown=docs.teardown,
).pytest()
