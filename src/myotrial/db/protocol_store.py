"""The protocol a trial database runs under, stored in the database itself.

``myotrial db init --protocol P`` (or the first :class:`~myotrial.db.TrialService` opened on a
new database) records the protocol's name, its full file text and the text's sha256 in
``trial_protocol`` (one row, fixed by trigger, audited). From then on every service, server and
command opening the database must run under the same protocol: another protocol (any other
file text) is refused with :class:`ProtocolMismatchError`, and a service opened without naming one
runs under the recorded text. The stored text holds no allocation information.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from myotrial.db import audit as _audit
from myotrial.db import schema as s
from myotrial.db.engine import current_revision, head_revision, lock_for_write
from myotrial.protocol import Protocol, load_protocol
from myotrial.settings import DEFAULT_PROTOCOL

__all__ = [
    "SYSTEM_USER",
    "DatabaseNotReadyError",
    "ProtocolMismatchError",
    "StoredProtocol",
    "open_protocol",
    "protocol_sha256",
    "protocol_text",
    "read_stored_protocol",
]

#: The audit trail's user and role for recording the protocol (no person acts).
SYSTEM_USER = "system"


class ProtocolMismatchError(ValueError):
    """The database was set up under another protocol. Nothing was changed."""


class DatabaseNotReadyError(ValueError):
    """The database has no schema, or an older one: run ``myotrial db init``. Nothing was
    changed. (A ValueError: callers report it as bad input, exit 2.)"""


@dataclass(frozen=True)
class StoredProtocol:
    name: str
    sha256: str
    text: str
    recorded_at: dt.datetime


def protocol_text(protocol: Protocol) -> str:
    """The full text of the protocol's file."""
    if protocol.source is None:
        raise ValueError(f"protocol {protocol.name} has no source file: load it with "
                         "load_protocol(name or path) so its text can be recorded")
    return Path(protocol.source).read_text(encoding="utf-8")


def protocol_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_stored_protocol(conn: sa.Connection) -> StoredProtocol | None:
    row = conn.execute(sa.select(s.trial_protocol)).first()
    if row is None:
        return None
    return StoredProtocol(row.name, row.sha256, row.text, row.recorded_at)


def _check_ready(engine: sa.Engine) -> None:
    url = engine.url.render_as_string(hide_password=True)
    try:
        revision = current_revision(engine)
    except sa.exc.SQLAlchemyError as exc:
        raise DatabaseNotReadyError(f"cannot open database {url!r}: {exc.__class__.__name__}: "
                               f"{str(exc).splitlines()[0]}") from None
    head = head_revision()
    if revision != head:
        state = "has no trial schema" if revision is None else f"is at revision {revision}"
        raise DatabaseNotReadyError(f"database {url!r} {state}; this myotrial needs revision "
                               f"{head}: run 'myotrial db init' first")


def _resolve(protocol: Protocol | str | Path | None) -> Protocol | None:
    if protocol is None or isinstance(protocol, Protocol):
        return protocol
    return load_protocol(protocol)


def _load_stored(stored: StoredProtocol) -> Protocol:
    """The recorded protocol: the bundled file of that name when its text is the recorded one,
    else the recorded text written once to a content-addressed file (the original file may be
    gone; ``Protocol.source`` must name a readable file)."""
    from myotrial.protocol import available_protocols

    if stored.name in available_protocols():
        bundled = load_protocol(stored.name)
        if protocol_sha256(protocol_text(bundled)) == stored.sha256:
            return bundled
    folder = Path(tempfile.gettempdir()) / "myotrial-protocols"
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / f"{stored.name}-{stored.sha256[:16]}.toml"
    if not path.exists() or protocol_sha256(path.read_text(encoding="utf-8")) != stored.sha256:
        path.write_text(stored.text, encoding="utf-8")
    return load_protocol(path)


def open_protocol(engine: sa.Engine, protocol: Protocol | str | Path | None = None, *,
                  now: dt.datetime | None = None) -> Protocol:
    """The protocol to run ``engine``'s database under; records it when none is recorded.

    ``protocol`` None: the recorded protocol, else (new database) :data:`DEFAULT_PROTOCOL`.
    A protocol given must be the recorded one (same file text), else :class:`ProtocolMismatchError`.

    Raises
    ------
    DatabaseNotReadyError
        No schema or an older one.
    ProtocolMismatchError
        The database runs under another protocol.
    myotrial.errors.RulesError
        The protocol file is invalid.
    """
    _check_ready(engine)
    wanted = _resolve(protocol)
    with engine.connect() as conn:
        conn.execution_options(myotrial_readonly=True)
        with conn.begin():
            stored = read_stored_protocol(conn)
    if stored is None:
        chosen = wanted or load_protocol(DEFAULT_PROTOCOL)
        stored = _record(engine, chosen, now or dt.datetime.now(dt.UTC))
    if wanted is None:
        return _load_stored(stored)
    text = protocol_text(wanted)
    digest = protocol_sha256(text)
    if digest != stored.sha256:
        where = "" if wanted.source is None else f" ({wanted.source})"
        raise ProtocolMismatchError(
            f"the database runs under protocol {stored.name!r} (sha256 {stored.sha256[:12]}, "
            f"recorded {stored.recorded_at:%Y-%m-%d %H:%M} UTC), not under protocol "
            f"{wanted.name!r}{where} (sha256 {digest[:12]}): open it with that protocol, "
            "or use another database")
    return wanted


def _record(engine: sa.Engine, protocol: Protocol, now: dt.datetime) -> StoredProtocol:
    text = protocol_text(protocol)
    when = now.astimezone(dt.UTC) if now.tzinfo else now.replace(tzinfo=dt.UTC)
    with engine.connect() as conn, conn.begin():
        lock_for_write(conn)
        existing = read_stored_protocol(conn)  # another process may have been first
        if existing is not None:
            return existing
        stamp = when.replace(tzinfo=None)
        digest = protocol_sha256(text)
        row: dict[str, Any] = {"protocol_id": 1, "name": protocol.name, "sha256": digest,
                               "text": text, "recorded_at": stamp}
        conn.execute(sa.insert(s.trial_protocol).values(**row))
        _audit.append_audit(
            conn, username=SYSTEM_USER, role=SYSTEM_USER, action="insert", when=when,
            table_name="trial_protocol", record_key=_audit.record_key("trial_protocol", row),
            new_value=_audit.record_values("trial_protocol", row))
    return StoredProtocol(protocol.name, digest, text, stamp)
