"""The catalogue: owners, works and their fingerprints, identities, scans and findings."""

from clearance.catalog.store import POLICIES, Catalog, FingerprintedWork, Identity, Registration, Work

__all__ = ["POLICIES", "Catalog", "FingerprintedWork", "Identity", "Registration", "Work"]
