"""The catalogue: owners, works and their fingerprints, scans and findings."""

from clearance.catalog.store import POLICIES, Catalog, Registration, Work

__all__ = ["POLICIES", "Catalog", "Registration", "Work"]
