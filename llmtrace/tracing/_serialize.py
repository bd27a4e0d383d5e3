"""Turn arbitrary Python values into bounded, secret-free JSON text (on the export thread).

Nothing here may raise: a value that cannot be represented becomes a short placeholder string.
Every string is repaired first (lone surrogates become U+FFFD), then cut to the limit, and only
then masked, so the regex work per string is bounded by the limit, not by the value. A secret
that straddles the cut is still masked whole: the masker looks `_LOOKAHEAD` characters past it.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import functools
import hashlib
import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ._plainjson import plain_json

REDACTED = "[REDACTED]"
_REDACTED_JSON = json.dumps(REDACTED)
_MAX_DEPTH = 20
_LOOKAHEAD = 512  # characters past a cut that are still scanned for a secret crossing it
_MIN_CLIP = 64  # strings keep at least this much once a value's budget is spent
_ITEM_COST = 4  # budget characters each converted item costs (about its JSON punctuation)
_BIG_INT_BITS = 2_000  # above this, check the int still has a decimal form (4,300-digit cap)
_MAX_KEYS = 256  # a mapping with more top-level keys is cut as a whole, like any value
_CACHED_CHARS = 256  # strings up to this long are cleaned once and remembered


def truncation_marker(dropped: int) -> str:
    """The visible end of a cut value: ``...[truncated N chars]``."""
    return f"...[truncated {dropped} chars]"


class Notes:
    """What cleaning changed, for the span's ``llmtrace.truncated``/``repaired_text`` marks,
    and the first error a user object raised while being converted (``error``)."""

    __slots__ = ("error", "repaired", "truncated")

    def __init__(self) -> None:
        self.truncated = False
        self.repaired = False
        self.error: str | None = None

    def failed(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = type(exc).__name__


# --- secret names: mapping keys, attribute names and ``key=value`` pairs in text --------------

#: A name *ending* with one of these names a secret ("openai_api_key", "dbPassword").
_FREE_NAMES = (
    "api_key",
    "access_key",
    "secret_key",
    "private_key",
    "secret",
    "password",
    "passwd",
    "passphrase",
    "access_token",
    "refresh_token",
    "id_token",
    "auth_token",
    "session_token",
    "security_token",
    "bearer_token",
    "api_token",
    "oauth_token",
    "csrf_token",
    "xsrf_token",
    "bot_token",
    "credential",
    "credentials",
)
#: Names that are secrets only as a whole word ("token", "x_auth"; not "max_tokens", "author").
_WORD_NAMES = (
    "token",
    "authorization",
    "bearer",
    "pwd",
    "jwt",
    "cookie",
    "set_cookie",
    "organization",
    "auth",
    "dsn",
    "signature",
    "sig",
)


#: Word names too common in prose to mask after ``name:`` in free text (still masked as keys).
_KEY_ONLY_NAMES = frozenset({"organization", "signature", "auth"})


def _name_regex(names: Iterable[str], sep: str) -> str:
    return "|".join(n.replace("_", sep) for n in sorted(names, key=len, reverse=True))


# Keys are compared lower-cased with '-', '.' and ' ' as '_'; camelCase lower-cases to the
# separator-less form, which the optional '_' also accepts ("apiKey", "sessionToken").
_KEY_RE = re.compile(
    rf"(?:{_name_regex(_FREE_NAMES, '_?')})$|(?:^|_)(?:{_name_regex(_WORD_NAMES, '_?')})$"
)
_KEY_SEPARATORS = str.maketrans({"-": "_", ".": "_", " ": "_"})


def is_secret_key(key: str) -> bool:
    """True when a mapping key or attribute name names a secret (``api_key``, ``X-Auth-Token``).

    Example:
        >>> is_secret_key("Authorization"), is_secret_key("max_tokens")
        (True, False)
    """
    return _is_secret_name(key[-64:])


@functools.lru_cache(maxsize=4096)  # attribute and argument names repeat on every span
def _is_secret_name(key: str) -> bool:
    return _KEY_RE.search(key.lower().translate(_KEY_SEPARATORS)) is not None


# --- secret values: patterns searched in text ---------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Rule:
    """One secret pattern.

    Each regex starts with a literal (any look-behind comes after it), so the regex engine
    skips ahead to the literal as fast as ``str.find``; ``lowered`` rules run on the
    lower-cased text instead of paying for case-insensitive matching. A rule runs only when
    one of its lower-case ``triggers`` is in the text (a cheap test for short strings);
    with ``near``, it only looks that far after each trigger.
    """

    regex: re.Pattern[str]
    triggers: tuple[str, ...]
    lowered: bool = False
    group: str | None = None  # the secret is this group (default: the whole match)
    near: int = 0


_T = r"[A-Za-z0-9_\-]"  # a token character


def _token(prefix: str, rest: str) -> _Rule:
    """A token that starts with ``prefix`` (not glued to a preceding word) then ``rest``."""
    lit = re.escape(prefix)
    return _Rule(re.compile(f"{lit}(?<![A-Za-z0-9]{lit}){rest}"), (prefix.lower(),))


_RULES = (
    _Rule(  # PEM private key blocks, to their END line (or to the end of a cut text)
        re.compile(
            r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
            r"(?:-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|\Z)"
        ),
        ("-----begin",),
    ),
    _Rule(  # ?key=..., presigned URLs' ?X-Amz-Signature=...
        re.compile(r"[?&;](?:key|[a-z0-9\-]{0,16}signature)=(?P<s>[^&#\s\"'<>]+)"),
        ("key=", "signature="),
        lowered=True,
        group="s",
    ),
    _Rule(  # scheme://user:password@host (database URLs, basic auth in URLs)
        re.compile(r"://[^\s/:@'\"]{0,128}:(?P<s>[^\s/@'\"]{1,256})@"), ("://",), group="s"
    ),
    _Rule(
        re.compile(r"bearer(?<![a-z0-9]bearer)\s+(?P<s>[a-z0-9._~+/=\-]{8,})"),
        ("bearer",),
        lowered=True,
        group="s",
    ),
    _token("eyJ", rf"{_T}{{8,}}\.{_T}{{8,}}\.{_T}*"),  # JSON Web Tokens
    _token("sk-", f"{_T}{{16,}}"),  # OpenAI, Anthropic
    _token("sk_", r"(?:live|test)_[A-Za-z0-9]{10,}"),  # Stripe secret ...
    _token("rk_", r"(?:live|test)_[A-Za-z0-9]{10,}"),  # ... and restricted keys
    _token("gh", r"[pousr]_[A-Za-z0-9]{20,}"),  # GitHub, classic tokens (gh*_)
    _token("github_pat_", r"[A-Za-z0-9_]{20,}"),  # GitHub, fine-grained tokens
    _token("glpat-", f"{_T}{{20,}}"),  # GitLab
    _Rule(  # AWS access key ids
        re.compile(r"A(?<![A-Z0-9]A)(?:KIA|SIA|BIA|CCA|3T[A-Z0-9])[A-Z0-9]{16}(?![A-Z0-9])"),
        ("akia", "asia", "abia", "acca", "a3t"),
    ),
    _Rule(  # AWS secret access keys: 40 mixed base64 characters, shortly after "aws"/an id
        re.compile(
            r"(?:^|[^A-Za-z0-9/+=])(?P<s>(?=[A-Za-z0-9/+]{0,39}[A-Z])(?=[A-Za-z0-9/+]{0,39}[a-z])"
            r"(?=[A-Za-z0-9/+]{0,39}[0-9])[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"
        ),
        ("aws", "akia", "asia"),
        group="s",
        near=200,
    ),
    _token("xox", r"[abposr]-[A-Za-z0-9\-]{10,}"),  # Slack tokens
    _Rule(re.compile(r"hooks\.slack\.com/services/[A-Za-z0-9_/]+"), ("hooks.slack",)),
    _token("AIza", f"{_T}{{35,}}"),  # Google API keys
    _token("hf_", r"[A-Za-z0-9]{30,}"),  # Hugging Face
    _token("org-", r"[A-Za-z0-9]{16,}"),  # OpenAI organization ids
    _token("npm_", r"[A-Za-z0-9]{36,}"),
    _token("pypi-AgE", f"{_T}{{50,}}"),
    _token("SG.", f"{_T}{{22}}\\.{_T}{{43}}"),  # SendGrid
)

# ``name = value``, ``name: value``, ``"name": "value"``, ``("name", "value")``, ``?name=value``:
# one literal-led regex per last word of a secret name, followed by a separator; the whole
# name (read backwards from there) must pass `is_secret_key`.
_KV_ENDS = tuple(
    (word.split("(")[0].rstrip("s?"), re.compile(rf"{word}(?P<q>[\"'])?\s{{0,8}}(?P<sep>[:=,])"))
    for word in (
        "key", "secret", "passw(?:or)?d", "passphrase", "token", "credentials?", "pwd",
        "jwt", "cookie", "bearer", "authorization", "dsn", "sig",
    )
)  # fmt: skip
_NAME_TAIL = re.compile(r"[a-z0-9_.\- ]{0,48}")  # matched on the reversed text before a word
_QUOTED = r""""(?P<dq>(?:[^"\\]|\\.)*)"?|'(?P<sq>(?:[^'\\]|\\.)*)'?"""
_BARE = r"""(?![\[{(]|(?i:null|true|false|none)\b)(?P<bare>[^\s"',;&<>}\])]+)"""
_SCHEME = r"\s{0,8}(?i:(?:bearer|basic|token)\s+)?"
_VALUE_QUOTED = re.compile(f"{_SCHEME}(?:{_QUOTED})")  # after a quoted name: JSON, Python
_VALUE_ANY = re.compile(f"{_SCHEME}(?:{_QUOTED}|{_BARE})")


