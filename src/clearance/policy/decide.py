"""The decision for one scan: the strictest policy among the findings' assets.

``block`` wins over ``review``, which wins over ``allow``; a scan without findings is ``allow``.
The policy layer does not know how a finding was made, only which asset it names and its policy.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

POLICY_VERSION = "builtin/1"
DECISION_ORDER = ("allow", "review", "block")


def decide(policies: Iterable[str]) -> str:
    """The strictest of ``policies`` (``allow`` when empty).

    >>> decide(["allow", "block", "review"])
    'block'
    >>> decide([])
    'allow'
    """
    rank = {p: i for i, p in enumerate(DECISION_ORDER)}
    worst = 0
    for policy in policies:
        worst = max(worst, rank.get(policy, rank["review"]))  # an unknown policy needs a human
    return DECISION_ORDER[worst]


def asset_decision(
    policy: str, *, licensees: Sequence[str] = (), licensee: str | None = None, minor: bool = False
) -> tuple[str, str]:
    """The decision for one matched work or identity, and the rule that gave it.

    A minor's likeness is never allowed; a licensee of the asset is allowed; anyone else gets the
    asset's policy, where ``licensed`` means blocked.

    >>> asset_decision("block", licensees=["Studio P"], licensee="Studio P")
    ('allow', 'licensed to Studio P')
    >>> asset_decision("allow", minor=True)
    ('block', 'minor: never allowed')
    """
    if minor:
        return "block", "minor: never allowed"
    if licensee is not None and licensee in licensees:
        return "allow", f"licensed to {licensee}"
    if policy == "licensed":
        return "block", "policy licensed (to its licensees alone)"
    return decide([policy]), f"policy {policy}"
