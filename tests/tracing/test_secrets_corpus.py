"""Every kind of secret, planted in every place a traced program can put a string, through the
real pipeline into a real SQLite store: none survives in the database file (WAL included) or in
the log output. Issue 14, "Secrets that survive" (36 of 58 planted kinds were found there).

Each planted secret is unique (one per kind and place) and has the length and alphabet of the
real thing, so a pattern that only matches a toy value does not pass.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import pytest

import llmtrace

ALNUM = string.ascii_letters + string.digits
B64 = ALNUM + "+/"
B64URL = ALNUM + "-_"
_rng = random.Random(1414)


def _chars(n: int, alphabet: str = ALNUM) -> str:
    return "".join(_rng.choice(alphabet) for _ in range(n))


def _mixed(n: int, alphabet: str) -> str:
    """Random characters with at least one upper, one lower letter and one digit."""
    while True:
        value = _chars(n, alphabet)
        if any(c.isupper() for c in value) and any(c.islower() for c in value):
            if any(c.isdigit() for c in value):
                return value


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@dataclass
class Planted:
    """One secret as planted: ``text`` to embed anywhere; ``key``/``value`` for keyed places."""

    text: str
    needles: list[str]  # what must not be found: the secret and parts of it
    key: str | None = None
    value: str | None = None


def _keyed(key: str, template: str = "{key}={value}") -> Callable[[], Planted]:
    def make() -> Planted:
        value = _chars(32)
        return Planted(template.format(key=key, value=value), [value], key, value)

    return make


def _pattern(make_secret: Callable[[], str], template: str = "{}") -> Callable[[], Planted]:
    def make() -> Planted:
        secret = make_secret()
        return Planted(template.format(secret), [secret])

    return make


def _bearer() -> Planted:
    token = _chars(40, B64URL)
    return Planted(f"Authorization: Bearer {token}", [token], "Authorization", f"Bearer {token}")


def _aws_secret_keyed() -> Planted:
    secret = _mixed(40, B64)
    text = f"aws_secret_access_key = {secret}"
    return Planted(text, [secret], "aws_secret_access_key", secret)


def _aws_free_text() -> Planted:
    key_id, secret = "AKIA" + _chars(16, string.ascii_uppercase + "234567"), _mixed(40, B64)
    return Planted(f"AWS creds {key_id} / {secret} (rotate!)", [key_id, secret])


def _jwt() -> Planted:
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64url(json.dumps({"sub": _chars(12), "iat": _rng.randrange(10**9)}).encode())
    signature = _chars(43, B64URL)
    return Planted(f"session cookie {header}.{payload}.{signature}", [payload, signature])


def _pem() -> Planted:
    lines = ["MIIEow" + _chars(58, B64)] + [_chars(64, B64) for _ in range(3)] + [_chars(20, B64)]
    body = "\n".join(lines)
    text = f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----"
    return Planted(f"key file:\n{text}\n", lines)


def _headers() -> Planted:
    token = _chars(40, B64URL)
    text = str([("Authorization", f"Bearer {token}"), ("Accept", "application/json")])
    return Planted(text, [token], "Authorization", f"Bearer {token}")


def _json_text() -> Planted:
    value = _chars(32)
    return Planted(json.dumps({"api_key": value, "model": "gpt-4o"}), [value], "api_key", value)


def _url(query: str) -> Callable[[], Planted]:
    def make() -> Planted:
        value = _chars(32)
        return Planted(f"GET https://api.example.com/v1/search?q=paris&{query}={value}", [value])

    return make


def _presigned() -> Planted:
    key_id = "ASIA" + _chars(16, string.ascii_uppercase + "234567")
    token = "IQoJb3JpZ2luX2VjE" + _chars(180, ALNUM + "%")
    signature = _chars(64, "0123456789abcdef")
    url = (
        "https://bucket.s3.amazonaws.com/report.pdf?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        f"&X-Amz-Credential={key_id}%2F20261201%2Fus-east-1%2Fs3%2Faws4_request"
        f"&X-Amz-Security-Token={token}&X-Amz-Signature={signature}"
    )
    return Planted(url, [key_id, token, signature])


def _password_text() -> Planted:
    password = _chars(18, ALNUM + "!.-")
    return Planted(f"login as admin with password={password} then retry", [password])


def _database_url() -> Planted:
    password = _chars(20)
    return Planted(f"postgresql://app_user:{password}@db.internal:5432/prod", [password])


def _slack(kind: str) -> Callable[[], Planted]:
    def make() -> Planted:
        digits = "0123456789"
        middle = f"{_chars(11, digits)}-{_chars(13, digits)}"
        token = f"xox{kind}-{middle}-{_chars(24, string.ascii_lowercase + digits)}"
        return Planted(f"slack {token}", [token, token[5:]])

    return make


def _with_body(prefix: str, length: int, alphabet: str = ALNUM) -> Callable[[], str]:
    return lambda: prefix + _chars(length, alphabet)


KINDS: dict[str, Callable[[], Planted]] = {
    "api_key value": _keyed("api_key"),
    "Authorization value": _bearer,
    "token value": _keyed("token", "{key}: {value}"),
    "aws_secret_access_key value": _aws_secret_keyed,
    "AWS key id and secret in text": _aws_free_text,
    "github_pat_": _pattern(lambda: "github_pat_11" + _chars(20) + "_" + _chars(59)),
    "ghp_": _pattern(_with_body("ghp_", 36)),
    "sk- key": _pattern(_with_body("sk-proj-", 48, B64URL), "use {} for the call"),
    "sk-ant- key": _pattern(_with_body("sk-ant-api03-", 93, B64URL)),
    "private_key value": _keyed("private_key", '"{key}": "{value}"'),
    "session_token value": _keyed("session_token"),
    "auth_token value": _keyed("auth_token", "{key} = {value}"),
    "credentials value": _keyed("credentials", "{key}: {value}"),
    "jwt value": _keyed("jwt"),
    "pwd value": _keyed("pwd"),
    "x-goog-api-key value": _keyed("x-goog-api-key", "{key}: {value}"),
    "JWT in text": _jwt,
    "Authorization header tuples": _headers,
    "JSON text": _json_text,
    "?api_key=": _url("api_key"),
    "?key=": _url("key"),
    "?token=": _url("token"),
    "?access_token=": _url("access_token"),
    "X-Amz-Security-Token": _presigned,
    "password= in text": _password_text,
    "database URL": _database_url,
    "PEM private key": _pem,
    "Slack xoxb-": _slack("b"),
    "Slack xoxp-": _slack("p"),
    "Stripe sk_live_": _pattern(_with_body("sk_live_51", 97)),
    "Stripe rk_live_": _pattern(_with_body("rk_live_51", 97)),
    "Google AIza": _pattern(_with_body("AIza", 35, B64URL)),
}


@dataclass
class Corpus:
    """Every secret planted so far, with where it went."""

    planted: list[tuple[str, str, Planted]] = field(default_factory=list)

    def plant(self, kind: str, place: str) -> Planted:
        secret = KINDS[kind]()
        self.planted.append((kind, place, secret))
        return secret

    def survivors(self, haystack: bytes) -> list[str]:
        found = []
        for kind, place, secret in self.planted:
            for needle in secret.needles:
                parts = {needle, needle[:12], needle[-12:]} if len(needle) >= 24 else {needle}
                if any(part.encode() in haystack for part in parts):
                    found.append(f"{kind} in {place}: {needle[:16]}...")
                    break
        return found


@llmtrace.trace(kind="TOOL")
def lookup(query: str, **options: Any) -> dict[str, Any]:
    return {"query": query, "found": 0}


def _one_trace(corpus: Corpus, kind: str) -> None:
    """One trace holding this kind of secret in every place a program can put a string."""

    def p(place: str) -> Planted:
        return corpus.plant(kind, place)

    def keyed(place: str) -> dict[str, str]:
        planted = p(place)
        return {planted.key: planted.value} if planted.key and planted.value else {}

    session_id, user = f"sess-{p('session id').text}", f"user-{p('user id').text}"
    short = len(session_id) <= 250
    with llmtrace.session(session_id if short else "long-session", user=user):
        attributes = {
            f"a {p('attribute name (attributes=)').text}": "x",
            "note": p("attribute value (attributes=)").text,
            **keyed("keyed attribute (attributes=)"),
        }
        with llmtrace.span(f"root {p('span name').text}", attributes=attributes) as root:
            if not short:  # over session()'s 250 characters: as the attribute itself
                root.set_attribute("session.id", session_id)
            root.set_attribute("free", p("attribute value (set_attribute)").text)
            root.set_attribute(f"k {p('attribute name (set_attribute)').text}", 1)
            for key, value in keyed("keyed attribute (set_attribute)").items():
                root.set_attribute(key, value)
            headers = keyed("header tuples (set_attribute)")
            root.set_attribute("headers", list(headers.items()))
            root.set_inputs(
                {
                    "nested": {"deep": [p("inputs list").text, {"x": p("inputs dict").text}]},
                    "json": json.dumps({"payload": p("inputs JSON text").text}),
                    p("inputs dict key").text: 1,
                    "headers": list(keyed("inputs header tuples").items()),
                    "config": keyed("inputs keyed dict"),
                }
            )
            root.add_event(
                f"ev {p('event name').text}",
                {
                    "msg": p("event attribute").text,
                    "nested": {"k": p("event nested dict").text, p("event dict key").text: 1},
                    "list": [p("event list").text, "plain"],
                    "headers": list(keyed("event header tuples").items()),
                    **keyed("keyed event attribute"),
                },
            )
            lookup(p("function argument").text, **keyed("keyed function argument"))
            with pytest.raises(RuntimeError), llmtrace.span("child"):
                raise RuntimeError(f"failed: {p('exception message').text}")
            with llmtrace.span("errored") as errored:
                errored.set_error(f"bad: {p('status').text}")
            root.set_outputs({"answer": p("outputs").text, "items": [p("outputs list").text]})


@dataclass
class Stored:
    corpus: Corpus
    files: bytes  # the SQLite database and its WAL/journal files, as bytes
    read_back: bytes  # every trace as MLflow's client returns it, as JSON


_stored: list[Stored] = []  # one run serves both tests when they share a worker


def _run_corpus(folder: Path) -> Stored:
    if _stored:
        return _stored[0]
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    llmtrace.configure(tracking_uri=uri, experiment="corpus", schedule_delay_ms=20)
    corpus = Corpus()
    for kind in KINDS:
        _one_trace(corpus, kind)
    assert llmtrace.flush(120)
    stats = llmtrace.stats()
    assert stats.failed == 0 and stats.dropped == 0, stats
    places = {place for _, place, _ in corpus.planted}
    assert len(places) == 29 and len(corpus.planted) == 29 * len(KINDS)  # each kind, each place

    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("corpus")
    assert experiment is not None
    traces = client.search_traces(locations=[experiment.experiment_id], max_results=500)
    assert len(traces) == len(KINDS)
    read_back = "\n".join(trace.to_json() for trace in traces).encode()
    assert b"[REDACTED" in read_back and b"application/json" in read_back
    llmtrace.shutdown()  # the export process closes the database: its WAL is final
    files = b"".join(path.read_bytes() for path in sorted(folder.glob("mlflow.db*")))
    _stored.append(Stored(corpus, files, read_back))
    return _stored[0]


def test_no_planted_secret_survives_in_the_store_or_the_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG, logger="llmtrace")
    _stored.clear()  # this test always runs the pipeline itself: its logs are checked too
    stored = _run_corpus(tmp_path)
    captured = capfd.readouterr()
    logs = (caplog.text + captured.out + captured.err).encode()
    corpus = stored.corpus
    for where, haystack in (
        ("the SQLite files", stored.files),
        ("MLflow's read-back", stored.read_back),
        ("the log output", logs),
    ):
        survivors = corpus.survivors(haystack)
        assert not survivors, f"{len(survivors)} secrets survived in {where}: {survivors}"


#: detect-secrets plugins that report things that are not secrets, or only with context.
_NOT_TOKENS = {
    "KeywordDetector",
    "Base64HighEntropyString",
    "HexHighEntropyString",
    "IPPublicDetector",
}


def test_a_maintained_scanner_finds_nothing_either(tmp_path: Path) -> None:
    """detect-secrets' own plugin patterns (Yelp's scanner), run over what was stored."""
    util = pytest.importorskip("detect_secrets.core.plugins.util")
    patterns = [
        (cls.__name__, regex)
        for cls in util.get_mapping_from_secret_type_to_class().values()
        if cls.__name__ not in _NOT_TOKENS
        for regex in getattr(cls, "denylist", ())
    ]
    stored = _run_corpus(tmp_path)
    planted = "\n".join(secret.text for _, _, secret in stored.corpus.planted)
    found_planted = {name for name, regex in patterns if regex.search(planted)}
    assert len(found_planted) >= 7, found_planted  # the scanner does see the planted secrets
    for where, haystack in (("files", stored.files), ("read-back", stored.read_back)):
        text = haystack.decode("utf-8", "replace")
        hits = [(name, m.group()[:24]) for name, regex in patterns for m in regex.finditer(text)]
        assert not hits, f"detect-secrets finds in the {where}: {hits[:10]}"


def test_masked_session_ids_stay_distinct(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    llmtrace.configure(tracking_uri=uri, experiment="sessions", schedule_delay_ms=20)
    keys = ["sk-proj-" + _chars(48, B64URL) for _ in range(2)]
    for i, key in enumerate(keys):
        with llmtrace.session(f"sess-{key}", user=f"user-{key}"):
            for j in range(2):  # two traces per session: still grouped together
                with llmtrace.span(f"turn-{i}-{j}"):
                    pass
    assert llmtrace.flush(60)
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("sessions")
    assert experiment is not None
    traces = client.search_traces(locations=[experiment.experiment_id])
    sessions: dict[str, set[str]] = {}
    for trace in traces:
        session = trace.info.trace_metadata["mlflow.trace.session"]
        assert session.startswith("sess-[REDACTED:") and not any(k in session for k in keys)
        sessions.setdefault(session, set()).add(trace.data.spans[0].name.split("-")[1])
    assert sorted(sorted(v) for v in sessions.values()) == [["0"], ["1"]]  # as the program had