def _kv_spans(text: str, lowered: str, spans: list[tuple[int, int]]) -> None:
    for word, regex in _KV_ENDS:
        if word not in lowered:
            continue
        for m in regex.finditer(lowered):
            quoted = m.group("q") is not None
            if m.group("sep") == "," and not quoted:
                continue
            start = m.start()
            before = lowered[max(0, start - 48) : start][::-1]
            head = _NAME_TAIL.match(before)
            name = (head.group()[::-1] if head else "") + lowered[
                start : m.start("q") if quoted else m.start("sep")
            ]
            if not _is_text_name(name.strip()):
                continue
            value = (_VALUE_QUOTED if quoted else _VALUE_ANY).match(text, m.end())
            if value is None:
                continue
            for group in ("dq", "sq", "bare"):
                if value.group(group) is not None:
                    vstart, vend = value.span(group)
                    if vend > vstart:
                        spans.append((vstart, vend))
                    break


def _is_text_name(name: str) -> bool:
    norm = name.translate(_KEY_SEPARATORS)
    if norm.rsplit("_", 1)[-1] in _KEY_ONLY_NAMES:
        return False
    return _KEY_RE.search(norm) is not None


def _windows(rule: _Rule, lowered: str) -> list[tuple[int, int]]:
    """Where ``rule`` looks: the whole text, or ``near`` characters after each trigger."""
    if not rule.near:
        return [(0, len(lowered))]
    windows: list[tuple[int, int]] = []
    for trigger in rule.triggers:
        pos = lowered.find(trigger)
        while pos >= 0:
            start = max(pos - 1, 0)
            if windows and start <= windows[-1][1]:
                windows[-1] = (windows[-1][0], pos + rule.near)
            else:
                windows.append((start, pos + rule.near))
            pos = lowered.find(trigger, pos + 1)
    return windows


