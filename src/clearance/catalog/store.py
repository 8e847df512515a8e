"""The embedded catalogue: a directory with ``catalog.db`` (SQLite, WAL) and ``index/`` generations.

Writes are transactional. A registration fingerprints first, outside any transaction, then writes a
new index generation (temporary name, fsync, rename) and finally records the works, their signals
and the generation in one transaction. A process killed at any point leaves either the old state or
the new one; an unrecorded generation directory is garbage, removed on a later open.
"""

from __future__ import annotations

import json
import shutil
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, delete, event, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, OperationalError

from clearance.catalog import schema as s
from clearance.config import Settings, default_catalog_dir
from clearance.errors import CatalogError, ClearanceError, ConflictError, InputError, NotFoundError
from clearance.fingerprint.base import Fingerprint, active_signal_types, signal_types
from clearance.index.postings import Generation, Posting, merge_generations, write_generation
from clearance.media.decode import display_name
from clearance.media.sandbox import decode_input
from clearance.policy.prompts import Term

POLICIES = ("block", "review", "allow", "licensed")  # licensed: allowed to its licensees alone
MAX_TERM_CHARS = 256  # a name, alias or licensee
MAX_TERMS = 1000  # aliases (or licensees) of one identity
MAX_ACTIVE_GENERATIONS = 8
_ORPHAN_AGE_S = 3600.0  # an unrecorded directory may belong to a writer that has not committed yet
_RETIRED_AGE_S = 300.0
"""A retired generation is removed this long after its merge. Readers map every file of a generation
as they list it (and list again if it vanished in between), and a mapping outlives the file, so the
wait only covers a stalled reader; an hour kept about 30 GB of merged-away postings on disk during a
20-minute 10,000 h bulk load."""


@dataclass(frozen=True)
class Work:
    """A registered work as stored in the catalogue."""

    id: str
    owner: str
    title: str
    kind: str
    duration_s: float
    policy: str
    status: str
    sha256: str
    created_at: float


@dataclass(frozen=True)
class Identity:
    """A person whose likeness is protected: names to screen prompts for and who may use it.

    ``licensees`` may generate the likeness whatever ``policy`` says; a ``minor`` has none and is
    always blocked. Faces and voices attach to the same id (a later signal type)."""

    id: str
    owner: str
    name: str
    aliases: tuple[str, ...]
    licensees: tuple[str, ...]
    policy: str
    deceased: bool
    minor: bool
    status: str
    created_at: float


@dataclass(frozen=True)
class FingerprintedWork:
    """A work fingerprinted elsewhere (a batch job, another process): what
    :meth:`Catalog.register_fingerprinted` stores. ``prints`` maps signal type to fingerprint."""

    title: str
    duration_s: float
    sha256: str
    prints: dict[str, Fingerprint]
    source_name: str = ""
    kind: str = "audio"  # audio, video or image


@dataclass(frozen=True)
class Registration:
    """What happened to one input of :meth:`Catalog.register`."""

    path: str
    status: str  # registered | duplicate | failed
    work_id: str | None = None
    error: str | None = None
    code: str | None = None


