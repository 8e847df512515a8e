"""Decisions from findings and the matched assets' policies; prompt screening."""

from clearance.policy.decide import DECISION_ORDER, POLICY_VERSION, asset_decision, decide

__all__ = ["DECISION_ORDER", "POLICY_VERSION", "asset_decision", "decide"]
