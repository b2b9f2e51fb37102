"""Untrusted text shows as typed: markdown in a formula or a message formats nothing."""

import pytest

from ui.text import plain


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("__import__", r"\_\_import\_\_"),
        ("1. SGD", r"1\. SGD"),
        ("- note", r"\- note"),
        ("lr = $5 * 2$", r"lr = \$5 \* 2\$"),
        ("[link](http://x)", r"\[link\](http://x)"),
        ("got -1.0 for lr", "got -1.0 for lr"),  # a minus inside a line is no list
        ("x^2 + 3*y", r"x^2 + 3\*y"),
    ],
)
def test_markdown_characters_are_escaped(text, escaped):
    assert plain(text) == escaped
