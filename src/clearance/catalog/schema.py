"""Catalogue tables (SQLAlchemy Core): the same schema on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

SCHEMA_VERSION = 1
metadata = MetaData()

meta = Table(
    "meta", metadata, Column("key", String(64), primary_key=True), Column("value", Text, nullable=False)
)

owners = Table(
    "owners",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
)

works = Table(
    "works",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("owner_id", Integer, ForeignKey("owners.id"), nullable=False),
    Column("title", String(512), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("duration_s", Float, nullable=False),
    Column("policy", String(16), nullable=False),
    Column("status", String(16), nullable=False, default="active"),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("source_name", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)
Index("works_owner", works.c.owner_id)

generations = Table(
    "generations",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("signal", String(64), nullable=False),
    Column("state", String(16), nullable=False),  # active | retired
    Column("n_postings", Integer, nullable=False),
    Column("n_works", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("retired_at", Float),
)

work_signals = Table(
    "work_signals",
    metadata,
    Column("work_id", String(32), ForeignKey("works.id"), nullable=False),
    Column("signal", String(64), nullable=False),
    Column("n_hashes", Integer, nullable=False),
    UniqueConstraint("work_id", "signal"),
)

scans = Table(
    "scans",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("input_name", Text, nullable=False),
    Column("input_sha256", String(64), nullable=False),
    Column("decision", String(16), nullable=False),
    Column("policy_version", String(64), nullable=False),
    Column("report", Text, nullable=False),
)

findings = Table(
    "findings",
    metadata,
    Column("scan_id", String(32), ForeignKey("scans.id"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("work_id", String(32)),
    Column("query_start", Float, nullable=False),
    Column("query_end", Float, nullable=False),
    Column("ref_start", Float),
    Column("ref_end", Float),
    Column("score", Float, nullable=False),
    Column("policy", String(16), nullable=False),
    Column("evidence", Text, nullable=False),
)
Index("findings_scan", findings.c.scan_id)
Index("findings_work", findings.c.work_id)

identities = Table(
    "identities",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("owner_id", Integer, ForeignKey("owners.id"), nullable=False),
    Column("name", String(512), nullable=False),
    Column("policy", String(16), nullable=False),
    Column("deceased", Boolean, nullable=False),
    Column("minor", Boolean, nullable=False),
    Column("status", String(16), nullable=False, default="active"),
    Column("created_at", Float, nullable=False),
)
Index("identities_owner", identities.c.owner_id)

terms = Table(
    "terms",
    metadata,
    Column("asset_id", String(32), nullable=False),  # a work's or an identity's id
    Column("kind", String(16), nullable=False),  # name | alias | anchor
    Column("text", Text, nullable=False),
    Column("position", Integer, nullable=False),
    UniqueConstraint("asset_id", "kind", "text"),
)
Index("terms_asset", terms.c.asset_id)

licensees = Table(
    "licensees",
    metadata,
    Column("asset_id", String(32), nullable=False),  # a work's or an identity's id
    Column("licensee", String(256), nullable=False),
    UniqueConstraint("asset_id", "licensee"),
)
