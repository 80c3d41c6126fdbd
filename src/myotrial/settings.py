"""One settings object for the live trial: the database, the web application and the protocol.

``myotrial db ...``, ``myotrial serve`` and :func:`myotrial.web.create_app` all take a
:class:`Settings`; nothing writes settings into the process environment. The environment is
*read* once, by :meth:`Settings.from_env`, for values the command line did not give:

========================  ==========================  =====================================
setting                   environment variable        default
========================  ==========================  =====================================
``database_url``          ``MYOTRIAL_DATABASE_URL``   ``sqlite:///trial.db`` (working dir)
``protocol``              ``MYOTRIAL_PROTOCOL``       the protocol recorded in the database,
                                                      else the bundled ``proderm``
``secret_key``            ``MYOTRIAL_SECRET_KEY``     random per process (logins end on restart)
``secure_cookies``        ``MYOTRIAL_SECURE_COOKIES`` off (cookies are ``Secure`` anyway
                                                      when a request comes over HTTPS)
``session_max_age``       (none)                      8 hours: a login ends after it
``session_idle_timeout``  (none)                      30 minutes without a request
``max_request_bytes``     (none)                      2 MiB: larger requests get 413
========================  ==========================  =====================================

Set ``MYOTRIAL_SECRET_KEY`` in production: it signs the anonymous session cookie and keys
the HMAC by which the audit trail records the randomisation list (without it a random key is
drawn per start, and ``verify-audit`` cannot check the HMAC of a list audited under an
earlier key). Set ``MYOTRIAL_SECURE_COOKIES=1`` when a reverse proxy terminates HTTPS (the
application then sees plain HTTP but the browser must send cookies over HTTPS only).

One default database URL for every command: a user created with ``myotrial db create-user``
logs in to ``myotrial serve`` started in the same directory.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

__all__ = [
    "DATABASE_URL_ENV",
    "DEFAULT_DATABASE_URL",
    "DEFAULT_PROTOCOL",
    "PROTOCOL_ENV",
    "SECRET_ENV",
    "SECURE_COOKIES_ENV",
    "Settings",
]

DEFAULT_DATABASE_URL = "sqlite:///trial.db"
#: Protocol used for a new database when none is named.
DEFAULT_PROTOCOL = "proderm"
DATABASE_URL_ENV = "MYOTRIAL_DATABASE_URL"
PROTOCOL_ENV = "MYOTRIAL_PROTOCOL"
SECRET_ENV = "MYOTRIAL_SECRET_KEY"
SECURE_COOKIES_ENV = "MYOTRIAL_SECURE_COOKIES"
_TRUE = ("1", "true", "yes")


def _random_key() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Settings:
    """Settings of the live trial (see the module docstring for defaults).

    database_url : ``sqlite:///FILE.db`` or ``postgresql+psycopg://USER@HOST/DB``.
    protocol : bundled protocol name or path of a protocol TOML file; None = the protocol
        recorded in the database (a new database records :data:`DEFAULT_PROTOCOL`).
    secret_key : signs the anonymous session cookies of the web application; keys the HMAC
        of the randomisation list in the audit trail.
    secure_cookies : mark session cookies ``Secure`` (serve behind HTTPS; a request that
        arrives over HTTPS gets ``Secure`` cookies in any case).
    session_max_age : seconds a login lasts at most (absolute timeout).
    session_idle_timeout : seconds without a request after which a login ends.
    max_request_bytes : largest request body accepted (413 beyond).
    """

    database_url: str = DEFAULT_DATABASE_URL
    protocol: str | None = None
    secret_key: str = field(default_factory=_random_key, repr=False)
    secure_cookies: bool = False
    session_max_age: int = 8 * 3600
    session_idle_timeout: int = 30 * 60
    max_request_bytes: int = 2 * 1024 * 1024

    @classmethod
    def from_env(
        cls,
        *,
        database_url: str | None = None,
        protocol: str | Path | None = None,
        secret_key: str | None = None,
        secure_cookies: bool | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Settings:
        """Arguments given win; else the environment; else the defaults."""
        env = os.environ if environ is None else environ
        cookies = secure_cookies
        if cookies is None:
            cookies = env.get(SECURE_COOKIES_ENV, "").strip().lower() in _TRUE
        named = protocol if protocol is not None else env.get(PROTOCOL_ENV) or None
        return cls(
            database_url=database_url or env.get(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL,
            protocol=None if named is None else str(named),
            secret_key=secret_key or env.get(SECRET_ENV) or _random_key(),
            secure_cookies=bool(cookies),
        )

    def with_protocol(self, protocol: str | Path | None) -> Settings:
        return replace(self, protocol=None if protocol is None else str(protocol))

    def to_json(self) -> str:
        """For worker processes of ``myotrial serve --workers N`` (see :meth:`from_json`)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Settings:
        data: dict[str, Any] = json.loads(text)
        return cls(**data)

    @property
    def safe_database_url(self) -> str:
        """The URL with any password hidden (for messages)."""
        import sqlalchemy as sa

        try:
            return sa.make_url(self.database_url).render_as_string(hide_password=True)
        except Exception:  # an unparseable URL is shown as given (it holds no parsed password)
            return self.database_url
