"""A per-process cache of the read views (subject timeline and plot, subject list, dashboard).

An entry is keyed by what the view depends on and nothing less:

- the reader's **role and site** (``actor.role``, ``actor.site_id``): an entry built for one
  role is never served to another, so the unblinded statistician's views (arm, crossover,
  counts by arm) cannot reach a blinded role, and a blinded reader's hits and misses depend
  only on requests of readers with the same role and site (no timing channel from the
  unblinded side);
- the **data version** (:func:`myotrial.db.service.reads.data_version`, read in the same
  snapshot as the data the entry was built from): it changes with every committed change of
  the trial, so a view built before a change is never served after it, in any process;
- the view's own parameters (subject id; the dashboard's day).

What stays per request: the session and its user (``resolve_session``), the service's role
gate and actor check, the CSRF token and user name in rendered pages (templates are rendered
per request from the cached data, or kept per session). Entries are never handed out for
mutation: views are plain values, rendered as they are.

One statement per kept view: the session's lookup reads the data version in its own statement
(``SessionRecord.data_version``, same snapshot as the user row the actor is made from, so the
actor check holds for that version). :func:`served` then finds a kept view without leaving the
event loop and without another statement; only a view not kept is built, in the thread pool.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from myotrial.db.roles import Actor, authorise
from myotrial.web.security import request_session

__all__ = ["ReadCache", "View", "json_bytes", "kept_view", "read_cache", "scope", "served",
           "session_version"]


def json_bytes(payload: Any) -> bytes:
    """The body :class:`~fastapi.responses.JSONResponse` would send for ``payload`` (already
    plain JSON values)."""
    return bytes(JSONResponse(payload).body)


class View:
    """One cached view: its data (plain JSON values), and renderings made from it on first
    use (the JSON body; the subject's SVG plot)."""

    __slots__ = ("_lock", "_renders", "_session_renders", "data")

    #: Per-session renderings kept per view (the most recent sessions').
    SESSION_RENDERS = 4

    def __init__(self, data: Any) -> None:
        self.data = data
        self._renders: dict[Hashable, Any] = {}
        self._session_renders: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def render(self, name: Hashable, make: Callable[[Any], Any]) -> Any:
        """``make(data)``, computed once per view and kept."""
        with self._lock:
            if name not in self._renders:
                self._renders[name] = make(self.data)
            return self._renders[name]

    def rendered(self, name: Hashable) -> Any | None:
        """The rendering ``name`` when made (:meth:`render`), else None."""
        with self._lock:
            return self._renders.get(name)

    def render_for(self, session: Hashable, make: Callable[[Any], Any]) -> Any:
        """``make(data)`` for one session (``session`` names everything per request the
        rendering holds: user, role, site, CSRF token), kept for the last
        :attr:`SESSION_RENDERS` sessions."""
        made = self.rendered_for(session)
        if made is not None:
            return made
        made = make(self.data)
        with self._lock:
            _keep(self._session_renders, session, made, self.SESSION_RENDERS)
        return made


    def rendered_for(self, session: Hashable) -> Any | None:
        """The rendering kept for ``session`` (:meth:`render_for`; never None), else None."""
        with self._lock:
            made = self._session_renders.get(session)
            if made is not None:
                self._session_renders.move_to_end(session)
            return made


def _keep(kept: OrderedDict[Hashable, Any], key: Hashable, value: Any, most: int) -> None:
    """``kept[key] = value`` as the most recently used; the least recently used dropped
    beyond ``most`` (the caller holds the lock)."""
    kept[key] = value
    kept.move_to_end(key)
    while len(kept) > most:
        kept.popitem(last=False)


def scope(actor: Actor) -> tuple[str, str | None]:
    """The part of a key that names the reader: role and site."""
    return actor.role.value, actor.site_id


class ReadCache:
    """Least recently used views, at most ``max_entries``; thread-safe. ``hits``, ``misses``
    (views built) and ``waits`` (lookups that waited for a build of the same key under way in
    another thread: one build per key, not one per concurrent request) count lookups."""

    def __init__(self, max_entries: int = 1024) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, View] = OrderedDict()
        self._building: dict[Hashable, threading.Event] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.waits = 0

    def lookup(self, key: Hashable, build: Callable[[], tuple[Hashable, Any]]) -> View:
        """The view kept under ``key``, else ``build()`` -> (the key of the data it read,
        data), kept under that key. Concurrent lookups of one key wait for the first one's
        build (at most ``BUILD_WAIT_SECONDS``) and take its view when it was kept under
        ``key``; else they build their own. A build's exception reaches its caller only."""
        with self._lock:
            view = self._kept(key)
            if view is not None:
                return view
            pending = self._building.get(key)
            leader = pending is None
            if leader:
                pending = self._building[key] = threading.Event()
        assert pending is not None
        if not leader:
            pending.wait(self.BUILD_WAIT_SECONDS)
            with self._lock:
                view = self._entries.get(key)
                if view is not None:
                    self.waits += 1
                    return view
        try:
            with self._lock:
                self.misses += 1
            built_key, data = build()
            return self.put(built_key, data)
        finally:
            if leader:
                with self._lock:
                    self._building.pop(key, None)
                pending.set()

    def peek(self, key: Hashable) -> View | None:
        """The view kept under ``key`` (a hit), else None; never waits or builds (safe on the
        event loop)."""
        with self._lock:
            return self._kept(key)

    def _kept(self, key: Hashable) -> View | None:
        """The view kept under ``key``, counted as a hit (the caller holds the lock)."""
        view = self._entries.get(key)
        if view is not None:
            self._entries.move_to_end(key)
            self.hits += 1
        return view

    #: How long a lookup waits for another thread's build of the same key.
    BUILD_WAIT_SECONDS = 30.0

    def put(self, key: Hashable, data: Any) -> View:
        """Keep ``data`` under ``key``; returns its :class:`View`."""
        view = View(data)
        with self._lock:
            _keep(self._entries, key, view, self.max_entries)
        return view

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def read_cache(request: Request) -> ReadCache:
    """The application's cache (``app.state.read_cache``; one per process)."""
    cache: ReadCache | None = getattr(request.app.state, "read_cache", None)
    if cache is None:
        cache = request.app.state.read_cache = ReadCache()
    return cache