def _secret_spans(text: str, literals: Iterable[str] = ()) -> list[tuple[int, int]]:
    """Sorted, merged (start, end) spans of the secrets in ``text``."""
    lowered = text.lower()
    if len(lowered) != len(text):  # a few non-ASCII letters lower-case to two characters
        lowered = "".join(c if len(c) == 1 else "?" for c in map(str.lower, text))
    spans: list[tuple[int, int]] = []
    for rule in _RULES:
        if not any(t in lowered for t in rule.triggers):
            continue
        subject = lowered if rule.lowered else text
        for start, end in _windows(rule, lowered):
            for m in rule.regex.finditer(subject, start, end):
                first, last = m.span(rule.group) if rule.group else m.span()
                if last > first:
                    spans.append((first, last))
    _kv_spans(text, lowered, spans)
    for literal in literals:  # values passed under secret names (``api_key=...``)
        pos = text.find(literal)
        while pos >= 0:
            spans.append((pos, pos + len(literal)))
            pos = text.find(literal, pos + len(literal))
    if len(spans) < 2:
        return spans
    spans.sort()
    merged = [spans[0]]
    for start, end in spans[1:]:
        last_start, last_end = merged[-1]
        if start <= last_end:
            merged[-1] = (last_start, max(end, last_end))
        else:
            merged.append((start, end))
    return merged


