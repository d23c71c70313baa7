"""A record that normalization rejected, kept with the reason instead of being dropped."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class QuarantinedRow:
    entity: str  # the warehouse table the record was meant for
    source: str  # file path or URL the record was read from
    row_number: int  # 1-based position of the record in its source
    field: str  # the field(s) that failed, e.g. "signInActivity.lastSignInDateTime"
    reason: str
    raw: dict[str, Any]
