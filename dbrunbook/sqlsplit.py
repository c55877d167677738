"""Split a migration file into statements exactly as the Supabase CLI does (pkg/parser).

The CLI walks the text with a small state machine: quotes ('...' and "..."), dollar quotes
($tag$...$tag$), line comments, nested block comments, backslash escapes, parentheses and
``BEGIN ATOMIC ... END`` bodies protect semicolons; every other ``;`` ends a statement. Each
statement keeps its comments and is stored with trailing ``;`` and surrounding white space
removed (``SplitAndTrim``). Matching this matters: the ``statements`` column of
``supabase_migrations.schema_migrations`` is what drift checks compare files against.
"""

from __future__ import annotations


def _tag_end(text: str, start: int) -> int | None:
    """If ``text[start]`` opens a dollar-quote tag ``$tag$``, return the index after it."""
    i = start + 1
    while i < len(text) and (text[i].isalnum() or text[i] == "_"):
        i += 1
    if i < len(text) and text[i] == "$":
        return i + 1
    return None


def split(text: str) -> list[str]:
    """Split into raw statements (each ending with its ``;`` when it had one).

    >>> split("create table a (x int); select ';' ; do $$ begin perform 1; end $$;")
    ['create table a (x int);', " select ';' ;", ' do $$ begin perform 1; end $$;']
    """
    out: list[str] = []
    start = 0
    i = 0
    depth_paren = 0
    atomic = False
    n = len(text)
    while i < n:
        c = text[i]
        if c in "'\"":
            # A doubled delimiter stays inside the literal, as in the CLI's QuoteState.
            j = i + 1
            while j < n:
                if text[j] == c:
                    if j + 1 < n and text[j + 1] == c:
                        j += 2
                        continue
                    break
                j += 1
            i = j + 1
            continue
        if c == "$":
            end = _tag_end(text, i)
            if end is not None:
                tag = text[i:end]
                close = text.find(tag, end)
                i = n if close < 0 else close + len(tag)
                continue
        if c == "-" and text.startswith("--", i):
            nl = text.find("\n", i)
            i = n if nl < 0 else nl + 1
            continue
        if c == "/" and text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            i = j
            continue
        if c == "\\":
            i += 2
            continue
        if c == "(":
            depth_paren += 1
        elif c == ")" and depth_paren:
            depth_paren -= 1
        elif c in "cC" and not depth_paren and not atomic and i >= 6 and text[i - 5:i + 1].upper() == "ATOMIC" \
                and text[i - 6].isspace():
            atomic = True
        elif atomic and c in "dD" and text[i - 2:i + 1].upper() == "END":
            atomic = False
        elif c == ";" and not depth_paren and not atomic:
            out.append(text[start:i + 1])
            start = i + 1
        i += 1
    if text[start:].strip():
        out.append(text[start:])
    return out


def split_and_trim(text: str) -> list[str]:
    """Statements as the CLI records them: trailing ``;`` then white space removed, empties dropped.

    >>> split_and_trim("-- header\\ncreate table a (x int);\\n\\n;\\n")
    ['-- header\\ncreate table a (x int)']
    """
    result = []
    for raw in split(text):
        stmt = raw.rstrip(";").strip()
        if stmt:
            result.append(stmt)
    return result
