"""The tokens of MLflow's run filter language (``runstream_server.search`` parses them),
each with its 0-based offset, and ``SearchError``, which shows the text with a caret
under the offending token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["SearchError", "Token", "Value", "column_of", "describe", "tokenize"]

Value = str | float | int

_OP_CHARS = "=!<>"
_STOP = " \t\r\n" + _OP_CHARS + "(),'\""


class SearchError(ValueError):
    """A filter or ordering that cannot be parsed or compiled: the message, the 0-based
    character offset of the offending token (``None``: the whole query) and the text
    shown with a caret under that token."""

    def __init__(self, message: str, text: str = "", offset: int | None = None) -> None:
        self.reason, self.text, self.offset = message, text, offset
        shown = message if offset is None else f"{message}\n  {text}\n  {' ' * offset}^"
        super().__init__(shown)


@dataclass(frozen=True)
class Token:
    kind: Literal["ident", "word", "string", "number", "op", "punct", "end"]
    text: str  # as written
    value: Value  # the decoded value (a string's contents, a number, an upper-case word)
    at: int
    entity: str = ""  # ident: the kind as written ("" when none); key in value


def describe(tok: Token) -> str:
    return "the end of the filter" if tok.kind == "end" else f"`{tok.text}`"


def column_of(text: str, at: int) -> str:
    return f"at column {at}" if at < len(text) else "at the end"


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text, self.i = text, 0

    def error(self, message: str, at: int) -> SearchError:
        return SearchError(message, self.text, at)

    def quoted(self, quote: str) -> tuple[str, int]:
        start, i, out = self.i, self.i + 1, []
        while i < len(self.text):
            ch = self.text[i]
            if ch == "\\" and i + 1 < len(self.text):
                out.append(self.text[i + 1])
                i += 2
                continue
            if ch == quote:
                self.i = i + 1
                return "".join(out), start
            out.append(ch)
            i += 1
        raise self.error(f"unterminated {quote}…{quote} {column_of(self.text, start)}: close "
                         f"it with a matching {quote}", start)

    def run(self, allowed: str) -> str:
        start = self.i
        while self.i < len(self.text) and self.text[self.i] in allowed:
            self.i += 1
        return self.text[start:self.i]

    def bare(self) -> str:
        start = self.i
        while self.i < len(self.text) and self.text[self.i] not in _STOP:
            self.i += 1
        return self.text[start:self.i]

    def number(self) -> Token:
        start = self.i
        digits = "0123456789"
        if self.text[self.i] in "+-":
            self.i += 1
        whole = self.run(digits)
        frac = ""
        if self.i < len(self.text) and self.text[self.i] == ".":
            self.i += 1
            frac = self.run(digits)
        if not whole and not frac:
            raise self.error(f"malformed number {column_of(self.text, start)}", start)
        exp = ""
        if self.i < len(self.text) and self.text[self.i] in "eE":
            mark = self.i
            self.i += 1
            sign = self.run("+-")[:1]
            power = self.run(digits)
            if not power:
                raise self.error(f"malformed exponent {column_of(self.text, mark)}: write "
                                 "e.g. 1e-3", mark)
            exp = f"e{sign}{power}"
        if self.i < len(self.text) and self.text[self.i] not in _STOP:
            bad = self.i
            raise self.error(f"unexpected `{self.text[bad]}` in a number "
                             f"{column_of(self.text, bad)}", bad)
        raw = self.text[start:self.i]
        value: Value = float(raw) if frac or exp or "." in raw else int(raw)
        return Token("number", raw, value, start)


def tokenize(text: str) -> list[Token]:
    """The filter's tokens, ending with an ``end`` token."""
    s, out = _Scanner(text), []
    word_chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
    while True:
        while s.i < len(text) and text[s.i].isspace():
            s.i += 1
        if s.i >= len(text):
            out.append(Token("end", "", "", len(text)))
            return out
        ch, start = text[s.i], s.i
        if ch in _OP_CHARS:
            two = text[s.i:s.i + 2]
            op = two if two in ("<=", ">=", "!=") else ch
            if op == "!":
                raise s.error(f"unexpected `!` {column_of(text, start)}: write != for "
                              "\"not equal\"", start)
            s.i += len(op)
            out.append(Token("op", op, op, start))
        elif ch in "(),":
            s.i += 1
            out.append(Token("punct", ch, ch, start))
        elif ch in "'\"":
            value, _ = s.quoted(ch)
            out.append(Token("string", text[start:s.i], value, start))
        elif ch == "`":
            key, _ = s.quoted("`")
            out.append(Token("ident", text[start:s.i], key, start))
        elif ch.isdigit() or (ch in "+-." and s.i + 1 < len(text)
                              and (text[s.i + 1].isdigit() or text[s.i + 1] == ".")):
            out.append(s.number())
        elif ch in word_chars:
            word = s.run(word_chars)
            if s.i < len(text) and text[s.i] == ".":
                s.i += 1
                nxt = text[s.i:s.i + 1]
                if nxt in ("`", '"'):
                    key, _ = s.quoted(nxt)
                else:
                    key = s.bare()
                if not key:
                    raise s.error(f"missing name after `{word}.` {column_of(text, s.i)}: "
                                  f"write e.g. {word}.accuracy", s.i)
                out.append(Token("ident", text[start:s.i], key, start, entity=word))
            else:
                out.append(Token("word", word, word.upper(), start))
        else:
            raise s.error(f"unexpected `{ch}` {column_of(text, start)}", start)
