"""uploaded_files.file_path index: the cleanup finds rows by their bytes' key.

Revision ID: 0005_file_path_index
Revises: 0004_maintenance

An index the seed does not have: the file cleanup checks whether other rows still use a path
(deduplicated uploads share bytes) and lists the rows naming keys under ``incoming/``.
``text_pattern_ops`` serves both the equality and the prefix ``LIKE`` whatever the collation.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005_file_path_index"
down_revision: str | Sequence[str] | None = "0004_maintenance"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "idx_uploaded_files_file_path",
        "uploaded_files",
        ["file_path"],
        postgresql_ops={"file_path": "text_pattern_ops"},
    )


def downgrade() -> None:
    op.drop_index("idx_uploaded_files_file_path", table_name="uploaded_files")
