"""The catalogue: owners, works and their fingerprints, scans and findings."""

from clearance.catalog.store import POLICIES, Catalog, FingerprintedWork, Registration, Work

__all__ = ["POLICIES", "Catalog", "FingerprintedWork", "Registration", "Work"]
