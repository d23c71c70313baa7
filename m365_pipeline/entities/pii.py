"""How directly a column identifies a person: the governance class every raw and warehouse column carries."""

from __future__ import annotations

from enum import StrEnum


class PiiClass(StrEnum):
    DIRECT = "direct_identifier"  # names a person on its own: a name, a sign-in name, a phone number
    QUASI = "quasi_identifier"  # identifies a person combined with other columns: department, object id, times
    NONE = "none"
