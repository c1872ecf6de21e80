"""The SQL the hub writes once, translated for PostgreSQL (pure text rules, no connection).

The hub's migrations and row modules are written in SQLite's SQL, kept to a portable subset;
this module turns each statement into PostgreSQL's, once per statement text. One source for
both engines: a new migration or row module written for SQLite runs on PostgreSQL unchanged as
long as it stays inside the subset, and anything outside it is refused here by name
(``UnportableSql``) rather than failing later on a server.

The subset, and what each part becomes on PostgreSQL:

- ``?`` placeholders become ``%s`` (and a literal ``%`` becomes ``%%``);
- ``INSERT OR IGNORE INTO t ...`` becomes ``INSERT INTO t ... ON CONFLICT DO NOTHING``;
  ``INSERT ... ON CONFLICT (...) DO UPDATE SET c = excluded.c`` and ``RETURNING`` are common to
  both (SQLite 3.35+); ``INSERT OR REPLACE`` is refused (write the upsert);
- ``group_concat(x, sep)`` becomes ``string_agg(x, sep)``;
  ``json_extract(col, '$.key')`` becomes ``(col::jsonb ->> 'key')`` (text: objects as JSON,
  numbers as digits);
- ``rowid`` (insertion order of a table that is only ever inserted into) becomes ``ctid``;
- in ``CREATE TABLE`` / ``ALTER TABLE``: ``INTEGER PRIMARY KEY`` (SQLite's row id) becomes a
  ``BIGINT`` identity key, ``INTEGER`` becomes ``BIGINT`` (byte counts pass 2 GiB), ``REAL``
  ``DOUBLE PRECISION``, ``BLOB`` ``BYTEA``, and ``TEXT`` is ``COLLATE "C"`` so that text sorts
  and compares by bytes as in SQLite (the stored times sort as times either way);
- ``CREATE TRIGGER name BEFORE UPDATE|DELETE ON t BEGIN SELECT RAISE(ABORT, 'why'); END``
  (the append-only tables) becomes a trigger function raising ``why`` and its trigger.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final


class UnportableSql(ValueError):
    """A statement outside the portable subset; the message names the construct."""


_INSERT_OR_IGNORE: Final = re.compile(r"^\s*INSERT\s+OR\s+IGNORE\s+INTO\b", re.IGNORECASE)
_INSERT_OR_OTHER: Final = re.compile(r"\bINSERT\s+OR\s+(REPLACE|ABORT|FAIL|ROLLBACK)\b", re.I)
_RETURNING: Final = re.compile(r"\bRETURNING\b", re.IGNORECASE)
_GROUP_CONCAT: Final = re.compile(r"\bgroup_concat\s*\(", re.IGNORECASE)
_JSON_EXTRACT: Final = re.compile(
    r"\bjson_extract\s*\(\s*([A-Za-z_][A-Za-z0-9_.]*)\s*,\s*'\$\.([A-Za-z_][A-Za-z0-9_]*)'\s*\)",
    re.IGNORECASE,
)
_ROWID: Final = re.compile(r"\browid\b", re.IGNORECASE)
_SQLITE_ONLY: Final = (
    (re.compile(r"\bifnull\s*\(", re.I), "ifnull() (write coalesce())"),
    (re.compile(r"\binstr\s*\(", re.I), "instr()"),
    (re.compile(r"\bGLOB\b", re.I), "GLOB"),
    (re.compile(r"\bprintf\s*\(", re.I), "printf()"),
    (re.compile(r"\bjulianday\s*\(|\bunixepoch\s*\(|\bstrftime\s*\(", re.I), "date functions"),
    (re.compile(r"\bjson_extract\s*\(", re.I), "json_extract() other than col, '$.key'"),
    (re.compile(r"\bPRAGMA\b", re.I), "PRAGMA"),
)

_TRIGGER: Final = re.compile(
    r"^\s*CREATE\s+TRIGGER\s+(\w+)\s+BEFORE\s+(UPDATE|DELETE)\s+ON\s+(\w+)\s+"
    r"BEGIN\s+SELECT\s+RAISE\s*\(\s*ABORT\s*,\s*'([^']*)'\s*\)\s*;\s*END\s*$",
    re.IGNORECASE,
)
_DDL: Final = re.compile(r"^\s*(CREATE\s+TABLE|ALTER\s+TABLE)\b", re.IGNORECASE)
_INTEGER_KEY: Final = re.compile(r"\bINTEGER\s+PRIMARY\s+KEY\b", re.IGNORECASE)
_TYPES: Final = (
    (re.compile(r"\bINTEGER\b", re.IGNORECASE), "BIGINT"),
    (re.compile(r"\bREAL\b", re.IGNORECASE), "DOUBLE PRECISION"),
    (re.compile(r"\bBLOB\b", re.IGNORECASE), "BYTEA"),
    (re.compile(r"\bTEXT\b", re.IGNORECASE), 'TEXT COLLATE "C"'),
)
_KEY_MARK: Final = "\x00KEY\x00"


def _split_literals(sql: str) -> list[tuple[bool, str]]:
    """The statement as (is_literal, text) pieces: '...' strings and "..." names kept apart."""
    pieces: list[tuple[bool, str]] = []
    start = 0
    index = 0
    while index < len(sql):
        quote = sql[index]
        if quote in "'\"":
            end = index + 1
            while True:
                end = sql.find(quote, end)
                if end == -1:
                    raise UnportableSql(f"unterminated {quote} in SQL: {sql[:80]}")
                if end + 1 < len(sql) and sql[end + 1] == quote:  # doubled quote inside
                    end += 2
                    continue
                break
            pieces.append((False, sql[start:index]))
            pieces.append((True, sql[index : end + 1]))
            start = index = end + 1
            continue
        index += 1
    pieces.append((False, sql[start:]))
    return pieces


def _outside_literals(sql: str, change: re.Pattern[str], replacement: str) -> str:
    return "".join(
        text if literal else change.sub(replacement, text) for literal, text in _split_literals(sql)
    )


@lru_cache(maxsize=2048)
def query(sql: str) -> str:
    """One statement of a row module, as PostgreSQL runs it with psycopg's ``%s`` parameters."""
    if _INSERT_OR_OTHER.search(sql):
        raise UnportableSql(f"INSERT OR REPLACE/ABORT/FAIL is not portable: {sql[:80]}")
    text = _JSON_EXTRACT.sub(lambda m: f"({m.group(1)}::jsonb ->> '{m.group(2)}')", sql)
    for pattern, name in _SQLITE_ONLY:
        if pattern.search(text):
            raise UnportableSql(f"{name} is SQLite's only: {sql[:80]}")
    text = _GROUP_CONCAT.sub("string_agg(", text)
    if _INSERT_OR_IGNORE.search(text):
        text = _INSERT_OR_IGNORE.sub("INSERT INTO", text, count=1)
        returning = _RETURNING.search(text)
        if returning:
            at = returning.start()
            text = f"{text[:at]}ON CONFLICT DO NOTHING {text[at:]}"
        else:
            text = f"{text.rstrip()} ON CONFLICT DO NOTHING"
    out: list[str] = []
    for literal, piece in _split_literals(text):
        piece = piece.replace("%", "%%")
        if not literal:
            piece = _ROWID.sub("ctid", piece.replace("?", "%s"))
        out.append(piece)
    return "".join(out)


def migration(statement: str) -> tuple[str, ...]:
    """One migration statement as PostgreSQL's DDL (a trigger becomes its function and itself);
    each result still goes through ``query`` when it runs, as every statement does."""
    trigger = _TRIGGER.match(statement)
    if trigger:
        name, event, table, why = trigger.groups()
        function = f"{name}_refuse"
        return (
            f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$"
            f" BEGIN RAISE EXCEPTION '{why}' USING ERRCODE = 'restrict_violation'; END $$",
            f"CREATE TRIGGER {name} BEFORE {event.upper()} ON {table}"
            f" FOR EACH ROW EXECUTE FUNCTION {function}()",
        )
    if re.match(r"^\s*CREATE\s+TRIGGER\b", statement, re.IGNORECASE):
        raise UnportableSql(f"only the append-only trigger form is portable: {statement[:80]}")
    if _DDL.match(statement):
        text = _outside_literals(statement, _INTEGER_KEY, _KEY_MARK)
        for pattern, replacement in _TYPES:
            text = _outside_literals(text, pattern, replacement)
        text = text.replace(_KEY_MARK, "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
        return (text,)
    return (statement,)  # DML in a migration: translated with every other query