def short_hash(text: str) -> str:
    """Eight hex digits of the SHA-256 of ``text``: stable across processes."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def hashed_marker(secret: str) -> str:
    """``[REDACTED:3fa1c2d4]``: a stable short hash, so two masked ids stay two ids."""
    return f"[REDACTED:{short_hash(secret)}]"


def repair(text: str, notes: Notes | None = None) -> str:
    """``text`` with lone surrogates replaced by U+FFFD (surrogate pairs are joined)."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    if notes is not None:
        notes.repaired = True
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def clean_text(
    text: str,
    limit: int = 0,
    *,
    secrets: Iterable[str] = (),
    hashed: bool = False,
    notes: Notes | None = None,
) -> str:
    """``text`` repaired, cut to ``limit`` characters (0: no cut) with a marker, then masked.

    Example:
        >>> clean_text("token=abcdef " + "x" * 100, limit=20)
        'token=[REDACTED] xxxxxxx...[truncated 93 chars]'
    """
    out, dropped = _clean(text, limit, secrets, hashed, notes)
    return out + truncation_marker(dropped) if dropped else out


def _clean(
    text: str, limit: int, secrets: Iterable[str], hashed: bool, notes: Notes | None
) -> tuple[str, int]:
    """(masked first ``limit`` characters of ``text``, number of characters cut off)."""
    if type(text) is not str:  # a subclass's own methods are user code
        text = str.__str__(text)
    if len(text) <= _CACHED_CHARS and not secrets:
        out, dropped, repaired = _clean_short(text, limit, hashed)
        if notes is not None:
            notes.repaired = notes.repaired or repaired
            notes.truncated = notes.truncated or dropped > 0
        return out, dropped
    return _clean_long(text, limit, secrets, hashed, notes)


@functools.lru_cache(maxsize=8192)
def _clean_short(text: str, limit: int, hashed: bool) -> tuple[str, int, bool]:
    """Short strings repeat (names, roles, models, prompts): each is cleaned once."""
    notes = Notes()
    out, dropped = _clean_long(text, limit, (), hashed, notes)
    return out, dropped, notes.repaired


def _clean_long(
    text: str, limit: int, secrets: Iterable[str], hashed: bool, notes: Notes | None
) -> tuple[str, int]:
    text = repair(text, notes)
    size = len(text)
    stop = limit if 0 < limit < size else size
    window = text[: stop + _LOOKAHEAD] if stop < size else text
    if 0 < limit and stop == size and size >= 2 and window[0] in "{[":
        window = _mask_json_text(window, notes)  # (not on the caller's thread: no limit there)
        size = stop = len(window)
    if notes is not None and stop < size:
        notes.truncated = True
    if len(window) < 8:
        return window[:stop], size - stop
    spans = _secret_spans(window, secrets)
    if not spans:
        return window[:stop], size - stop
    parts: list[str] = []
    pos = 0
    for start, end in spans:
        if start >= stop:
            break
        parts.append(window[pos:start])
        parts.append(hashed_marker(window[start:end]) if hashed else REDACTED)
        pos = end  # a secret crossing the cut is masked whole; nothing after it is kept
    if pos < stop:
        parts.append(window[pos:stop])
    return "".join(parts), size - stop


