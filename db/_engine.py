"""Engine creation, the session context manager and driver-error translation.

Every failure a user can cause (a mistyped URL, a server that is down, a directory where the
database file should be, a locked SQLite file) becomes one `DatabaseError` whose message is one
line naming the URL (password masked) and what to do about it.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import sqlalchemy.exc as sa_exc
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool, StaticPool

from db._errors import DatabaseError

# Seconds a SQLite connection waits for a lock before failing. Only the driver writes, but
# readers (leaderboard, show) and Optuna's own connections share the file.
SQLITE_BUSY_TIMEOUT_S = 30.0
# Seconds to wait for a database server to accept a connection (PostgreSQL drivers).
CONNECT_TIMEOUT_S = 10

URL_EXAMPLES = "sqlite:///runs/nas.db or postgresql+psycopg://user:password@host/dbname"

# Drivers a URL scheme may name that are not installed by default, and how to get them.
_DRIVER_HINTS = {
    "psycopg": "pip install 'psycopg[binary]'",
    "psycopg2": "pip install psycopg2-binary (or use postgresql+psycopg:// with psycopg 3)",
    "pymysql": "pip install pymysql",
    "mysqldb": "pip install mysqlclient",
    "MySQLdb": "pip install mysqlclient",
}


def mask(url: URL | str) -> str:
    """The URL as text with any password replaced by ``***``."""
    if isinstance(url, str):
        try:
            parsed = sa.make_url(url)
        except sa_exc.ArgumentError:
            return url
        return parsed.render_as_string(hide_password=True)
    return url.render_as_string(hide_password=True)


def _one_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message (drivers add SQL and hint lines)."""
    orig = getattr(exc, "orig", None) or exc
    for line in str(orig).splitlines():
        line = line.strip()
        if line:
            return line
    return type(orig).__name__


def translate(exc: BaseException, url: str, *, read_only: bool = False) -> DatabaseError:
    """Turn a driver/SQLAlchemy error into a one-line `DatabaseError` with a fix.

    `read_only`: the connection was opened read-only (`db.connect(url, read_only=True)`), so a
    refused write is the caller's doing, not the file's permissions.
    """
    reason = _one_line(exc)
    low = reason.lower()
    if read_only and ("readonly" in low or "read-only" in low or "query_only" in low):
        fix = "this connection is read-only (db.connect(url, read_only=True)); connect without read_only to write"
    elif "file is not a database" in low:
        fix = "the file is not a SQLite database; point --db at a database written by `nas search`"
    elif "malformed" in low:
        fix = "the file is damaged (cut short or overwritten); restore it from a backup or point --db at another file"
    elif "database is locked" in low or "database table is locked" in low:
        fix = (
            f"another process held a write lock for over {SQLITE_BUSY_TIMEOUT_S:.0f} s; "
            "only the search driver should write, so stop other writers and retry"
        )
    elif "unable to open database file" in low:
        fix = "check that the directory exists, is writable and that the path is a file"
    elif "readonly database" in low or "read-only" in low:
        fix = "make the database file and its directory writable"
    elif "no such table" in low or "undefinedtable" in low or "does not exist" in low:
        fix = "the schema is missing or old; connect with db.connect(url) to migrate it"
    elif "password authentication failed" in low or "authentication" in low:
        fix = "check the user name and password in the URL"
    elif isinstance(exc, sa_exc.OperationalError) or "connection" in low or "connect" in low:
        fix = "check that the database server is running and reachable and that the URL is right"
    elif isinstance(exc, sa_exc.IntegrityError):
        fix = "a row broke a uniqueness or foreign-key rule; this is a bug in the caller"
    else:
        fix = "check the URL and the database server"
    return DatabaseError(f"database error on {url}: {reason} ({fix})", url=url)


def parse_url(url: str) -> URL:
    """Parse and sanity-check a URL; raise `DatabaseError` with an example on failure."""
    if not isinstance(url, str) or not url.strip():
        raise DatabaseError(f"empty database URL {url!r}: give one like {URL_EXAMPLES}")
    try:
        parsed = sa.make_url(url)
    except sa_exc.ArgumentError:
        hint = f"did you mean sqlite:///{url}? " if "://" not in url else ""
        raise DatabaseError(f"cannot parse database URL {url!r}: {hint}give one like {URL_EXAMPLES}", url=url) from None
    return parsed


