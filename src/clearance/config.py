"""Settings: defaults < TOML file < environment (``CLEARANCE_*``) < explicit arguments.

Limits are settings, not constants, so a deployment can tighten or loosen them without code.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from clearance.errors import ConfigError


class Limits(BaseSettings):
    """Bounds on what one input may cost; anything over them is refused with ``limit_exceeded``."""

    model_config = SettingsConfigDict(env_prefix="CLEARANCE_LIMIT_", extra="forbid")

    max_input_bytes: int = Field(4 * 1024**3, gt=0, description="largest file accepted")
    max_duration_s: float = Field(6 * 3600.0, gt=0, description="longest media accepted")
    decode_timeout_s: float = Field(900.0, gt=0, description="wall time for decoding one input")
    max_video_fps: float = Field(30.0, gt=0, description="pictures per second kept from a video")
    max_frames: int = Field(
        100_000, gt=0, description="pictures kept from one video (a long one is sampled more sparsely)"
    )
    max_detail_frames: int = Field(
        1200,
        gt=0,
        description="detail pictures (for local features) kept from one video, sampled like max_frames",
    )
    max_prompt_chars: int = Field(10_000, gt=0, description="longest text prompt accepted, in characters")
    max_pixels: int = Field(
        36_000_000, gt=0, description="largest picture accepted, in pixels (8K UHD is 33.2 million)"
    )
    decode_memory_bytes: int = Field(
        4 * 1024**3, gt=0, description="memory the decoder may map beyond its own code, per input"
    )
    isolate_decode: bool = Field(
        False,
        description="decode in a sandboxed child process (Linux; main module must be import-safe)",
    )


class Search(BaseSettings):
    """What one scan may spend on the index, per signal type."""

    model_config = SettingsConfigDict(env_prefix="CLEARANCE_SEARCH_", extra="forbid")

    max_hits: int = Field(
        60_000,
        gt=0,
        description="index hits per query: past it, the commonest keys are left out (bounds the latency)",
    )
    max_verify: int = Field(32, gt=0, description="candidate segments checked against the stored points")


class Settings(BaseSettings):
    """All tunables of one clearance deployment."""

    model_config = SettingsConfigDict(env_prefix="CLEARANCE_", extra="forbid")

    catalog: Path | None = Field(None, description="catalogue directory")
    limits: Limits = Field(default_factory=Limits)
    search: Search = Field(default_factory=Search)
    audio_min_score: float = Field(
        0.5, ge=0.0, le=1.0, description="findings below this calibrated score are not reported"
    )
    policy_file: Path | None = Field(
        None, description="the deployment's decision rules (TOML: version, packs, review, kinds, labels)"
    )
    signals_off: list[str] = Field(
        default_factory=list,
        description="signal types neither registered nor scanned (e.g. visual_orb, to keep the index small)",
    )

    @classmethod
    def load(cls, path: Path | None = None, **overrides: Any) -> Settings:
        """Read ``path`` (TOML) or ``$CLEARANCE_CONFIG`` if set, then apply environment and overrides."""
        data: dict[str, Any] = {}
        src = path or (Path(os.environ["CLEARANCE_CONFIG"]) if os.environ.get("CLEARANCE_CONFIG") else None)
        if src is not None:
            try:
                data = tomllib.loads(src.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"cannot read config {src}: {exc}") from exc
        data.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"invalid setting {where}: {first['msg']}") from exc


def default_catalog_dir(explicit: Path | None = None) -> Path:
    """``--catalog DIR``, else ``$CLEARANCE_CATALOG``, else the user data directory (contract)."""
    if explicit is not None:
        return explicit
    env = os.environ.get("CLEARANCE_CATALOG")
    if env:
        return Path(env)
    return Path(platformdirs.user_data_dir("clearance")) / "catalog"