def _mask_json_text(text: str, notes: Notes | None) -> str:
    """JSON text with values under secret keys masked (re-encoded only when something was)."""
    try:
        data = json.loads(text)
    except ValueError:
        return text
    if not isinstance(data, (dict, list)):
        return text
    masked = _Walker(len(text), (), notes).convert(data, 0)
    if masked == data:
        return text
    return json.dumps(masked, ensure_ascii=False)


def mask_text(text: str) -> str:
    """Replace secret-looking substrings of ``text`` with ``[REDACTED]`` (no cut).

    Example:
        >>> mask_text("key sk-abcdefghijklmnopqr")
        'key [REDACTED]'
    """
    return clean_text(text)


# --- values --------------------------------------------------------------------------------------


class _Walker:
    """One conversion: the per-string limit, a work budget, cycle detection, notes."""

    __slots__ = ("budget", "limit", "notes", "secrets", "seen")

    def __init__(self, limit: int, secrets: Iterable[str], notes: Notes | None) -> None:
        self.limit = limit
        self.budget = 2 * limit if limit > 0 else -1  # characters left to emit; -1: unbounded
        self.secrets = tuple(secrets)
        self.notes = notes
        self.seen: set[int] = set()

    def text(self, value: str, hashed: bool = False) -> str:
        limit = self.limit
        if self.budget >= 0:
            limit = max(min(limit, self.budget), _MIN_CLIP)
        out = clean_text(value, limit, secrets=self.secrets, hashed=hashed, notes=self.notes)
        if self.budget >= 0:
            self.budget = max(self.budget - len(out), 0)
        return out

    def spent(self) -> bool:
        return self.budget == 0

    def convert(self, value: Any, depth: int) -> Any:
        if self.budget > 0:  # every item costs a little, so a list of a million ints stops too
            self.budget = max(self.budget - _ITEM_COST, 0)
        if value is None or isinstance(value, (bool, float)):
            return value
        if isinstance(value, int):
            return _int(value)
        if isinstance(value, str):
            return self.text(value)  # (a str subclass becomes a plain str there)
        if depth > _MAX_DEPTH:
            return f"<max depth {type(value).__name__}>"
        oid = id(value)
        if oid in self.seen:
            return f"<circular {type(value).__name__}>"
        self.seen.add(oid)
        try:
            return self._convert(value, depth + 1)
        except BaseException as exc:  # any hook of a user object (even KeyboardInterrupt)
            if self.notes is not None:
                self.notes.failed(exc)
            return self.text(_safe_repr(value, self.notes))
        finally:
            self.seen.discard(oid)

    def key(self, key: Any, depth: int) -> str:
        text = key if isinstance(key, str) else str(self.convert(key, depth))
        return self.text(text, hashed=True)  # two masked keys stay two keys

    def secret_key(self, key: Any, value: Any) -> bool:
        """A non-empty value under a secret key (``api_key``), withheld whole."""
        return isinstance(key, str) and is_secret_key(str.__str__(key)) and has_content(value)

    def _convert(self, value: Any, depth: int) -> Any:
        if isinstance(value, Mapping):
            out: dict[str, Any] = {}
            for i, (k, v) in enumerate(value.items()):
                if self.spent() and depth > 1:
                    out["..."] = f"[{len(value) - i} more entries]"
                    break
                key = self.key(k, depth)
                out[key] = REDACTED if self.secret_key(k, v) else self.convert(v, depth)
            return out
        if isinstance(value, (list, tuple, set, frozenset)):
            items = list(value)
            if len(items) == 2 and self.secret_key(items[0], items[1]):
                return [self.text(items[0]), REDACTED]  # a header pair: ("Authorization", "...")
            converted = []
            for i, item in enumerate(items):
                if self.spent():
                    converted.append(f"...[{len(items) - i} more items]")
                    break
                converted.append(self.convert(item, depth))
            return converted
        if isinstance(value, (bytes, bytearray)):
            return f"<{len(value)} bytes>"
        if isinstance(value, enum.Enum):
            return self.convert(value.value, depth)
        if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
            return value.isoformat()
        if isinstance(value, uuid.UUID):
            return str(value)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
            return self.convert(fields, depth)
        model_dump = getattr(value, "model_dump", None)  # pydantic v2 (openai responses)
        if callable(model_dump) and not isinstance(value, type):
            return self.convert(model_dump(), depth)
        to_dict = getattr(value, "to_dict", None)
        if callable(to_dict) and not isinstance(value, type):
            return self.convert(to_dict(), depth)
        if type(value).__repr__ is object.__repr__:  # "<openai.OpenAI object at 0x...>"
            return f"<{type(value).__name__} object>"
        return self.text(_safe_repr(value, self.notes))


