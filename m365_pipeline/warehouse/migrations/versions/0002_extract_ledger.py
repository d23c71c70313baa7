"""The extract ledger: which extract each tenant's tables hold, and the quarantine entries of each extract.

Revision ID: 0002_extract_ledger
Revises: 0001_initial
Create Date: 2026-01-12
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_extract_ledger"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIMESTAMP = sa.DateTime(timezone=True)
_GUID = sa.String(36)
_EXTRACT_ID = sa.String(64)


def _count(name: str, comment: str) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), nullable=False, comment=comment)


def upgrade() -> None:
    op.create_table(
        "extracts",
        sa.Column("tenant_id", _GUID, nullable=False, comment="Entra ID tenant (directory) id the row belongs to."),
        sa.Column(
            "extract_id",
            _EXTRACT_ID,
            nullable=False,
            comment="Id of the extract; ids sort by the time the extract was taken (e.g. 20261202T114501Z-1a2b3c4d).",
        ),
        sa.Column(
            "digest",
            sa.String(128),
            nullable=False,
            comment="Digest of the extract's content given by the loader: an equal digest means nothing changed.",
        ),
        sa.Column(
            "published_at",
            _TIMESTAMP,
            nullable=False,
            comment="When the extract's tables were published, all in one transaction (UTC).",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "extract_id", name="pk_extracts"),
        comment="Ledger of published extracts: the tenant's newest extract is what its directory tables hold.",
    )
    op.create_table(
        "extract_tables",
        sa.Column("tenant_id", _GUID, nullable=False, comment="Entra ID tenant (directory) id the row belongs to."),
        sa.Column("extract_id", _EXTRACT_ID, nullable=False, comment="Published extract (extracts.extract_id)."),
        sa.Column("table_name", sa.String(), nullable=False, comment="Warehouse table the extract was published to."),
        _count("row_count", "The tenant's rows in the table once published."),
        _count("inserted", "Rows the publication inserted."),
        _count("updated", "Rows the publication changed."),
        _count("deleted", "Rows the publication deleted (absent from the extract)."),
        _count("quarantined", "Records of the extract rejected for this table."),
        sa.ForeignKeyConstraint(
            ["tenant_id", "extract_id"],
            ["extracts.tenant_id", "extracts.extract_id"],
            name="fk_extract_tables_extracts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "extract_id", "table_name", name="pk_extract_tables"),
        comment="Per table of a published extract: its rows and what the publication inserted, updated and deleted.",
    )
    with op.batch_alter_table("quarantine") as batch:
        batch.add_column(
            sa.Column(
                "extract_id",
                _EXTRACT_ID,
                nullable=True,
                comment=(
                    "Extract the record was rejected from (extracts.extract_id); null for records quarantined "
                    "before the ledger."
                ),
            )
        )
    op.create_index("ix_quarantine_tenant_id_extract_id", "quarantine", ["tenant_id", "extract_id"])


def downgrade() -> None:
    op.drop_index("ix_quarantine_tenant_id_extract_id", table_name="quarantine")
    with op.batch_alter_table("quarantine") as batch:
        batch.drop_column("extract_id")
    op.drop_table("extract_tables")
    op.drop_table("extracts")
