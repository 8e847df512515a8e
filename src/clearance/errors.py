"""The clearance exception tree.

Every error a user can cause is a :class:`ClearanceError` with a stable ``code``; the CLI prints it as
one line and exits with 2, the service will return it as problem+json. Anything else is a bug.

    ClearanceError
    ├── InputError                  bad input: the user must change what they gave us
    │   ├── CorruptMediaError       undecodable, truncated, empty
    │   ├── UnsupportedMediaError   not media, wrong kind, format not on the allow-list
    │   └── LimitExceededError      over an explicit limit (size, duration, frames, time)
    ├── CatalogError
    │   ├── NotFoundError
    │   └── ConflictError           e.g. the same content registered twice
    ├── PolicyError
    └── ConfigError
"""

from __future__ import annotations


class ClearanceError(Exception):
    """Root of every error clearance raises on purpose."""

    code = "clearance_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InputError(ClearanceError):
    code = "input_error"


class CorruptMediaError(InputError):
    code = "corrupt_media"


class UnsupportedMediaError(InputError):
    code = "unsupported_media"


class LimitExceededError(InputError):
    code = "limit_exceeded"


class CatalogError(ClearanceError):
    code = "catalog_error"


class NotFoundError(CatalogError):
    code = "not_found"


class ConflictError(CatalogError):
    code = "conflict"


class PolicyError(ClearanceError):
    code = "policy_error"


class ConfigError(ClearanceError):
    code = "config_error"