class Catalog:
    """A catalogue directory. Open with :meth:`Catalog.open`; safe to share between processes.

    >>> catalog = Catalog.open("/tmp/cat")                                   # doctest: +SKIP
    >>> [r.work_id for r in catalog.register(["song.mp3"], owner="Label A")]  # doctest: +SKIP
    ['w3f9c2a1b0d4e']
    """

    def __init__(self, directory: Path, settings: Settings) -> None:
        self.directory = directory
        self.settings = settings
        self.index_dir = directory / "index"
        self._engine = _sqlite_engine(directory / "catalog.db")
        self._mapped: dict[str, Generation] = {}

    @classmethod
    def open(cls, path: Path | str | None = None, *, settings: Settings | None = None) -> Catalog:
        """Open (creating if needed) the catalogue at ``path`` or the default location."""
        settings = settings or Settings.load()
        directory = default_catalog_dir(Path(path) if path is not None else settings.catalog)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            (directory / "index").mkdir(exist_ok=True)
        except OSError as exc:
            raise CatalogError(
                f"cannot create catalogue at {display_name(directory)}: {exc.strerror}"
            ) from exc
        catalog = cls(directory, settings)
        catalog._init_schema()
        catalog._collect_garbage()
        return catalog

    def close(self) -> None:
        self._mapped.clear()
        self._engine.dispose()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- registration -------------------------------------------------------------------------------

    def register(
        self,
        paths: Sequence[Path | str] | Path | str,
        *,
        owner: str,
        title: str | None = None,
        policy: str = "block",
        strict: bool = True,
        progress: Callable[[str], None] | None = None,
        keyframes: bool = False,
    ) -> list[Registration]:
        """Fingerprint and store works, one per file.

        With ``strict`` (the default) the first bad input raises and nothing is stored; otherwise
        bad inputs come back as ``failed`` results and the good ones are stored. With ``keyframes``
        a video whose keyframes lie at most ``KEYFRAME_GAP_S`` apart is fingerprinted from them
        alone, about ten times faster; any other is decoded in full.
        """
        if isinstance(paths, str | Path):
            paths = [paths]
        owner = _checked_owner(owner, policy)
        if title is not None and len(paths) > 1:
            raise InputError("--title applies to one file; register several files without it")
        results: list[Registration] = []
        pending: list[tuple[str, FingerprintedWork]] = []
        seen: dict[str, str] = {}
        signals = active_signal_types(self.settings.signals_off)
        for path in paths:
            name = display_name(path)
            if progress:
                progress(name)
            try:
                media = decode_input(path, limits=self.settings.limits, keyframes=keyframes)
                prints = {n: st.reference(media) for n, st in signals.items() if st.applies_to(media)}
                prints = {n: fp for n, fp in prints.items() if len(fp.keys) or len(fp.points)}
                if not prints:
                    raise InputError(
                        f"{name}: nothing to fingerprint (no sound and no picture with detail in it)"
                    )
            except ClearanceError as exc:
                if strict:
                    raise
                results.append(Registration(name, "failed", error=str(exc), code=exc.code))
                continue
            if media.sha256 in seen:
                results.append(Registration(name, "duplicate", work_id=seen[media.sha256]))
                continue
            existing = self._work_by_sha(media.sha256)
            if existing is not None:
                if existing.owner != owner:
                    exc2 = ConflictError(f"{name}: already registered by another owner as work {existing.id}")
                    if strict:
                        raise exc2
                    results.append(Registration(name, "failed", error=str(exc2), code=exc2.code))
                    continue
                results.append(Registration(name, "duplicate", work_id=existing.id))
                continue
            work_id = "w" + uuid.uuid4().hex[:15]
            seen[media.sha256] = work_id
            work = FingerprintedWork(
                title or media.path.stem,
                media.duration_s,
                media.sha256,
                prints,
                display_name(media.path.name),
                "image" if media.is_image else "video" if media.has_video else "audio",
            )
            pending.append((work_id, work))
            results.append(Registration(name, "registered", work_id=work_id))
        if pending:
            self._store(pending, owner=owner, policy=policy)
        return results

    def register_fingerprinted(
        self, works: Sequence[FingerprintedWork], *, owner: str, policy: str = "block"
    ) -> list[str]:
        """Store works fingerprinted elsewhere, in one generation and one transaction; their ids.

        A work whose ``sha256`` is already registered is not stored again: its existing id is returned.
        """
        owner = _checked_owner(owner, policy)
        known = set(signal_types())
        ids: list[str] = []
        pending: list[tuple[str, FingerprintedWork]] = []
        seen: dict[str, str] = {}
        for work in works:
            unknown = set(work.prints) - known
            if unknown or not work.prints:
                raise InputError(f"{work.title}: no or unknown signal types {sorted(unknown)}")
            existing = seen.get(work.sha256) or getattr(self._work_by_sha(work.sha256), "id", None)
            if existing is not None:
                ids.append(existing)
                continue
            work_id = "w" + uuid.uuid4().hex[:15]
            seen[work.sha256] = work_id
            pending.append((work_id, work))
            ids.append(work_id)
        if pending:
            self._store(pending, owner=owner, policy=policy)
        return ids

    def _store(self, pending: list[tuple[str, FingerprintedWork]], *, owner: str, policy: str) -> None:
        by_signal: dict[str, list[Posting]] = {}
        for work_id, work in pending:
            for signal, fp in work.prints.items():
                by_signal.setdefault(signal, []).append((work_id, fp.keys, fp.frames, fp.n_frames, fp.points))
        written: dict[str, Path] = {}
        try:
            for signal, items in by_signal.items():
                written[signal] = write_generation(
                    self.index_dir / signal, items, signal_types()[signal].key_space
                )
            now = time.time()
            with self._begin() as conn:
                owner_id = self._owner_id(conn, owner, now)
                for work_id, work in pending:
                    conn.execute(
                        insert(s.works).values(
                            id=work_id,
                            owner_id=owner_id,
                            title=work.title,
                            kind=work.kind,
                            duration_s=work.duration_s,
                            policy=policy,
                            status="active",
                            sha256=work.sha256,
                            source_name=work.source_name or work.title,
                            created_at=now,
                        )
                    )
                    for signal, fp in work.prints.items():
                        conn.execute(
                            insert(s.work_signals).values(
                                work_id=work_id, signal=signal, n_hashes=len(fp.keys)
                            )
                        )
                for signal, path in written.items():
                    conn.execute(
                        insert(s.generations).values(
                            id=path.name,
                            signal=signal,
                            state="active",
                            n_postings=sum(len(i[1]) for i in by_signal[signal]),
                            n_works=len(by_signal[signal]),
                            created_at=now,
                        )
                    )
        except IntegrityError as exc:
            for path in written.values():
                shutil.rmtree(path, ignore_errors=True)
            raise ConflictError("a concurrent registration stored the same content; try again") from exc
        except BaseException:
            for path in written.values():
                shutil.rmtree(path, ignore_errors=True)
            raise
        for signal in written:
            self.compact(
                signal,
                min_generations=MAX_ACTIVE_GENERATIONS + 1,
                smallest=MAX_ACTIVE_GENERATIONS // 2 + 1,
            )

    def compact(self, signal: str, *, min_generations: int = 2, smallest: int | None = None) -> bool:
        """Merge active generations of ``signal``; ``False`` when there was nothing to do.

        All of them by default; with ``smallest``, only that many of the smallest, so that a large
        catalogue is not rewritten for every small registration (size-tiered merging). Safe against
        concurrent writers: the merge is recorded only if every merged generation is still active
        when the transaction runs.
        """
        rows = self._active_generation_ids(signal)
        if len(rows) < min_generations:
            return False
        gens = [self._generation(signal, gid) for gid in rows]
        if smallest is not None:
            order = sorted(range(len(gens)), key=lambda i: len(gens[i]))[: max(2, smallest)]
            rows, gens = [rows[i] for i in order], [gens[i] for i in order]
        keep = self._active_work_ids()
        try:
            new_path = merge_generations(self.index_dir / signal, gens, keep)
        except ValueError:
            return False  # the merge would exceed a generation's 32-bit frame space: keep them apart
        new_gen = Generation(new_path)
        prepare = getattr(signal_types().get(signal), "prepare", None)
        try:
            if prepare is not None:
                # Search structures that take long to build (an inverted file over millions of
                # frame hashes) are built here, before any reader can see the generation.
                prepare(new_gen)
            now = time.time()
            with self._begin() as conn:
                res = conn.execute(
                    update(s.generations)
                    .where(s.generations.c.id.in_(rows), s.generations.c.state == "active")
                    .values(state="retired", retired_at=now)
                )
                if res.rowcount != len(rows):
                    raise _Abort()
                conn.execute(
                    insert(s.generations).values(
                        id=new_path.name,
                        signal=signal,
                        state="active",
                        n_postings=len(new_gen),
                        n_works=len(new_gen.work_ids),
                        created_at=now,
                    )
                )
        except _Abort:
            shutil.rmtree(new_path, ignore_errors=True)
            return False
        except BaseException:
            shutil.rmtree(new_path, ignore_errors=True)
            raise
        # Unmap what was merged: a long-lived writer would otherwise keep every retired generation
        # mapped, and its disk space allocated after garbage collection removed the files.
        for gid in rows:
            self._mapped.pop(gid, None)
        self._collect_garbage()  # a long-lived writer would otherwise only collect at the next open
        return True

    # -- reading ------------------------------------------------------------------------------------

    def works(self, owner: str | None = None) -> list[Work]:
        """Registered works, oldest first, optionally of one owner."""
        query = _work_select()
        if owner is not None:
            query = query.where(s.owners.c.name == owner)
        with self._engine.connect() as conn:
            return [_work(r) for r in conn.execute(query.order_by(s.works.c.created_at, s.works.c.id))]

    def work(self, work_id: str) -> Work:
        """One work by id."""
        with self._engine.connect() as conn:
            row = conn.execute(_work_select().where(s.works.c.id == work_id)).first()
        if row is None:
            raise NotFoundError(f"no work with id {work_id!r}")
        return _work(row)

    def generations(self, signal: str) -> list[Generation]:
        """The active, memory-mapped generations of ``signal`` (reloaded if a writer replaced them)."""
        for _attempt in range(3):
            ids = self._active_generation_ids(signal)
            try:
                gens = [self._generation(signal, gid) for gid in ids]
            except FileNotFoundError:
                continue  # retired and removed between listing and mapping: list again
            for gid, gen in list(self._mapped.items()):
                if gen.path.parent.name == signal and gid not in ids:
                    del self._mapped[gid]  # retired: unmapped once no caller holds it
            return gens
        raise CatalogError(f"index for {signal} keeps changing under this reader; try again")

    def signals(self) -> list[str]:
        """The signal types that have an active index generation, by name."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(s.generations.c.signal).where(s.generations.c.state == "active").distinct()
            ).all()
        return sorted(r[0] for r in rows)

    def index_size_bytes(self, signal: str) -> int:
        """Bytes on disk of the active generations of ``signal``."""
        return sum(g.size_bytes for g in self.generations(signal))

    def record_scan(self, report: dict[str, Any]) -> str:
        """Keep a scan report and its findings (the audit trail); returns the scan id."""
        scan_id = "s" + uuid.uuid4().hex[:15]
        with self._begin() as conn:
            conn.execute(
                insert(s.scans).values(
                    id=scan_id,
                    created_at=time.time(),
                    input_name=report["input"].get("path", "prompt"),
                    input_sha256=report["input"]["sha256"],
                    decision=report["decision"],
                    policy_version=report.get("policy_version", "builtin/1"),
                    report=json.dumps(report),
                )
            )
            for i, f in enumerate(report.get("findings", [])):
                conn.execute(
                    insert(s.findings).values(
                        scan_id=scan_id,
                        position=i,
                        kind=f["kind"],
                        work_id=f.get("work_id"),
                        query_start=f["query_start"],
                        query_end=f["query_end"],
                        ref_start=f.get("ref_start"),
                        ref_end=f.get("ref_end"),
                        score=f["score"],
                        policy=f["policy"],
                        evidence=json.dumps(f.get("evidence", {})),
                    )
                )
        return scan_id

    def scan_report(self, scan_id: str) -> dict[str, Any]:
        """A stored scan report (a clip's or a prompt's) by id."""
        with self._engine.connect() as conn:
            row = conn.execute(select(s.scans.c.report).where(s.scans.c.id == scan_id)).first()
        if row is None:
            raise NotFoundError(f"no scan with id {scan_id!r}")
        report: dict[str, Any] = json.loads(row[0])
        return report

    def check(self) -> list[str]:
        """Consistency problems, if any: works without postings, recorded generations missing on disk."""
        problems: list[str] = []
        with self._engine.connect() as conn:
            active = conn.execute(
                select(s.generations.c.id, s.generations.c.signal).where(s.generations.c.state == "active")
            ).all()
            signals = conn.execute(select(s.work_signals.c.work_id, s.work_signals.c.signal)).all()
        indexed: dict[str, set[str]] = {}
        for gid, signal in active:
            path = self.index_dir / signal / gid
            if not path.is_dir():
                problems.append(f"generation {gid} is recorded but missing on disk")
                continue
            indexed.setdefault(signal, set()).update(Generation(path).work_ids)
        for work_id, signal in signals:
            if work_id not in indexed.get(signal, set()):
                problems.append(f"work {work_id} has no {signal} postings in any active generation")
        return problems

    # -- internals ----------------------------------------------------------------------------------

    def _begin(self) -> Any:
        try:
            return self._engine.begin()
        except OperationalError as exc:
            raise CatalogError(f"catalogue database is unavailable: {exc.orig}") from exc

    def _init_schema(self) -> None:
        try:
            with self._begin() as conn:
                s.metadata.create_all(conn)
                version = conn.execute(
                    select(s.meta.c.value).where(s.meta.c.key == "schema_version")
                ).scalar()
                if version is None:
                    conn.execute(insert(s.meta).values(key="schema_version", value=str(s.SCHEMA_VERSION)))
                elif int(version) > s.SCHEMA_VERSION:
                    raise CatalogError(f"catalogue schema {version} is newer than this clearance understands")
        except OperationalError as exc:
            raise CatalogError(f"cannot open catalogue database: {exc.orig}") from exc

    def _collect_garbage(self) -> None:
        """Remove generation directories nobody can need: unrecorded for over an hour, or retired for
        over ``_RETIRED_AGE_S``.

        A young unrecorded directory may belong to a writer that is about to commit, and a freshly
        retired one may be in the middle of being mapped by a reader, so both are left alone a while.
        """
        now = time.time()
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(s.generations.c.id, s.generations.c.state, s.generations.c.retired_at)
            ).all()
        state = {r[0]: (r[1], r[2]) for r in rows}
        for signal_dir in [d for d in self.index_dir.iterdir() if d.is_dir()]:
            for entry in signal_dir.iterdir():
                recorded, retired_at = state.get(entry.name, (None, None))
                if recorded == "active":
                    continue
                retired = recorded == "retired" and retired_at is not None
                try:
                    since = retired_at if retired else entry.stat().st_mtime
                except FileNotFoundError:
                    continue
                if now - since > (_RETIRED_AGE_S if retired else _ORPHAN_AGE_S):
                    shutil.rmtree(entry, ignore_errors=True)

    def _active_generation_ids(self, signal: str) -> list[str]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(s.generations.c.id)
                .where(s.generations.c.signal == signal, s.generations.c.state == "active")
                .order_by(s.generations.c.created_at, s.generations.c.id)
            ).all()
        return [r[0] for r in rows]

    def _active_work_ids(self) -> set[str]:
        with self._engine.connect() as conn:
            return {r[0] for r in conn.execute(select(s.works.c.id).where(s.works.c.status == "active"))}

    def _generation(self, signal: str, gen_id: str) -> Generation:
        gen = self._mapped.get(gen_id)
        if gen is None:
            path = self.index_dir / signal / gen_id
            if not path.is_dir():
                raise FileNotFoundError(path)
            try:
                gen = Generation(path)
            except ValueError as exc:  # written by another version of clearance
                raise CatalogError(f"{exc}; re-register the works into a new catalogue") from exc
            self._mapped[gen_id] = gen
        return gen

    def _work_by_sha(self, sha: str) -> Work | None:
        with self._engine.connect() as conn:
            row = conn.execute(_work_select().where(s.works.c.sha256 == sha)).first()
        return _work(row) if row is not None else None

    @staticmethod
    def _owner_id(conn: Connection, name: str, now: float) -> int:
        found = conn.execute(select(s.owners.c.id).where(s.owners.c.name == name)).scalar()
        if found is not None:
            return int(found)
        new_id = conn.execute(
            insert(s.owners).values(name=name, created_at=now).returning(s.owners.c.id)
        ).scalar_one()
        return int(new_id)

    def work_meta(self, work_ids: Iterable[str]) -> dict[str, Work]:
        """Works by id, for the ids given (unknown ids are left out)."""
        ids = list(set(work_ids))
        if not ids:
            return {}
        with self._engine.connect() as conn:
            rows = conn.execute(_work_select().where(s.works.c.id.in_(ids))).all()
        return {r.id: _work(r) for r in rows}

    # -- identities ---------------------------------------------------------------------------------

    def add_identity(
        self,
        name: str,
        *,
        owner: str,
        aliases: Sequence[str] = (),
        licensees: Sequence[str] = (),
        policy: str = "block",
        deceased: bool = False,
        minor: bool = False,
        anchors: Sequence[str] = (),
    ) -> Identity:
        """Register a person (no media yet) with the names a prompt may call them by, and anchors that
        describe them unnamed (as :meth:`add_terms` takes them)."""
        owner = _checked_owner(owner, policy)
        name = _checked_term(name, "name")
        aliases = _checked_terms(aliases, "alias", exclude=name)
        anchors = _checked_terms(anchors, "anchor")
        licensees = _checked_terms(licensees, "licensee")
        if minor and (licensees or policy != "block"):
            raise InputError("a minor's likeness is never allowed: no --allow, and --policy block")
        identity_id = "p" + uuid.uuid4().hex[:15]
        now = time.time()
        with self._begin() as conn:
            conn.execute(
                insert(s.identities).values(
                    id=identity_id,
                    owner_id=self._owner_id(conn, owner, now),
                    name=name,
                    policy=policy,
                    deceased=deceased,
                    minor=minor,
                    status="active",
                    created_at=now,
                )
            )
            terms = [("name", name), *(("alias", a) for a in aliases), *(("anchor", a) for a in anchors)]
            conn.execute(insert(s.terms), _term_rows(identity_id, terms, first=0))
            if licensees:
                conn.execute(
                    insert(s.licensees), [{"asset_id": identity_id, "licensee": x} for x in licensees]
                )
        return self.identity(identity_id)

    def identities(self, owner: str | None = None) -> list[Identity]:
        """Registered identities, oldest first, optionally of one owner."""
        query = _identity_select()
        if owner is not None:
            query = query.where(s.owners.c.name == owner)
        with self._engine.connect() as conn:
            rows = conn.execute(query.order_by(s.identities.c.created_at, s.identities.c.id)).all()
            return self._identities(conn, rows)

    def identity(self, identity_id: str) -> Identity:
        """One identity by id."""
        found = self.identity_meta([identity_id]).get(identity_id)
        if found is None:
            raise NotFoundError(f"no identity with id {identity_id!r}")
        return found

    def identity_meta(self, identity_ids: Iterable[str]) -> dict[str, Identity]:
        """Identities by id, for the ids given (unknown ids are left out)."""
        ids = list(set(identity_ids))
        if not ids:
            return {}
        with self._engine.connect() as conn:
            rows = conn.execute(_identity_select().where(s.identities.c.id.in_(ids))).all()
            return {i.id: i for i in self._identities(conn, rows)}

    def remove_identity(self, identity_id: str) -> None:
        """Delete an identity with its names and licensees (one transaction)."""
        with self._begin() as conn:
            gone = conn.execute(delete(s.identities).where(s.identities.c.id == identity_id)).rowcount
            if not gone:
                raise NotFoundError(f"no identity with id {identity_id!r}")
            conn.execute(delete(s.terms).where(s.terms.c.asset_id == identity_id))
            conn.execute(delete(s.licensees).where(s.licensees.c.asset_id == identity_id))

    # -- prompt terms -------------------------------------------------------------------------------

    def add_terms(
        self,
        asset_id: str,
        *,
        names: Sequence[str] = (),
        aliases: Sequence[str] = (),
        anchors: Sequence[str] = (),
    ) -> None:
        """Add prompt terms to a work or an identity: names, aliases, and anchors (comma-separated
        descriptive phrases that identify it without naming it, each phrase's other wordings after a
        ``|``). Terms it has already are skipped."""
        new = [
            (kind, text)
            for kind, texts in (("name", names), ("alias", aliases), ("anchor", anchors))
            for text in _checked_terms(texts, kind)
        ]
        with self._begin() as conn:
            self._asset_kind(conn, asset_id)
            have = {
                (r.kind, r.text)
                for r in conn.execute(
                    select(s.terms.c.kind, s.terms.c.text).where(s.terms.c.asset_id == asset_id)
                )
            }
            if len(have) + len(new) > MAX_TERMS:
                raise InputError(f"{asset_id} would have more than {MAX_TERMS} terms")
            if rows := _term_rows(asset_id, [t for t in new if t not in have], first=len(have)):
                conn.execute(insert(s.terms), rows)

    def add_licensees(self, asset_id: str, licensees: Sequence[str]) -> tuple[str, ...]:
        """Allow ``licensees`` to use a work or an identity (consent given); returns all it has."""
        new = _checked_terms(licensees, "licensee")
        with self._begin() as conn:
            self._asset_kind(conn, asset_id)
            minor = select(s.identities.c.minor).where(s.identities.c.id == asset_id)
            if conn.execute(minor).scalar():
                raise InputError("a minor's likeness is never allowed: no licensee can be added")
            have = set(
                conn.execute(
                    select(s.licensees.c.licensee).where(s.licensees.c.asset_id == asset_id)
                ).scalars()
            )
            if len(have) + len(new) > MAX_TERMS:
                raise InputError(f"{asset_id} would have more than {MAX_TERMS} licensees")
            rows = [{"asset_id": asset_id, "licensee": x} for x in new if x not in have]
            if rows:
                conn.execute(insert(s.licensees), rows)
        return self.licensees_of([asset_id]).get(asset_id, ())

    def prompt_terms(self) -> list[Term]:
        """Every term of the active works and identities (what a prompt screener is built from)."""
        with self._engine.connect() as conn:
            kinds = {r.id: "identity" for r in conn.execute(
                select(s.identities.c.id).where(s.identities.c.status == "active"))}  # fmt: skip
            kinds.update({r.id: "work" for r in conn.execute(
                select(s.works.c.id).where(s.works.c.status == "active"))})  # fmt: skip
            rows = conn.execute(
                select(s.terms.c.asset_id, s.terms.c.kind, s.terms.c.text).order_by(
                    s.terms.c.asset_id, s.terms.c.position
                )
            ).all()
        return [Term(r.asset_id, kinds[r.asset_id], r.kind, r.text) for r in rows if r.asset_id in kinds]

    def terms_of(self, asset_id: str) -> list[Term]:
        """The terms of one work or identity, in the order they were added."""
        with self._engine.connect() as conn:
            kind = self._asset_kind(conn, asset_id)
            rows = conn.execute(
                select(s.terms.c.kind, s.terms.c.text)
                .where(s.terms.c.asset_id == asset_id)
                .order_by(s.terms.c.position)
            ).all()
        return [Term(asset_id, kind, r.kind, r.text) for r in rows]

    def licensees_of(self, asset_ids: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """The licensees of each of the given works and identities (those without are left out)."""
        ids = list(set(asset_ids))
        if not ids:
            return {}
        with self._engine.connect() as conn:
            return self._licensees(conn, ids)

    @staticmethod
    def _licensees(conn: Connection, ids: list[str]) -> dict[str, tuple[str, ...]]:
        out: dict[str, list[str]] = {}
        for r in conn.execute(
            select(s.licensees.c.asset_id, s.licensees.c.licensee)
            .where(s.licensees.c.asset_id.in_(ids))
            .order_by(s.licensees.c.licensee)
        ):
            out.setdefault(r.asset_id, []).append(r.licensee)
        return {k: tuple(v) for k, v in out.items()}

    @staticmethod
    def _asset_kind(conn: Connection, asset_id: str) -> str:
        """Whether ``asset_id`` is a work's or an identity's; ``NotFoundError`` if neither."""
        if conn.execute(select(s.works.c.id).where(s.works.c.id == asset_id)).first() is not None:
            return "work"
        if conn.execute(select(s.identities.c.id).where(s.identities.c.id == asset_id)).first() is not None:
            return "identity"
        raise NotFoundError(f"no work or identity with id {asset_id!r}")

    @classmethod
    def _identities(cls, conn: Connection, rows: Sequence[Any]) -> list[Identity]:
        ids = [r.id for r in rows]
        aliases: dict[str, list[str]] = {i: [] for i in ids}
        allowed: dict[str, tuple[str, ...]] = {}
        if ids:
            for t in conn.execute(
                select(s.terms.c.asset_id, s.terms.c.text)
                .where(s.terms.c.asset_id.in_(ids), s.terms.c.kind == "alias")
                .order_by(s.terms.c.position)
            ):
                aliases[t.asset_id].append(t.text)
            allowed = cls._licensees(conn, ids)
        return [
            Identity(
                id=r.id,
                owner=r.owner,
                name=r.name,
                aliases=tuple(aliases[r.id]),
                licensees=allowed.get(r.id, ()),
                policy=r.policy,
                deceased=bool(r.deceased),
                minor=bool(r.minor),
                status=r.status,
                created_at=r.created_at,
            )
            for r in rows
        ]

    def count_works(self) -> int:
        with self._engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(s.works)).scalar() or 0)


def _checked_owner(owner: str, policy: str) -> str:
    """The owner name, stripped; ``InputError`` for an empty owner or an unknown policy."""
    owner = owner.strip()
    if not owner:
        raise InputError("owner must not be empty")
    if policy not in POLICIES:
        raise InputError(f"policy must be one of {', '.join(POLICIES)}, not {policy!r}")
    return owner


_JOINERS = "\u200c\u200d"


def _checked_term(text: str, what: str) -> str:
    """``text`` stripped and in Unicode NFC; ``InputError`` if empty, too long or with control
    characters (the zero-width joiner and non-joiner excepted: Persian and Indic names need them)."""
    text = unicodedata.normalize("NFC", text.strip())
    if not text:
        raise InputError(f"{what} must not be empty")
    if len(text) > MAX_TERM_CHARS:
        raise InputError(f"{what} is longer than {MAX_TERM_CHARS} characters")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") and c not in _JOINERS for c in text):
        raise InputError(f"{what} {text[:40]!r} holds control or unassigned characters")
    return text


def _checked_terms(texts: Sequence[str], what: str, exclude: str | None = None) -> list[str]:
    """Each of ``texts`` checked, duplicates (and ``exclude``) dropped, order kept."""
    if len(texts) > MAX_TERMS:
        raise InputError(f"more than {MAX_TERMS} of {what}")
    out: list[str] = []
    for text in texts:
        t = _checked_term(text, what)
        if t != exclude and t not in out:
            out.append(t)
    return out


def _term_rows(asset_id: str, terms: Sequence[tuple[str, str]], first: int) -> list[dict[str, Any]]:
    """Rows of the terms table for ``(kind, text)`` pairs of one asset, numbered from ``first``."""
    return [
        {"asset_id": asset_id, "kind": kind, "text": text, "position": i}
        for i, (kind, text) in enumerate(terms, first)
    ]


def _identity_select() -> Any:
    return select(
        s.identities.c.id,
        s.owners.c.name.label("owner"),
        s.identities.c.name,
        s.identities.c.policy,
        s.identities.c.deceased,
        s.identities.c.minor,
        s.identities.c.status,
        s.identities.c.created_at,
    ).join(s.owners, s.owners.c.id == s.identities.c.owner_id)


class _Abort(Exception):
    pass


def _work_select() -> Any:
    return select(
        s.works.c.id,
        s.owners.c.name.label("owner"),
        s.works.c.title,
        s.works.c.kind,
        s.works.c.duration_s,
        s.works.c.policy,
        s.works.c.status,
        s.works.c.sha256,
        s.works.c.created_at,
    ).join(s.owners, s.owners.c.id == s.works.c.owner_id)


def _work(row: Any) -> Work:
    return Work(
        id=row.id,
        owner=row.owner,
        title=row.title,
        kind=row.kind,
        duration_s=row.duration_s,
        policy=row.policy,
        status=row.status,
        sha256=row.sha256,
        created_at=row.created_at,
    )


def _sqlite_engine(path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{path}", future=True)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout = 60000")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = FULL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Take the write lock up front: two writers that both start with a read would deadlock.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
