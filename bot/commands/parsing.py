"""The text form of commands (Slack's ``/diplowatch <subcommand> …``) and typed checking of every argument.

Text syntax: words are split on spaces; double quotes (``"`` or typographic ``“ ”``) group words into
one value; inside or outside quotes ``\\"`` is a literal quote and ``\\\\`` a backslash (other backslashes
stay as they are). A word ``name:value`` whose name is one of the command's arguments (or ``public``)
gives that argument by name; a quoted word never does, so ``"since:7d"`` is plain text. Single quotes are
ordinary characters, so names like ``Côte d'Ivoire`` need no quoting.
"""

from __future__ import annotations

import difflib
import functools
import math
import re
import zoneinfo
from dataclasses import dataclass
from typing import Final

from bot.commands.invocation import Invocation, RawArgument, RawValue
from bot.commands.specs import COMMANDS, ArgSpec, CommandSpec, find_command
from feeds.errors import CommandError, FetchError
from feeds.fetch import check_feed_url

BoundValue = str | int | float | bool | tuple[str, ...]

_QUOTES: Final = frozenset('"“”„')
_OPTION: Final = re.compile(r"([a-z][a-z0-9_]*):(.*)", re.DOTALL)
_DURATION_PART: Final = re.compile(r"(\d+)\s*(w|d|h|m|s)")
_DURATION_UNITS: Final = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_TRUE: Final = frozenset({"true", "yes", "on", "1"})
_FALSE: Final = frozenset({"false", "no", "off", "0"})
_PUBLIC: Final = "public"
_RAW_WORD: Final = re.compile(r"\s*(\S+)")


class UsageError(CommandError):
    """Arguments that do not fit the command; ``usage`` is the command's usage line."""

    def __init__(self, message: str, *, usage: str) -> None:
        super().__init__(message)
        self.usage = usage


@dataclass(frozen=True, slots=True, kw_only=True)
class Token:
    """One word of a command line: its text with quotes and escapes resolved, where it began, and whether it
    began with a quote (then it is never read as ``name:value``)."""

    text: str
    start: int
    quoted: bool


class LineReader:
    """Reads a command line word by word; ``rest()`` gives the unread remainder verbatim."""

    def __init__(self, line: str) -> None:
        self._line = line
        self._pos = 0

    def rest(self) -> str:
        """Everything not read yet, verbatim but stripped; the reader is then at the end."""
        text = self._line[self._pos :].strip()
        self._pos = len(self._line)
        return text

    def peek_raw(self) -> str | None:
        """The next run of non-space characters as typed (quotes untouched), without reading it."""
        match = _RAW_WORD.match(self._line, self._pos)
        return None if match is None else match[1]

    def skip_raw(self) -> None:
        """Read past the run :meth:`peek_raw` shows."""
        match = _RAW_WORD.match(self._line, self._pos)
        if match is not None:
            self._pos = match.end()

    def next(self) -> Token | None:
        """The next word, or None at the end; CommandError for a quote that is never closed."""
        line = self._line
        pos = self._pos
        while pos < len(line) and line[pos].isspace():
            pos += 1
        if pos >= len(line):
            self._pos = pos
            return None
        start = pos
        chars: list[str] = []
        quote_at: int | None = None
        while pos < len(line):
            char = line[pos]
            if char == "\\" and pos + 1 < len(line) and (line[pos + 1] in _QUOTES or line[pos + 1] == "\\"):
                chars.append(line[pos + 1])
                pos += 2
                continue
            if char in _QUOTES:
                quote_at = pos if quote_at is None else None
                pos += 1
                continue
            if char.isspace() and quote_at is None:
                break
            chars.append(char)
            pos += 1
        if quote_at is not None:
            context = line[quote_at : quote_at + 20]
            raise CommandError(
                f"unbalanced quote: the quote at character {quote_at + 1} ({context!r}) is never closed; "
                'close it, or write \\" for a literal quote'
            )
        self._pos = pos
        return Token(text="".join(chars), start=start, quoted=line[start] in _QUOTES)


def split_words(text: str) -> tuple[str, ...]:
    """A string split like a command line (quotes group words): how one text box fills a list argument."""
    reader = LineReader(text)
    words: list[str] = []
    while (token := reader.next()) is not None:
        words.append(token.text)
    return tuple(words)


