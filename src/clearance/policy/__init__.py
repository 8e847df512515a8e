"""Decisions from findings and the matched assets' policies."""

from clearance.policy.decide import DECISION_ORDER, POLICY_VERSION, decide

__all__ = ["DECISION_ORDER", "POLICY_VERSION", "decide"]
