"""Split a migration file into statements exactly as the Supabase CLI does (``pkg/parser``).

A port of the CLI's state machine (``state.go``, ``token.go``; behaviour checked against CLI
2.117.0, see tests/test_sqlsplit.py), bugs included, because the ``statements`` column of
``supabase_migrations.schema_migrations`` holds what *that* splitter cut and the history checks
compare files with it byte for byte:

- quotes ``'...'`` and ``"..."`` (a doubled delimiter stays inside), dollar quotes ``$tag$...$tag$``
  (any letters, digits or ``_`` in the tag, a digit first included), ``--`` comments up to ``\\n``
  only (a lone ``\\r`` does not end them), nested ``/* */`` comments (``/*/`` closes), ``\\`` escapes;
- ``(`` opens a group that ``)`` closes, and the ``)`` that closes an inner group also closes every
  group around it (so ``do (insert ... values (1); ...)`` is cut at the ``;``, as by the CLI);
- ``BEGIN ATOMIC`` only as two standalone keywords (not ``atomic_id``, ``is_atomic``), closed by the
  next ``END`` outside quotes and groups, wherever it appears (``pending`` closes it too: CLI 2.117.0
  predates the fix of supabase/cli#6562; such a file cannot have been applied by it);
- every other ``;`` ends a statement; the text between is kept as is (comments, CRLF), then trimmed.

Text is the file's bytes decoded as UTF-8 (no newline translation): a file that is not UTF-8
cannot be stored in the history table, see :func:`dbrunbook.migrations.read_sql`.
"""

from __future__ import annotations

import re
import unicodedata

#: White space as CLI 2.117.0 trims it (its TypeScript ``String.prototype.trim``, checked against the
#: real CLI): includes U+FEFF (a BOM), excludes U+0085 and \x1c-\x1f, unlike Python's str.strip().
_SPACE = "\t\n\v\f\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
         "\u2028\u2029\u202f\u205f\u3000\ufeff"

# Characters that can change the state when the lexer is "ready".
_READY = re.compile(r"[$'\"\-/\\;(]|(?i:atomic)")
_READY_IN_PARENS = re.compile(r"[$'\"\-/\\;()]|(?i:atomic)")
_READY_IN_ATOMIC = re.compile(r"[$'\"\-/\\;(dD]|(?i:atomic)")

_READY_ST, _QUOTE, _TAG, _COMMENT, _BLOCK, _ESCAPE, _EMIT = range(7)


def _letter_or_digit(c: str) -> bool:
    return c.isalpha() or unicodedata.category(c) == "Nd"


def _identifier_char(c: str) -> bool:
    return _letter_or_digit(c) or c in "_$"


def _fold_equals(window: str, word: str) -> bool:
    # EqualFold on ASCII keywords: Python upper-cases the dotless i (U+0131) to I, the CLI does not.
    return window.isascii() and window.upper() == word


def _is_begin_atomic(text: str, start: int, end: int) -> bool:
    """``text[start:end]`` (the statement so far) ends with the keywords BEGIN ATOMIC (state.go isBeginAtomic)."""
    offset = end - 6
    if offset < start or not _fold_equals(text[offset:end], "ATOMIC"):
        return False
    if offset > start and _identifier_char(text[offset - 1]):
        return False
    prefix_end = offset
    while prefix_end > start and text[prefix_end - 1] in _SPACE:
        prefix_end -= 1
    begin = prefix_end - 5
    if begin < start or not _fold_equals(text[begin:prefix_end], "BEGIN"):
        return False
    return begin == start or not _identifier_char(text[begin - 1])


def _close_groups(text: str, end: int, groups: list[str]) -> None:
    """Back in the ready state, close the innermost group if its delimiter ends at ``end``.

    A group that closes lets the one around it check the same characters (state.go AtomicState.Next).
    """
    while groups and _fold_equals(text[end - len(groups[-1]):end], groups[-1]):
        groups.pop()