def session_version(request: Request, actor: Actor) -> str | None:
    """The data version the request's session was read with, when ``actor`` is that session's
    user (the same statement checked the user row: ``read_version(known=...)``) and the
    request is a read (GET/HEAD: it changes nothing, so the version read at its start is
    current for it); else None (a POST shows its own change: the version is read again)."""
    if request.method not in ("GET", "HEAD"):
        return None
    session = request_session(request)
    return session.data_version if session.actor == actor else None


async def served(request: Request, actor: Actor, operation: str,
                 key: Callable[[str], Hashable], view: Callable[[str | None], View]) -> View:
    """The view of the service read ``operation`` for ``actor``: kept under ``key(version)``
    for the session's data version (after ``operation``'s role gate) it is taken on the event
    loop; else ``view(version)`` (which reads the version itself when None, builds and keeps)
    runs in the thread pool."""
    kept = kept_view(request, actor, operation, key)
    if kept is not None:
        return kept
    return await run_in_threadpool(view, session_version(request, actor))


def kept_view(request: Request, actor: Actor, operation: str,
              key: Callable[[str], Hashable]) -> View | None:
    """The view kept under ``key(version)`` for the session's data version, after
    ``operation``'s role gate; None when the request has no such version (a POST, another
    user) or nothing is kept. Never waits or builds: safe on the event loop."""
    version = session_version(request, actor)
    if version is None:
        return None
    authorise(actor, operation)
    return read_cache(request).peek(key(version))
