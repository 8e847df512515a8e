"""The scan pipeline: decode, fingerprint, search, align, decide, report."""

from clearance.scan.pipeline import REPORT_SCHEMA, Finding, ScanReport, scan

__all__ = ["REPORT_SCHEMA", "Finding", "ScanReport", "scan"]