def _sqlite_path(parsed: URL, *, create: bool) -> Path | None:
    """Check (and make the parent directory of) a SQLite file; None for an in-memory db."""
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    path = Path(os.path.expanduser(database))
    shown = mask(parsed)
    if path.is_dir():
        raise DatabaseError(
            f"database error on {shown}: {path} is a directory (give a file path, e.g. sqlite:///{path / 'nas.db'})",
            url=shown,
        )
    if path.exists():
        _check_not_truncated(path, shown)
    else:
        if not create:
            raise DatabaseError(
                f"database error on {shown}: no database file at {path} (run a search first or pass the right URL)",
                url=shown,
                needs_writer=True,
            )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DatabaseError(
                f"database error on {shown}: cannot create directory {path.parent}: "
                f"{e.strerror or e} (choose a writable location)",
                url=shown,
            ) from None
    return path


def _check_not_truncated(path: Path, shown: str) -> None:
    """Refuse a SQLite file shorter than its own header says (cut short by a full disk or an
    interrupted copy) before SQLite opens it: a half-read database gives half the answers, and
    a writer would build on it.

    Only checked while nobody has the file open (no -wal or -journal beside it): a checkpoint
    in progress writes the header before the pages after it. Files whose header does not
    vouch for its size (written by SQLite before 3.7.0) are left to SQLite.
    """
    if any(path.with_name(path.name + s).exists() for s in ("-wal", "-journal")):
        return
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            header = f.read(100)
    except OSError:
        return  # SQLite says what is wrong when it opens it
    if size == 0 or not header.startswith(b"SQLite format 3\x00"):
        return  # an empty file is a new database; anything else SQLite refuses itself
    why = None
    if len(header) < 100:
        why = f"{size:,} bytes, shorter than a SQLite header"
    else:
        page_size = int.from_bytes(header[16:18], "big")
        page_size = 65536 if page_size == 1 else page_size
        pages = int.from_bytes(header[28:32], "big")
        if pages and header[24:28] == header[92:96] and size < pages * page_size:
            why = f"{size:,} bytes where its header says {pages * page_size:,} ({pages} pages of {page_size})"
    if why:
        raise DatabaseError(
            f"database error on {shown}: the file is truncated: {why}; it was cut short (a full disk or an "
            "interrupted copy?), so restore it from a backup or point --db at another file",
            url=shown,
        )


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL lets readers (leaderboard, Optuna's storage) run while the driver writes.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _on_sqlite_read_only_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # Per connection, never stored in the file: a stray write fails instead of landing.
        cursor.execute("PRAGMA query_only=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
    finally:
        cursor.close()


def _is_wal_file(path: Path) -> bool:
    """Whether the SQLite file's header says WAL mode (read/write format versions 2)."""
    try:
        with open(path, "rb") as f:
            header = f.read(20)
    except OSError:
        return False
    return len(header) == 20 and header.startswith(b"SQLite format 3\x00") and header[18] == 2


def sqlite_read_only_uri(path: Path) -> str:
    """The URI that opens `path` read-only without writing a byte anywhere.

    ``mode=ro`` alone is not enough for a WAL-mode file: SQLite then creates the -wal and -shm
    files when they are missing, and records its read position in an existing -shm. So:
    with a -wal and a -shm (a writer is live, or died), ``readonly_shm=1`` reads both and
    writes neither; with no -wal (every commit is in the file), ``immutable=1`` reads the file
    alone; a rollback-journal file (or an empty one) needs just ``mode=ro``. Decided anew for
    every connection, since a writer may start or stop between two. (An immutable read does
    not lock: a writer that starts meanwhile writes to its new -wal and is not seen, which is
    harmless; only one that also checkpoints into the file during the read, after 1000 pages
    or on closing, could make that read fail.) An empty -wal holds no commit, so it is read
    like no -wal. A -wal with commits but without its -shm (deleted by hand) can only be read by
    making a new -shm: the one case that adds a file.
    """
    uri = path.absolute().as_uri() + "?mode=ro"
    wal, shm = (path.with_name(path.name + suffix) for suffix in ("-wal", "-shm"))
    if shm.exists() and wal.exists():
        return uri + "&readonly_shm=1"
    if _is_wal_file(path) and _size(wal) == 0:
        return uri + "&immutable=1"
    return uri


def _size(path: Path) -> int:
    """The file's size, 0 where there is none."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


#: How often a read-only open decides its mode again when the files beside the database changed
#: under it (a writer closing and removing its -wal and -shm, or one starting).
READ_ONLY_OPEN_TRIES = 3


def _open_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection to `path`, in the mode `sqlite_read_only_uri` picks, that has read.

    SQLite opens the file at the first read, so a writer that closes between the choice and that
    read (deleting the -wal and -shm a ``readonly_shm`` open needs) fails it with "unable to open
    database file", leaving an empty -wal behind (SQLite's doing; nothing in it). So the
    connection reads the schema once here; if that fails and the files now call for another
    mode, the choice is made again. A failure that another choice would not change is raised
    as it is.
    """
    for _ in range(READ_ONLY_OPEN_TRIES - 1):
        uri = sqlite_read_only_uri(path)
        connection = sqlite3.connect(uri, uri=True, timeout=SQLITE_BUSY_TIMEOUT_S)
        try:
            connection.execute("SELECT count(*) FROM sqlite_master").fetchall()
            return connection
        except sqlite3.OperationalError:
            connection.close()
            if sqlite_read_only_uri(path) == uri:
                raise
    return sqlite3.connect(sqlite_read_only_uri(path), uri=True, timeout=SQLITE_BUSY_TIMEOUT_S)


# One engine (one connection pool) per database per process: the Store, Optuna's storage and
# every command share it. Keyed by the resolved URL, password included, and whether it is the
# read-only one (`db.connect(url, read_only=True)`): a reader and a writer never share an engine.
_ENGINES: dict[tuple[str, bool], Engine] = {}
_ENGINES_LOCK = threading.Lock()


def create_engine(url: str, *, create: bool = True, read_only: bool = False) -> Engine:
    """The process's engine for `url`, with the project's SQLite settings; `DatabaseError` on a
    bad URL. The same database gives the same engine on every call.

    Args:
        url: any SQLAlchemy URL.
        create: allow creating a new SQLite file (readers pass False to get an error instead
            of an empty database). Checked on every call, cached engine or not.
        read_only: an engine that never writes: SQLite files are opened read-only (no WAL
            switch, no directory or file created, -wal/-shm left as they are); on PostgreSQL
            every transaction is READ ONLY. Implies `create=False`.
    """
    parsed = parse_url(url)
    create = create and not read_only
    if parsed.get_backend_name() == "sqlite":
        path = _sqlite_path(parsed, create=create)
        if path is None:  # in-memory: every call is a database of its own
            return _new_engine(parsed, create=create, read_only=read_only)
        parsed = parsed.set(database=str(path))  # '~' expanded: one key per file
    key = (parsed.render_as_string(hide_password=False), read_only)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _ENGINES[key] = _new_engine(parsed, create=create, read_only=read_only)
    return engine


def forget_engine(engine: Engine) -> None:
    """Close `engine`'s connections and drop it from the cache (a later connect makes a new one)."""
    with _ENGINES_LOCK:
        for key, cached in list(_ENGINES.items()):
            if cached is engine:
                del _ENGINES[key]
    engine.dispose()


def _new_engine(parsed: URL, *, create: bool, read_only: bool = False) -> Engine:
    shown = mask(parsed)
    kwargs: dict[str, Any] = {}
    is_sqlite = parsed.get_backend_name() == "sqlite"
    if is_sqlite:
        path = _sqlite_path(parsed, create=create)
        if path is not None:
            parsed = parsed.set(database=str(path))  # '~' expanded, as it was checked
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_S}
        if path is None:
            # One shared connection, or every checkout would see a fresh empty database.
            kwargs["poolclass"] = StaticPool
            kwargs["connect_args"]["check_same_thread"] = False
        elif read_only:
            file = path

            def connect() -> sqlite3.Connection:
                return _open_read_only(file)

            kwargs = {"creator": connect, "poolclass": NullPool}  # each connection picks its mode
    else:
        kwargs["pool_pre_ping"] = True
        libpq = ("postgresql", "postgresql+psycopg", "postgresql+psycopg2")
        if parsed.drivername in libpq and "connect_timeout" not in parsed.query:
            # Fail within seconds, not minutes, when the host drops packets.
            kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
        if read_only and parsed.get_backend_name() == "postgresql":
            kwargs["execution_options"] = {"postgresql_readonly": True}  # SET TRANSACTION READ ONLY
    try:
        engine = sa.create_engine(parsed, **kwargs)
    except sa_exc.NoSuchModuleError:
        raise DatabaseError(
            f"unsupported database URL {shown}: no SQLAlchemy dialect "
            f"{parsed.drivername!r} (give one like {URL_EXAMPLES})",
            url=shown,
        ) from None
    except ImportError as e:
        module = (e.name or parsed.drivername.rpartition("+")[2]).split(".")[0]
        fix = _DRIVER_HINTS.get(module, f"install the Python driver {module!r}")
        raise DatabaseError(f"database driver for {shown} is not installed: {fix}", url=shown) from None
    except (sa_exc.ArgumentError, TypeError, ValueError) as e:
        raise DatabaseError(
            f"bad database URL {shown}: {_one_line(e)} (give one like {URL_EXAMPLES})",
            url=shown,
        ) from None
    if is_sqlite:
        sa.event.listen(engine, "connect", _on_sqlite_read_only_connect if read_only else _on_sqlite_connect)
    return engine


def optuna_engine_kwargs(url: str) -> dict[str, Any]:
    """`engine_kwargs` for Optuna's RDBStorage on the same database, so its connections wait
    for locks as long as ours do: ``RDBStorage(url, engine_kwargs=optuna_engine_kwargs(url))``."""
    if parse_url(url).get_backend_name() == "sqlite":
        return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
    return {"pool_pre_ping": True}


class SessionFactory:
    """Makes sessions for one engine and wraps each in the commit/rollback/translate scope.

    Inside `transaction()`, every session (this factory's and Optuna's, see `db._optuna`) joins
    the one open transaction: their commits are deferred to its end, and an error anywhere
    rolls all of them back together.
    """

    def __init__(self, engine: Engine, url: str, *, read_only: bool = False) -> None:
        self.engine = engine
        self.url = url  # masked, for messages
        self.read_only = read_only
        self._maker = sessionmaker(bind=engine, expire_on_commit=False)
        self._connection: contextvars.ContextVar[Connection | None] = contextvars.ContextVar(
            f"nas-db-connection-{id(self)}", default=None
        )

    def new_session(self, **kwargs: Any) -> Session:
        """A plain session: bound to the open transaction's connection inside `transaction()`
        (its commit then only flushes), else to the engine."""
        connection = self._connection.get()
        if connection is None:
            return Session(bind=self.engine, **kwargs)
        return Session(bind=connection, join_transaction_mode="rollback_only", **kwargs)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction around everything written inside the block (nested calls join it)."""
        if self._connection.get() is not None:
            yield self._connection.get()  # type: ignore[misc]
            return
        try:
            connection = self.engine.connect()
        except sa_exc.SQLAlchemyError as e:
            raise translate(e, self.url, read_only=self.read_only) from e
        token = self._connection.set(connection)
        try:
            with connection.begin():
                yield connection
        except sa_exc.SQLAlchemyError as e:
            raise translate(e, self.url, read_only=self.read_only) from e
        finally:
            self._connection.reset(token)
            connection.close()

    @contextlib.contextmanager
    def __call__(self) -> Iterator[Session]:
        """A session that commits on success, rolls back on error, and turns driver errors
        into `DatabaseError`. Errors of the caller's own (ValueError, ...) pass through."""
        session = self.new_session(expire_on_commit=False)
        try:
            yield session
            session.commit()
        except sa_exc.SQLAlchemyError as e:
            session.rollback()
            raise translate(e, self.url, read_only=self.read_only) from e
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
