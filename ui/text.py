"""Untrusted text (a formula, a link's values, messages quoting them) shown as typed.

Streamlit renders markdown in messages and captions: ``__import__`` would show as a bold
"import", ``$`` would start LaTeX, "1. SGD" at the start of a line a numbered list. Escaping
the characters that format inline, and a list marker that starts a line, keeps text literal.
"""

import re

_INLINE = re.compile(r"([\\`*_{}\[\]<>#|~$])")
_LIST_MARKER = re.compile(r"^(\s*)(\d+)([.)])|^(\s*)([-+])(?=\s)", re.MULTILINE)


def plain(text) -> str:
    escaped = _INLINE.sub(r"\\\1", str(text))
    return _LIST_MARKER.sub(_escape_marker, escaped)


def _escape_marker(m: re.Match) -> str:
    if m.group(2) is not None:
        return f"{m.group(1)}{m.group(2)}\\{m.group(3)}"
    return f"{m.group(4)}\\{m.group(5)}"