def _ready_next(text: str, start: int, i: int, groups: list[str]) -> int:
    """ReadyState.Next on ``text[i]`` inside the groups: the next state (_EMIT on a top-level ``;``)."""
    c = text[i]
    if c == "$":
        return _TAG
    if c in "'\"":
        return _QUOTE
    if c == "-":
        return _COMMENT
    if c == "/":
        return _BLOCK
    if c == "\\":
        return _ESCAPE
    if c == ";":
        return _READY_ST if groups else _EMIT
    if c == "(":
        groups.append(")")
        return _READY_ST
    if c in "cC" and _is_begin_atomic(text, start, i + 1):
        groups.append("END")
        return _READY_ST
    _close_groups(text, i + 1, groups)
    return _READY_ST


def split(text: str) -> list[str]:
    """Split into raw statements (each ending with its ``;`` when it had one), as ``parser.Split``.

    >>> split("create table a (x int); select ';' ; do $$ begin perform 1; end $$;")
    ['create table a (x int);', " select ';' ;", ' do $$ begin perform 1; end $$;']
    """
    out: list[str] = []
    n = len(text)
    start = 0  # where the current statement began
    i = 0
    state = _READY_ST
    groups: list[str] = []  # closing delimiters of the open "(" and BEGIN ATOMIC groups, innermost last
    opened = 0  # where the current quote, tag or block comment began
    block_depth = 0
    while i < n:
        if state == _READY_ST:
            pattern = _READY if not groups else _READY_IN_PARENS if groups[-1] == ")" else _READY_IN_ATOMIC
            m = pattern.search(text, i)
            if m is None:
                break
            i = m.end() - 1  # the character the machine acts on (the C of ATOMIC)
            state = _ready_next(text, start, i, groups)
        elif state == _QUOTE:
            close = text.find(text[opened], i)
            if close < 0:
                break
            if close + 1 < n and text[close + 1] == text[opened]:  # doubled delimiter: still inside
                i = close + 2
                continue
            if close + 1 == n:
                break
            i = close + 1
            state = _ready_next(text, start, i, groups)
        elif state == _TAG:
            c = text[i]
            if c == "$":
                delimiter = text[opened:i + 1]
                close = text.find(delimiter, opened + 1)
                if close < 0:
                    break
                i = close + len(delimiter)
                state = _READY_ST
                _close_groups(text, i, groups)
                continue
            if _letter_or_digit(c) or c == "_":
                i += 1
                continue
            state = _ready_next(text, start, i, groups)
        elif state == _COMMENT:
            if text[i] == "-":
                nl = text.find("\n", i + 1)
                if nl < 0:
                    break
                i = nl + 1
                state = _READY_ST
                _close_groups(text, i, groups)
                continue
            state = _ready_next(text, start, i, groups)
        elif state == _BLOCK:
            window = text[i - 1:i + 1]
            if window == "/*":
                block_depth += 1
            elif block_depth == 0:
                state = _ready_next(text, start, i, groups)
            elif window == "*/":
                block_depth -= 1
                if block_depth == 0:
                    state = _READY_ST
                    _close_groups(text, i + 1, groups)
                i += 1
                continue
            else:
                i += 1
                continue
            if state == _BLOCK:
                i += 1
                continue
        else:  # _ESCAPE: the next character is taken as is
            state = _READY_ST
            _close_groups(text, i + 1, groups)
            i += 1
            continue
        # ReadyState.Next ran on text[i]
        if state == _EMIT:
            out.append(text[start:i + 1])
            start = i + 1
            state = _READY_ST
        elif state in (_QUOTE, _TAG):
            opened = i
        elif state == _BLOCK:
            block_depth = 0
        i += 1
    if start < n:
        out.append(text[start:])
    return out


def trim(statement: str) -> str:
    """Trailing ``;`` then white space (``_SPACE``) removed, as ``SplitAndTrim``."""
    return statement.rstrip(";").strip(_SPACE)


def split_and_trim(text: str) -> list[str]:
    """Statements as the CLI records them: trailing ``;`` then white space removed, empties dropped.

    >>> split_and_trim("-- header\\ncreate table a (x int);\\n\\n;\\n")
    ['-- header\\ncreate table a (x int)']
    >>> split_and_trim("create table t (atomic_id int);\\r\\nselect 1;\\r\\n")
    ['create table t (atomic_id int)', 'select 1']
    """
    return [s for s in (trim(raw) for raw in split(text)) if s]