def parse_line(line: str) -> Invocation:
    """A Slack-style command line (without ``/diplowatch``) as an invocation; empty means ``help``."""
    reader = LineReader(line)
    first = reader.peek_raw()
    if first is None:
        return Invocation(path=("help",))
    reader.skip_raw()
    head = first.casefold()
    second = reader.peek_raw()
    if second is not None:
        spec = find_command((head, second.casefold()))
        if spec is not None:
            reader.skip_raw()
            return _read_arguments(spec, reader)
    spec = find_command((head,))
    group = sorted(s.path[1] for s in COMMANDS if len(s.path) == 2 and s.path[0] == head and not s.hidden)
    takes_text = spec is not None and any(a.kind == "text" and a.positional for a in spec.args)
    if spec is None or (
        spec.path != (head,) and second is not None and not takes_text and _OPTION.fullmatch(second) is None
    ):
        raise CommandError(_unknown_command_message(head, second, group))
    return _read_arguments(spec, reader)


def _unknown_command_message(head: str, second: str | None, group: list[str]) -> str:
    if group:
        typed = f"{head} {second}" if second else head
        return f"unknown command `{typed}`: `{head}` takes one of {', '.join(group)}. Try `/diplowatch help`."
    names = sorted({s.name for s in COMMANDS if not s.hidden} | {s.path[0] for s in COMMANDS if not s.hidden})
    close = difflib.get_close_matches(head, names, n=1, cutoff=0.6)
    hint = f" Did you mean `{close[0]}`?" if close else ""
    return f"unknown command `{head}`.{hint} Try `/diplowatch help`."


def _read_arguments(spec: CommandSpec, reader: LineReader) -> Invocation:
    usage = spec.usage()
    positional = [a for a in spec.args if a.positional and not a.hidden]
    if positional and positional[0].kind == "text":
        # Pasted documents (TOML) are taken verbatim: their quotes and colons are not command syntax.
        raw = reader.rest()
        if not raw:
            return Invocation(path=spec.path)
        return Invocation(path=spec.path, arguments=(RawArgument(name=positional[0].name, value=raw),))
    tokens: list[Token] = []
    while (token := reader.next()) is not None:
        tokens.append(token)
    named: dict[str, list[str]] = {}
    public = False
    words: list[Token] = []
    for token in tokens:
        option = None if token.quoted else _OPTION.fullmatch(token.text)
        if option is None:
            words.append(token)
            continue
        key, value = option[1], option[2]
        if key == _PUBLIC and spec.lookup:
            public = _convert_bool(value, _PUBLIC, usage)
            continue
        arg = spec.arg(key)
        if arg is None:
            _reject_near_option(spec, key, usage)
            words.append(token)
            continue
        if key in named and not arg.variadic:
            raise UsageError(f"`{key}` is given twice", usage=usage)
        named.setdefault(key, []).append(value)
    values = _assign_positionals(spec, words, named, usage)
    arguments = tuple(RawArgument(name=name, value=value) for name, value in values)
    return Invocation(path=spec.path, arguments=arguments, public=public)


def _reject_near_option(spec: CommandSpec, key: str, usage: str) -> None:
    names = [a.name for a in spec.args if not a.hidden] + ([_PUBLIC] if spec.lookup else [])
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.75)
    if close:
        raise UsageError(f"unknown option `{key}:` — did you mean `{close[0]}:`?", usage=usage)


def _assign_positionals(
    spec: CommandSpec, words: list[Token], named: dict[str, list[str]], usage: str
) -> list[tuple[str, RawValue]]:
    values: list[tuple[str, RawValue]] = []
    for name, given in named.items():
        arg = spec.arg(name)
        if arg is not None and arg.variadic:
            values.append((name, tuple(given)))
        else:
            values.append((name, given[0]))
    queue = [a for a in spec.args if a.positional and not a.hidden and a.name not in named]
    index = 0
    while index < len(words) and queue:
        arg = queue[0]
        word = words[index].text
        if arg.kind == "choice" and not arg.required and len(queue) > 1 and _choice(word, arg) is None:
            # An optional choice may be left out: the word then belongs to the next argument, unless it
            # looks like a misspelt choice.
            close = difflib.get_close_matches(word.casefold(), arg.choices, n=1, cutoff=0.75)
            if close:
                raise UsageError(f"{arg.name} {word!r} is not one of {', '.join(arg.choices)}; "
                                 f"did you mean {close[0]!r}?", usage=usage)
            queue.pop(0)
            continue
        if arg.variadic:
            values.append((arg.name, tuple(t.text for t in words[index:])))
            index = len(words)
        elif arg.rest:
            values.append((arg.name, " ".join(t.text for t in words[index:])))
            index = len(words)
        else:
            values.append((arg.name, word))
            index += 1
        queue.pop(0)
    if index < len(words):
        extra = " ".join(t.text for t in words[index:])
        raise UsageError(f"too many arguments: {extra!r}", usage=usage)
    return values


