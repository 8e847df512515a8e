"""The decision for one scan: the strictest policy among the findings' assets.

``block`` wins over ``review``, which wins over ``allow``; a scan without findings is ``allow``.
The policy layer does not know how a finding was made, only which asset it names and its policy.
"""

from __future__ import annotations

from collections.abc import Iterable

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