def is_opaque(value: Any) -> bool:
    """True for an object with no readable form of its own (Python's default repr, no
    ``model_dump``/``to_dict``, not a dataclass): recorded as ``<Type object>``.

    Example:
        >>> is_opaque(object()), is_opaque({"a": 1}), is_opaque("text")
        (True, False, False)
    """
    try:
        cls = type(value)
        if cls.__repr__ is not object.__repr__ or isinstance(value, type):
            return False
        if dataclasses.is_dataclass(value):
            return False
        return not any(callable(getattr(value, n, None)) for n in ("model_dump", "to_dict"))
    except Exception:  # a user __getattr__ may raise: then it is shown as it is
        return False


def has_content(value: Any) -> bool:
    """False for an empty value (``""``, None, ``[]``), shown as it is even under a secret key;
    True for anything else (without calling the object's own ``__bool__``/``__len__``)."""
    if value is None:
        return False
    if type(value) in (str, bytes, list, tuple, dict):
        return len(value) > 0
    return True


def _int(value: int) -> int | str:
    value = int.__index__(value)  # an int subclass's own __str__/__repr__ is user code
    if value.bit_length() > _BIG_INT_BITS:
        try:
            int.__repr__(value)
        except ValueError:  # over sys.get_int_max_str_digits(): json.dumps would fail too
            return f"<int of {value.bit_length()} bits>"
    return value


def _safe_repr(value: Any, notes: Notes | None) -> str:
    try:
        text = repr(value)
        return text if type(text) is str else str.__str__(text)
    except BaseException as exc:  # a user __repr__ may raise anything; the walk goes on
        if notes is not None:
            notes.failed(exc)
        return f"<unrepresentable {type(value).__name__}>"


def to_jsonable(
    value: Any,
    limit: int = 0,
    *,
    secrets: Iterable[str] = (),
    notes: Notes | None = None,
) -> Any:
    """Convert ``value`` to plain JSON types, repairing and masking every string; never raises.

    With a ``limit``, each string is cut to it and the whole walk stops adding items once
    about twice that many characters were produced. Cycles become ``"<circular ...>"``;
    unknown objects their ``repr`` (or a placeholder when ``repr`` itself fails).
    """
    return _Walker(limit, secrets, notes).convert(value, 0)


_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=True)  # built once, not per call


def _dumps(data: Any) -> str:
    return _ENCODER.encode(data)


def _cut(text: str, max_chars: int) -> str:
    """JSON text over ``max_chars`` as a JSON string of its first ``max_chars`` characters."""
    return json.dumps(text[:max_chars] + truncation_marker(len(text) - max_chars))