def format_invocation(invocation: Invocation) -> str:
    """The command line that runs ``invocation`` again (every argument written as ``name:value``)."""
    parts = list(invocation.path)
    for argument in invocation.arguments:
        values = argument.value if isinstance(argument.value, tuple) else (argument.value,)
        parts += [f"{argument.name}:{_quote(_raw_text(v))}" for v in values]
    if invocation.public:
        parts.append("public:true")
    return " ".join(parts)


def _raw_text(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _quote(text: str) -> str:
    if text and not any(c.isspace() or c in _QUOTES or c == "\\" for c in text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True, slots=True, kw_only=True)
class BoundArguments:
    """Checked, typed argument values of one call, read with typed getters."""

    values: tuple[tuple[str, BoundValue], ...] = ()

    def given(self, name: str) -> bool:
        """True when the argument was given."""
        return any(key == name for key, _ in self.values)

    def _get(self, name: str) -> BoundValue | None:
        return next((value for key, value in self.values if key == name), None)

    def text(self, name: str) -> str:
        """A required text-like value (str, text, url, cron, timezone, names)."""
        value = self.optional_text(name)
        if value is None:
            raise CommandError(f"{name} is required")
        return value

    def optional_text(self, name: str) -> str | None:
        """A text-like value, if given."""
        value = self._get(name)
        return value if isinstance(value, str) else None

    def optional_int(self, name: str) -> int | None:
        """An integer (int or duration in seconds), if given."""
        value = self._get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def optional_float(self, name: str) -> float | None:
        """A number, if given."""
        value = self._get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value)

    def flag(self, name: str, default: bool = False) -> bool:
        """A true/false value, ``default`` when not given."""
        value = self._get(name)
        return value if isinstance(value, bool) else default

    def strings(self, name: str) -> tuple[str, ...] | None:
        """A variadic value, if given."""
        value = self._get(name)
        return value if isinstance(value, tuple) else None


def bind(spec: CommandSpec, invocation: Invocation) -> BoundArguments:
    """Check every raw argument against the spec and convert it; UsageError names the first problem."""
    usage = spec.usage()
    values: list[tuple[str, BoundValue]] = []
    for argument in invocation.arguments:
        arg = spec.arg(argument.name)
        if arg is None:
            raise UsageError(f"`{spec.name}` has no option `{argument.name}`", usage=usage)
        if any(key == arg.name for key, _ in values):
            raise UsageError(f"`{arg.name}` is given twice", usage=usage)
        values.append((arg.name, _bind_value(arg, argument.value, usage)))
    given = {key for key, _ in values}
    for arg in spec.args:
        if arg.required and arg.name not in given:
            raise UsageError(f"missing {arg.name} ({arg.help})", usage=usage)
    return BoundArguments(values=tuple(values))


def _bind_value(arg: ArgSpec, raw: RawValue, usage: str) -> BoundValue:
    if arg.variadic:
        items = _list_items(arg, raw)
        if not items:
            raise UsageError(f"{arg.name} needs at least one value", usage=usage)
        if len(items) > arg.max_count:
            raise UsageError(f"{arg.name}: at most {arg.max_count} values, got {len(items)}", usage=usage)
        converted: list[str] = []
        for item in items:
            value = _convert(arg, item, usage)
            converted.append(value if isinstance(value, str) else str(value))
        return tuple(converted)
    if isinstance(raw, tuple):
        raw = " ".join(raw)
    return _convert(arg, raw, usage)


def _list_items(arg: ArgSpec, raw: RawValue) -> tuple[str, ...]:
    if isinstance(raw, tuple):
        items: tuple[str, ...] = raw
    elif isinstance(raw, str):
        items = split_words(raw)
    else:
        items = (_raw_text(raw),)
    if arg.kind in ("actor", "topic"):
        # Ids never contain commas, so "lavrov,un" is two ids.
        items = tuple(part.strip() for item in items for part in item.split(",") if part.strip())
    return items


