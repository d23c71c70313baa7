"""Streaming reading of a legacy CSV file: encoding, line ends, header, records with their numbers.

- Encoding: UTF-8 with BOM, UTF-8 without BOM, or Shift_JIS (cp932, Windows PowerShell 5.1's `-Encoding Default`
  on a Japanese Windows). The file is validated as UTF-8 first (strict; pure ASCII is UTF-8), then as cp932, in
  chunks, before any record is read, so a file is never half-read in the wrong encoding. A file that is neither
  (UTF-16, binary with NUL bytes, invalid bytes in both) raises `LegacyEncodingError` naming the file.
- Dialect: comma-separated, CRLF or LF (or a mix), fields quoted or not, quotes doubled inside quoted fields,
  newlines inside quoted fields. Blank lines are not records.
- Header: the first record (a byte order mark repeated before it, as appends to a file with one leave behind, is
  skipped); names are stripped of surrounding spaces. A name repeated is kept every time: the first keeps it,
  the next ones become `name__2`, `name__3`... (the first free suffix), deterministically.
- Records: `RawRecord.row_number` is the 1-based number of the data record (the header is not counted);
  `RawRecord.line` is the 1-based physical line of the file where the record starts (the header is line 1). The
  two differ when a quoted field spans lines. Quarantine reports both.

Memory holds one chunk or one record at a time, whatever the file's size.
"""

from __future__ import annotations

import codecs
import csv
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple, TextIO

_CHUNK = 1 << 20
UTF8_BOM = codecs.BOM_UTF8

Encoding = Literal["utf-8-sig", "utf-8", "cp932"]
NewLine = Literal["CRLF", "LF", "mixed", "none"]

# a legacy field can be long (a message body, a membership list): allow up to the platform's limit
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


class LegacyEncodingError(ValueError):
    """The file is neither UTF-8 (with or without BOM) nor Shift_JIS (cp932)."""


class RawRecord(NamedTuple):  # a tuple: one is made per record, and a tuple is made in C
    row_number: int  # 1-based data record number (header excluded)
    line: int  # 1-based physical line where the record starts
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Dialect:
    encoding: Encoding
    has_bom: bool
    newline: NewLine


def _decodes(path: Path, encoding: str, skip: int) -> str | None:
    """None when the whole file decodes strictly in `encoding`, else the reason."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    offset = skip
    with path.open("rb") as handle:
        handle.seek(skip)
        while chunk := handle.read(_CHUNK):
            if b"\x00" in chunk:
                position = offset + chunk.index(b"\x00")
                return f"NUL byte at offset {position} (binary or UTF-16)"
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as error:
                return f"invalid {encoding} at byte {offset + error.start}"
            offset += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return f"{encoding} truncated at the end of the file"
    return None


def detect_dialect(path: Path) -> Dialect:
    """The file's encoding and line ends; raises LegacyEncodingError naming the file."""
    with path.open("rb") as handle:
        head = handle.read(_CHUNK)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise LegacyEncodingError(f"{path}: UTF-16 (byte order mark {head[:2].hex()}), not UTF-8 or Shift_JIS")
    has_bom = head.startswith(UTF8_BOM)
    utf8_problem = _decodes(path, "utf-8", len(UTF8_BOM) if has_bom else 0)
    encoding: Encoding
    if utf8_problem is None:
        encoding = "utf-8-sig" if has_bom else "utf-8"
    elif has_bom:
        raise LegacyEncodingError(f"{path}: starts with a UTF-8 byte order mark but is not UTF-8 ({utf8_problem})")
    else:
        cp932_problem = _decodes(path, "cp932", 0)
        if cp932_problem is not None:
            raise LegacyEncodingError(f"{path}: neither UTF-8 ({utf8_problem}) nor Shift_JIS/cp932 ({cp932_problem})")
        encoding = "cp932"
    crlf, lf = head.count(b"\r\n"), head.count(b"\n")
    newline: NewLine = "none" if lf == 0 else "CRLF" if crlf == lf else "LF" if crlf == 0 else "mixed"
    return Dialect(encoding, has_bom, newline)


def disambiguate(names: list[str]) -> tuple[str, ...]:
    """Repeated names keep every column: the first as is, then `name__2`, `name__3`... (first free suffix)."""
    taken = set(names)
    seen: set[str] = set()
    out = []
    for name in names:
        if name in seen:
            suffix = 2
            while f"{name}__{suffix}" in taken:
                suffix += 1
            unique = f"{name}__{suffix}"
            taken.add(unique)
            name = unique
        seen.add(name)
        out.append(name)
    return tuple(out)


class _Lines:
    """The lines of an open file for csv.reader, a line given back (already taken from the file) first."""

    def __init__(self, handle: TextIO) -> None:
        self._handle = handle
        self._given_back: str | None = None

    def give_back(self, line: str) -> None:
        self._given_back = line

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self._given_back
        if line is None:
            return next(self._handle)
        self._given_back = None
        return line


class CsvStream:
    """An open legacy file: its header and an iterator of its records. Use as a context manager."""

    def __init__(self, path: Path, dialect: Dialect) -> None:
        self.path = path
        self.dialect = dialect
        self._handle = path.open("r", encoding=dialect.encoding, newline="")
        start = self._handle.tell()
        while self._handle.read(1) == "\ufeff":  # byte order marks left by appends to a file that had one
            start = self._handle.tell()
        self._handle.seek(start)
        self._lines = _Lines(self._handle)
        self._reader = csv.reader(self._lines, strict=False)
        self._last_line = 0
        self.header: tuple[str, ...] | None = None
        self.header_raw: tuple[str, ...] | None = None
        first = self._next_nonblank()
        if first is not None:
            self.header_raw = tuple(name.strip() for name in first[1])
            self.header = disambiguate(list(self.header_raw))

    def _next_nonblank(self) -> tuple[int, list[str]] | None:
        for fields in self._reader:
            start = self._last_line + 1
            self._last_line = self._reader.line_num
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue
            return start, fields
        return None

    def records(self) -> Iterator[RawRecord]:
        """The data records. A line with every field quoted and no quote inside a field (what Export-Csv writes),
        or with no quote at all, is a whole record and is split by `str.split`, as csv.reader would read it; any
        other line is given back to csv.reader, which reads the record from there (a quoted field may span lines)."""
        row_number = 0
        line = self._last_line  # physical lines read so far
        reader = self._reader
        give_back = self._lines.give_back
        make = tuple.__new__  # RawRecord(...) without the Python-level __new__ of a NamedTuple: one per record
        for text in self._handle:  # this loop runs once per line of the file
            line += 1
            start = line
            body = text.rstrip("\r\n")  # a line ends at its first \r\n, \n or \r: only that is stripped
            fields: list[str] | None = None
            if body[:1] == body[-1:] == '"' and len(body) > 1:
                fields = body[1:-1].split('","')
                if body.count('"') != 2 * len(fields):  # a quote inside a field
                    fields = None
            elif '"' not in body:
                fields = body.split(",")
            if fields is None:
                give_back(text)
                before = reader.line_num
                fields = next(reader)
                line += reader.line_num - before - 1
            if not fields or (len(fields) == 1 and not fields[0].strip()):  # a blank line is not a record
                continue
            row_number += 1
            yield make(RawRecord, (row_number, start, tuple(fields)))

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> CsvStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