def dump_json(
    value: Any,
    max_chars: int,
    redact: Callable[[Any], Any] | None = None,
    *,
    secrets: Iterable[str] = (),
    notes: Notes | None = None,
) -> tuple[str, bool]:
    """Serialize ``value`` to JSON text of at most ~``max_chars``; returns (text, truncated).

    A mapping keeps its top-level keys: the longest values are cut first (each becomes a JSON
    string ending ``...[truncated N chars]``) and one bad value becomes a placeholder alone.
    Any other value too long becomes a JSON string holding the first ``max_chars`` characters
    of its JSON text and the marker, so the result is always valid JSON.
    """
    if redact is None and (plain := plain_json(value, max_chars)) is not None:
        return plain, False  # None, a flag, a number, {} or []: nothing to repair, mask or cut
    notes = notes if notes is not None else Notes()
    data = value
    dropped = 0  # characters of a top-level string cut before the redact hook saw it
    if redact is not None:
        if type(value) is str:
            data, dropped = _clean(value, max_chars, secrets, False, notes)
        else:
            data = to_jsonable(value, max_chars, secrets=secrets, notes=notes)
        try:
            data = redact(data)
        except BaseException as exc:  # the user's hook: contained like any user code
            notes.failed(exc)
            data = "<redact hook failed; value withheld>"
    if isinstance(data, Mapping):
        try:
            items = list(data.items())
        except BaseException as exc:  # a user Mapping's items(): converted as an object below
            notes.failed(exc)
            items = None
        if items is not None and len(items) <= _MAX_KEYS:
            return _dump_items(items, max_chars, secrets, notes), notes.truncated
    if isinstance(data, str):
        text, more = _clean(data, max_chars, secrets, False, notes)
        dropped += more
        text = _dumps(text)
        if dropped or (max_chars > 0 and len(text) > max_chars):
            notes.truncated = True
            cut = max(len(text) - max_chars, 0)
            return json.dumps(text[:max_chars] + truncation_marker(cut + dropped)), True
        return text, False
    text = _dumps(to_jsonable(data, max_chars, secrets=secrets, notes=notes))
    if max_chars > 0 and len(text) > max_chars:
        notes.truncated = True
        return _cut(text, max_chars), True
    return text, notes.truncated


def _dump_items(
    items: list[tuple[Any, Any]], max_chars: int, secrets: Iterable[str], notes: Notes
) -> str:
    """A top-level mapping as JSON text: every key kept, the largest values cut to fit."""
    if max_chars <= 0 or not any(type(v) is str and len(v) > max_chars for _, v in items):
        whole = _dumps(_Walker(max_chars, secrets, notes).convert(dict(items), 0))
        if max_chars <= 0 or len(whole) <= max_chars:  # the common case: it fits as it is
            return whole
    keys: list[str] = []
    values: list[Any] = []  # a str (cleaned below, to its share) or JSON text of anything else
    sizes: list[int] = []
    for k, v in items:
        walker = _Walker(max_chars, secrets, notes)
        keys.append(json.dumps(walker.key(k, 0)))
        if walker.secret_key(k, v):
            text: Any = _REDACTED_JSON
        elif type(v) is str:
            text = v
        else:
            try:
                text = _dumps(walker.convert(v, 0))
            except Exception as exc:  # one bad value: a placeholder for it alone
                notes.failed(exc)
                text = json.dumps(f"<not serializable: {type(exc).__name__}>")
        values.append(text)
        sizes.append(len(text) + 2 if text is v else len(text))
    overhead = sum(len(k) + 2 for k in keys) + 2
    shares = list(sizes)
    if max_chars > 0 and overhead + sum(sizes) > max_chars:
        room = max(max_chars - overhead, _MIN_CLIP * len(keys))
        left = len(keys)
        for i in sorted(range(len(keys)), key=sizes.__getitem__):  # small values stay whole
            shares[i] = min(sizes[i], max(room // left, _MIN_CLIP))
            room -= shares[i]
            left -= 1
    parts = []
    for i, (key, value) in enumerate(zip(keys, values, strict=True)):
        raw, share = items[i][1], shares[i]
        if type(raw) is str and value is raw:
            value = _dumps(clean_text(raw, max(share - 2, 1), secrets=secrets, notes=notes))
        elif share < sizes[i]:
            notes.truncated = True
            value = _cut(value, share)
        parts.append(f"{key}: {value}")
    return "{" + ", ".join(parts) + "}"


def as_text(value: Any) -> str:
    """A value as one string: a string as it is, anything else as compact JSON (or ``str()``).

    Example:
        >>> as_text({"q": "hi"})
        '{"q": "hi"}'
    """
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)