def _convert(arg: ArgSpec, raw: str | int | float | bool, usage: str) -> BoundValue:
    kind = arg.kind
    if kind == "int":
        return _convert_int(arg, raw, usage)
    if kind == "float":
        return _convert_float(arg, raw, usage)
    if kind == "bool":
        return raw if isinstance(raw, bool) else _convert_bool(str(raw), arg.name, usage)
    text = _raw_text(raw)
    if kind == "text":
        text = text.strip()
        if not text:
            raise UsageError(f"{arg.name} must not be empty", usage=usage)
        if len(text) > arg.max_length:
            raise UsageError(f"{arg.name} is longer than {arg.max_length} characters", usage=usage)
        return text
    text = " ".join(text.split()) if kind != "cron" else text.strip()
    if not text:
        raise UsageError(f"{arg.name} must not be empty", usage=usage)
    if len(text) > arg.max_length:
        raise UsageError(f"{arg.name} is longer than {arg.max_length} characters ({len(text)})", usage=usage)
    if kind == "choice":
        choice = _choice(text, arg)
        if choice is None:
            close = difflib.get_close_matches(text.casefold(), arg.choices, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UsageError(f"{arg.name} {text!r} is not one of {', '.join(arg.choices)}{hint}", usage=usage)
        return choice
    if kind == "duration":
        return parse_duration_text(text, name=arg.name)
    if kind == "url":
        return _convert_url(text)
    if kind == "cron":
        if len(text.split()) != 5:
            raise UsageError(f"{arg.name} {text!r} is not a 5-field cron expression like '0 8 * * 1-5' "
                             "(quote it: digest_cron:\"0 8 * * 1-5\")", usage=usage)
        return " ".join(text.split())
    if kind == "timezone":
        return check_timezone_name(text)
    return text


def _convert_int(arg: ArgSpec, raw: str | int | float | bool, usage: str) -> int:
    if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
        raise UsageError(f"{arg.name} must be a whole number, not {raw!r}", usage=usage)
    try:
        value = int(raw) if not isinstance(raw, str) else int(raw.strip())
    except ValueError as e:
        raise UsageError(f"{arg.name} must be a whole number, not {raw!r}", usage=usage) from e
    _check_range(arg, value, usage)
    return value


def _convert_float(arg: ArgSpec, raw: str | int | float | bool, usage: str) -> float:
    if isinstance(raw, bool):
        raise UsageError(f"{arg.name} must be a number, not {raw!r}", usage=usage)
    try:
        value = float(raw) if not isinstance(raw, str) else float(raw.strip())
    except ValueError as e:
        raise UsageError(f"{arg.name} must be a number, not {raw!r}", usage=usage) from e
    if not math.isfinite(value):
        raise UsageError(f"{arg.name} must be a finite number", usage=usage)
    _check_range(arg, value, usage)
    return value


def _check_range(arg: ArgSpec, value: float, usage: str) -> None:
    low, high = arg.min_value, arg.max_value
    if (low is not None and value < low) or (high is not None and value > high):
        bound = f"between {low:g} and {high:g}" if low is not None and high is not None else (
            f"at least {low:g}" if low is not None else f"at most {high:g}"
        )
        raise UsageError(f"{arg.name} must be {bound}, not {value:g}", usage=usage)


def _convert_bool(text: str, name: str, usage: str) -> bool:
    folded = text.strip().casefold()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise UsageError(f"{name} must be true or false, not {text!r}", usage=usage)


def _choice(text: str, arg: ArgSpec) -> str | None:
    folded = text.casefold()
    return next((c for c in arg.choices if c.casefold() == folded), None)


def parse_duration_text(text: str, *, name: str) -> int:
    """Seconds in ``"90s"``, ``"15m"``, ``"2h"``, ``"7d"``, ``"1w"`` or a sum like ``"1h30m"``."""
    compact = text.strip().casefold().replace(" ", "")
    position = 0
    seconds = 0
    for match in _DURATION_PART.finditer(compact):
        if match.start() != position:
            break
        seconds += int(match[1]) * _DURATION_UNITS[match[2]]
        position = match.end()
    if position != len(compact) or position == 0:
        raise CommandError(f"{name} {text!r} is not a duration: write e.g. 30s, 15m, 2h, 7d or 1w")
    return seconds


def _convert_url(text: str) -> str:
    # Slack may wrap links as <https://…> or <https://…|label>.
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1].split("|", 1)[0]
    try:
        return check_feed_url(text)
    except FetchError as e:
        raise CommandError(f"the feed URL is not usable: {e}") from e


@functools.cache
def _timezone_names() -> dict[str, str]:
    return {name.casefold(): name for name in zoneinfo.available_timezones()}


def check_timezone_name(text: str) -> str:
    """The IANA timezone name ``text`` means (case-insensitively); CommandError with a suggestion if none."""
    names = _timezone_names()
    exact = names.get(text.casefold())
    if exact is not None:
        return exact
    try:
        zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        close = difflib.get_close_matches(text.casefold(), list(names), n=1, cutoff=0.7)
        hint = f"; did you mean {names[close[0]]!r}?" if close else ""
        raise CommandError(
            f"{text!r} is not a known timezone (use an IANA name like 'Europe/Berlin'){hint}"
        ) from None
    return text
