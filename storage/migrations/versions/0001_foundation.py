"""foundation: the seed tables the workers use, their enums and indexes, the five upload configs, jobs.

Revision ID: 0001_foundation
Revises:
Create Date: 2026-11-29 12:17:57.976410

Generated against an empty PostgreSQL database, then edited to run on SQLite as well: portable
server defaults, the column CHECKs autogenerate does not render, the users <-> uploaded_files
foreign-key cycle, the PostgreSQL-only e-mail CHECK, and the seed's upload configurations.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001_foundation"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("foundation",)
depends_on: str | Sequence[str] | None = None

UPLOADED_BY_FK = "uploaded_files_uploaded_by_fkey"

#: PostgreSQL types created by this revision (as ENUMs of the seed), dropped by its downgrade.
ENUM_TYPES = (
    "user_role",
    "user_language",
    "skin_type",
    "product_status",
    "order_status",
    "payment_status",
    "fulfillment_status",
    "review_status",
    "feedback_status",
    "progress_status",
    "moderation_status",
    "usage_frequency",
    "file_status",
    "media_type",
    "virus_scan_status",
    "job_state",
)

#: The seed's ``INSERT INTO file_upload_configs``; the other columns take their defaults.
UPLOAD_CONFIGS: list[dict[str, Any]] = [
    {
        "context": "profile",
        "description": "User profile pictures and banners",
        "max_file_size": 5242880,  # 5MB
        "allowed_mime_types": ["image/jpeg", "image/png", "image/gif", "image/webp"],
        "allowed_extensions": ["jpg", "jpeg", "png", "gif", "webp"],
        "max_width": 2000,
        "max_height": 2000,
        "min_width": 100,
        "min_height": 100,
        "max_files_per_upload": 2,
        "max_files_per_user": 3,
        "max_total_size_per_user": 52428800,  # 50MB
        "thumbnail_sizes": {"small": [150, 150], "medium": [300, 300], "large": [600, 600]},
        "storage_path": "uploads/profiles/",
        "require_virus_scan": True,
    },
    {
        "context": "product",
        "description": "Product photos, videos, and media content",
        "max_file_size": 20971520,  # 20MB
        "allowed_mime_types": [
            "image/jpeg",
            "image/png",
            "image/gif",
            "image/webp",
            "video/mp4",
            "video/webm",
        ],
        "allowed_extensions": ["jpg", "jpeg", "png", "gif", "webp", "mp4", "webm"],
        "max_width": 4000,
        "max_height": 4000,
        "min_width": 300,
        "min_height": 300,
        "max_files_per_upload": 10,
        "max_files_per_user": None,  # no user limits: admins upload products
        "max_total_size_per_user": None,
        "thumbnail_sizes": {
            "thumbnail": [100, 100],
            "small": [300, 300],
            "medium": [600, 600],
            "large": [1200, 1200],
        },
        "storage_path": "uploads/products/",
        "require_virus_scan": True,
    },
    {
        "context": "review",
        "description": "Customer review photos and videos showing product results",
        "max_file_size": 10485760,  # 10MB
        "allowed_mime_types": ["image/jpeg", "image/png", "image/webp"],
        "allowed_extensions": ["jpg", "jpeg", "png", "webp"],
        "max_width": 3000,
        "max_height": 3000,
        "min_width": 300,
        "min_height": 300,
        "max_files_per_upload": 8,
        "max_files_per_user": 100,
        "max_total_size_per_user": 209715200,  # 200MB
        "thumbnail_sizes": {"thumbnail": [150, 150], "small": [400, 400], "medium": [800, 800]},
        "storage_path": "uploads/reviews/",
        "require_virus_scan": True,
    },
    {
        "context": "progress",
        "description": "Skincare progress photos for tracking treatment results",
        "max_file_size": 10485760,  # 10MB
        "allowed_mime_types": ["image/jpeg", "image/png", "image/webp"],
        "allowed_extensions": ["jpg", "jpeg", "png", "webp"],
        "max_width": 3000,
        "max_height": 3000,
        "min_width": 300,
        "min_height": 300,
        "max_files_per_upload": 5,
        "max_files_per_user": 500,
        "max_total_size_per_user": 524288000,  # 500MB: long-term tracking
        "thumbnail_sizes": {"thumbnail": [150, 150], "small": [400, 400], "medium": [800, 800]},
        "storage_path": "uploads/progress/",
        "require_virus_scan": True,
    },
    {
        "context": "qa",
        "description": "Photos and videos for product questions and answers",
        "max_file_size": 8388608,  # 8MB
        "allowed_mime_types": ["image/jpeg", "image/png", "image/webp", "video/mp4"],
        "allowed_extensions": ["jpg", "jpeg", "png", "webp", "mp4"],
        "max_width": 2500,
        "max_height": 2500,
        "min_width": 200,
        "min_height": 200,
        "max_files_per_upload": 3,
        "max_files_per_user": 50,
        "max_total_size_per_user": 104857600,  # 100MB
        "thumbnail_sizes": {"thumbnail": [150, 150], "small": [300, 300]},
        "storage_path": "uploads/qa/",
        "require_virus_scan": False,
    },
]


def upgrade() -> None:
    # users and uploaded_files reference each other. PostgreSQL checks a foreign key's target when
    # it is created, so uploaded_by is added by ALTER once users exists; SQLite cannot ALTER a
    # constraint in but does not check the target at CREATE time, so it gets it inline (as
    # metadata.create_all does on each).
    fk_by_alter = op.get_context().dialect.supports_alter
    uploaded_by_fk = sa.ForeignKeyConstraint(
        ["uploaded_by"], ["users.id"], name=UPLOADED_BY_FK, ondelete="SET NULL"
    )

    file_upload_configs = op.create_table(
        "file_upload_configs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("context", sa.String(length=50), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("max_file_size", sa.BigInteger(), nullable=False),
        sa.Column(
            "allowed_mime_types", sa.JSON().with_variant(sa.ARRAY(sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "allowed_extensions", sa.JSON().with_variant(sa.ARRAY(sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("max_width", sa.Integer(), nullable=True),
        sa.Column("max_height", sa.Integer(), nullable=True),
        sa.Column("min_width", sa.Integer(), nullable=True),
        sa.Column("min_height", sa.Integer(), nullable=True),
        sa.Column(
            "aspect_ratio_restrictions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("max_files_per_upload", sa.Integer(), server_default=sa.text("1"), nullable=True),
        sa.Column("max_files_per_user", sa.Integer(), nullable=True),
        sa.Column("max_total_size_per_user", sa.BigInteger(), nullable=True),
        sa.Column("create_thumbnails", sa.Boolean(), server_default=sa.true(), nullable=True),
        sa.Column(
            "thumbnail_sizes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            server_default='{"small": [150,150], "medium": [300,300]}',
            nullable=True,
        ),
        sa.Column("compress_images", sa.Boolean(), server_default=sa.true(), nullable=True),
        sa.Column(
            "compression_quality",
            sa.Integer(),
            sa.CheckConstraint("compression_quality BETWEEN 1 AND 100"),
            server_default=sa.text("80"),
            nullable=True,
        ),
        sa.Column("convert_to_webp", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("storage_path", sa.String(length=255), nullable=False),
        sa.Column("is_public", sa.Boolean(), server_default=sa.true(), nullable=True),
        sa.Column("require_authentication", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("enable_direct_upload", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("require_virus_scan", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("auto_approve", sa.Boolean(), server_default=sa.true(), nullable=True),
        sa.Column("enable_watermark", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("watermark_text", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.func.now(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), server_default=sa.func.now(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("context"),
    )
    op.bulk_insert(file_upload_configs, UPLOAD_CONFIGS)
    op.create_table(
        "jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=100), nullable=False),
        sa.Column("queue", sa.String(length=50), nullable=True),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=True),
        sa.Column(
            "state",
            sa.Enum(
                "queued",
                "running",
                "retrying",
                "succeeded",
                "failed",
                "dead",
                name="job_state",
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("progress", sa.Integer(), sa.CheckConstraint("progress BETWEEN 0 AND 100"), nullable=False),
        sa.Column(
            "result",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("lease_owner", sa.String(length=255), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    op.create_index("ix_jobs_state_updated", "jobs", ["state", "updated_at"])

    op.create_table(
        "uploaded_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("original_filename", sa.String(length=255), nullable=False),
        sa.Column("file_path", sa.String(length=500), nullable=False),
        sa.Column("file_url", sa.String(length=500), nullable=False),
        sa.Column("file_size", sa.BigInteger(), sa.CheckConstraint("file_size > 0"), nullable=False),
        sa.Column("mime_type", sa.String(length=100), nullable=False),
        sa.Column("file_extension", sa.String(length=10), nullable=False),
        sa.Column(
            "media_type",
            sa.Enum("image", "video", "document", "audio", name="media_type", create_constraint=True),
            nullable=False,
        ),
        sa.Column("image_width", sa.Integer(), sa.CheckConstraint("image_width > 0"), nullable=True),
        sa.Column("image_height", sa.Integer(), sa.CheckConstraint("image_height > 0"), nullable=True),
        sa.Column(
            "image_thumbnails",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "dominant_colors",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("uploaded_by", sa.Integer(), nullable=True),
        sa.Column("upload_context", sa.String(length=50), nullable=False),
        sa.Column("related_entity_type", sa.String(length=50), nullable=True),
        sa.Column("related_entity_id", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "uploading",
                "processing",
                "active",
                "deleted",
                "failed",
                name="file_status",
                create_constraint=True,
            ),
            server_default="uploading",
            nullable=True,
        ),
        sa.Column("is_processed", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("processing_error", sa.Text(), nullable=True),
        sa.Column("is_public", sa.Boolean(), server_default=sa.true(), nullable=True),
        sa.Column("is_temporary", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column(
            "virus_scan_status",
            sa.Enum(
                "pending",
                "clean",
                "infected",
                "failed",
                "skipped",
                name="virus_scan_status",
                create_constraint=True,
            ),
            server_default="pending",
            nullable=True,
        ),
        sa.Column("virus_scan_result", sa.Text(), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=True),
        sa.Column("cloud_provider", sa.String(length=20), nullable=True),
        sa.Column("cloud_bucket", sa.String(length=100), nullable=True),
        sa.Column("cloud_region", sa.String(length=50), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.func.now(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), server_default=sa.func.now(), nullable=True),
        sa.Column("processed_at", sa.DateTime(), nullable=True),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "CASE "
            "WHEN mime_type LIKE 'image/%' "
            "THEN file_extension IN ('jpg', 'jpeg', 'png', 'gif', 'webp', 'svg') "
            "WHEN mime_type LIKE 'video/%' THEN file_extension IN ('mp4', 'mov', 'avi', 'webm', 'mkv') "
            "WHEN mime_type LIKE 'audio/%' THEN file_extension IN ('mp3', 'wav', 'ogg', 'm4a') "
            "ELSE true END",
            name="valid_file_extension",
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("content_hash"),
        *([] if fk_by_alter else [uploaded_by_fk]),
    )
    op.create_index(
        "idx_uploaded_files_cloud_provider",
        "uploaded_files",
        ["cloud_provider"],
        postgresql_where=sa.text("cloud_provider IS NOT NULL"),
        sqlite_where=sa.text("cloud_provider IS NOT NULL"),
    )
    op.create_index(
        "idx_uploaded_files_content_hash",
        "uploaded_files",
        ["content_hash"],
        postgresql_where=sa.text("content_hash IS NOT NULL"),
        sqlite_where=sa.text("content_hash IS NOT NULL"),
    )
    op.create_index("idx_uploaded_files_created_at", "uploaded_files", ["created_at"])
    op.create_index(
        "idx_uploaded_files_related_entity",
        "uploaded_files",
        ["related_entity_type", "related_entity_id"],
        postgresql_where=sa.text("related_entity_type IS NOT NULL"),
        sqlite_where=sa.text("related_entity_type IS NOT NULL"),
    )
    op.create_index(
        "idx_uploaded_files_status",
        "uploaded_files",
        ["status"],
        postgresql_where=sa.text("status = 'active'"),
        sqlite_where=sa.text("status = 'active'"),
    )
    op.create_index(
        "idx_uploaded_files_temporary",
        "uploaded_files",
        ["is_temporary", "expires_at"],
        postgresql_where=sa.text("is_temporary = true"),
        sqlite_where=sa.text("is_temporary = true"),
    )
    op.create_index("idx_uploaded_files_upload_context", "uploaded_files", ["upload_context"])
    op.create_index(
        "idx_uploaded_files_uploaded_by",
        "uploaded_files",
        ["uploaded_by"],
        postgresql_where=sa.text("uploaded_by IS NOT NULL"),
        sqlite_where=sa.text("uploaded_by IS NOT NULL"),
    )
    op.create_index(
        "idx_uploaded_files_virus_scan",
        "uploaded_files",
        ["virus_scan_status"],
        postgresql_where=sa.text("virus_scan_status = 'pending'"),
        sqlite_where=sa.text("virus_scan_status = 'pending'"),
    )

    op.create_table(
        "categories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("image_file_id", sa.Integer(), nullable=True),
        sa.Column("image_url", sa.String(length=500), nullable=True),
        sa.Column("banner_file_id", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=True),
        sa.Column("sort_order", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.func.now(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), server_default=sa.func.now(), nullable=True),
        sa.ForeignKeyConstraint(["banner_file_id"], ["uploaded_files.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["image_file_id"], ["uploaded_files.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["parent_id"], ["categories.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("slug"),
    )
    op.create_index(
        "idx_categories_active",
        "categories",
        ["is_active"],
        postgresql_where=sa.text("is_active = true"),
        sqlite_where=sa.text("is_active = true"),
    )
    op.create_index(
        "idx_categories_image_file",
        "categories",
        ["image_file_id"],
        postgresql_where=sa.text("image_file_id IS NOT NULL"),
        sqlite_where=sa.text("image_file_id IS NOT NULL"),
    )
    op.create_index(
        "idx_categories_parent_id",
        "categories",
        ["parent_id"],
        postgresql_where=sa.text("parent_id IS NOT NULL"),
        sqlite_where=sa.text("parent_id IS NOT NULL"),
    )
    op.create_index("idx_categories_sort_order", "categories", ["sort_order"])

    op.create_table(
        "products",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name_en", sa.String(length=255), nullable=False),
        sa.Column("name_kh", sa.String(length=255), nullable=True),
        sa.Column("slug", sa.String(length=255), nullable=False),
        sa.Column("description_en", sa.Text(), nullable=True),
        sa.Column("description_kh", sa.Text(), nullable=True),
        sa.Column("short_description", sa.Text(), nullable=True),
        sa.Column("sku", sa.String(length=100), nullable=False),
        sa.Column("barcode", sa.String(length=100), nullable=True),
        sa.Column(
            "price", sa.Numeric(precision=10, scale=2), sa.CheckConstraint("price > 0"), nullable=False
        ),
        sa.Column(
            "compare_at_price",
            sa.Numeric(precision=10, scale=2),
            sa.CheckConstraint("compare_at_price IS NULL OR compare_at_price >= price"),
            nullable=True,
        ),
        sa.Column("cost_price", sa.Numeric(precision=10, scale=2), nullable=True),
        sa.Column("stock", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("track_inventory", sa.Boolean(), server_default=sa.true(), nullable=True),
        sa.Column("allow_backorders", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("weight", sa.Numeric(precision=8, scale=2), nullable=True),
        sa.Column(
            "dimensions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "skin_type",
            sa.Enum(
                "oily",
                "dry",
                "combination",
                "sensitive",
                "normal",
                "acne",
                "all",
                name="skin_type",
                create_constraint=True,
            ),
            server_default="all",
            nullable=True,
        ),
        sa.Column("category", sa.String(length=50), nullable=False),
        sa.Column("skin_concerns", sa.JSON().with_variant(sa.ARRAY(sa.Text()), "postgresql"), nullable=True),
        sa.Column(
            "ingredients",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("usage_instructions", sa.Text(), nullable=True),
        sa.Column("key_benefits", sa.JSON().with_variant(sa.ARRAY(sa.Text()), "postgresql"), nullable=True),
        sa.Column("how_to_use", sa.Text(), nullable=True),
        sa.Column("when_to_use", sa.Text(), nullable=True),
        sa.Column("product_type", sa.String(length=50), nullable=True),
        sa.Column("suitable_for_sensitive_skin", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("dermatologist_tested", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("cruelty_free", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("main_image_file_id", sa.Integer(), nullable=True),
        sa.Column("image_url", sa.String(length=500), nullable=True),
        sa.Column("meta_title", sa.String(length=255), nullable=True),
        sa.Column("meta_description", sa.Text(), nullable=True),
        sa.Column(
            "status",
            sa.Enum("draft", "active", "archived", name="product_status", create_constraint=True),
            server_default="active",
            nullable=True,
        ),
        sa.Column("is_featured", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("total_reviews", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("avg_rating", sa.Numeric(precision=3, scale=2), server_default=sa.text("0"), nullable=True),
        sa.Column("total_sales", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("view_count", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("created_at", sa.Date(), server_default=sa.func.current_date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), server_default=sa.func.now(), nullable=True),
        sa.Column("published_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["main_image_file_id"], ["uploaded_files.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sku"),
        sa.UniqueConstraint("slug"),
    )
    op.create_index(
        "idx_products_avg_rating",
        "products",
        [sa.literal_column("avg_rating DESC")],
        postgresql_where=sa.text("avg_rating > 0"),
        sqlite_where=sa.text("avg_rating > 0"),
    )
    op.create_index("idx_products_category", "products", ["category"])
    op.create_index(
        "idx_products_featured",
        "products",
        ["is_featured"],
        postgresql_where=sa.text("is_featured = true"),
        sqlite_where=sa.text("is_featured = true"),
    )
    op.create_index(
        "idx_products_main_image_file",
        "products",
        ["main_image_file_id"],
        postgresql_where=sa.text("main_image_file_id IS NOT NULL"),
        sqlite_where=sa.text("main_image_file_id IS NOT NULL"),
    )
    op.create_index(
        "idx_products_price_range",
        "products",
        ["price"],
        postgresql_where=sa.text("status = 'active'"),
        sqlite_where=sa.text("status = 'active'"),
    )
    op.create_index("idx_products_skin_concerns", "products", ["skin_concerns"], postgresql_using="gin")
    op.create_index("idx_products_skin_type", "products", ["skin_type"])
    op.create_index(
        "idx_products_status",
        "products",
        ["status"],
        postgresql_where=sa.text("status = 'active'"),
        sqlite_where=sa.text("status = 'active'"),
    )
    op.create_index(
        "idx_products_total_sales",
        "products",
        [sa.literal_column("total_sales DESC")],
        postgresql_where=sa.text("total_sales > 0"),
        sqlite_where=sa.text("total_sales > 0"),
    )

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("password", sa.String(length=255), nullable=False),
        sa.Column("first_name", sa.String(length=100), nullable=True),
        sa.Column("last_name", sa.String(length=100), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column(
            "gender",
            sa.String(length=10),
            sa.CheckConstraint("gender IN ('male', 'female', 'other')"),
            nullable=True,
        ),
        sa.Column(
            "skin_type",
            sa.Enum(
                "oily",
                "dry",
                "combination",
                "sensitive",
                "normal",
                "acne",
                "all",
                name="skin_type",
                create_constraint=True,
            ),
            server_default="normal",
            nullable=True,
        ),
        sa.Column(
            "language",
            sa.Enum("en", "kh", name="user_language", create_constraint=True),
            server_default="en",
            nullable=True,
        ),
        sa.Column(
            "role",
            sa.Enum("customer", "admin", "moderator", "expert", name="user_role", create_constraint=True),
            server_default="customer",
            nullable=True,
        ),
        sa.Column("profile_picture_file_id", sa.Integer(), nullable=True),
        sa.Column("profile_banner_file_id", sa.Integer(), nullable=True),
        sa.Column("profile_picture", sa.String(length=500), nullable=True),
        sa.Column("bio", sa.Text(), nullable=True),
        sa.Column(
            "expertise_areas", sa.JSON().with_variant(sa.ARRAY(sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=True),
        sa.Column("email_verified", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("email_verification_token", sa.String(length=255), nullable=True),
        sa.Column("email_verified_at", sa.DateTime(), nullable=True),
        sa.Column("password_reset_token", sa.String(length=255), nullable=True),
        sa.Column("password_reset_expires", sa.DateTime(), nullable=True),
        sa.Column("total_orders", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column(
            "total_spent", sa.Numeric(precision=10, scale=2), server_default=sa.text("0"), nullable=True
        ),
        sa.Column("avg_rating", sa.Numeric(precision=3, scale=2), server_default=sa.text("0"), nullable=True),
        sa.Column("reviews_written", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("helpful_votes_received", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("questions_asked", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("answers_provided", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("community_score", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("files_uploaded", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("storage_used", sa.BigInteger(), server_default=sa.text("0"), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.func.now(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), server_default=sa.func.now(), nullable=True),
        # `~*` is PostgreSQL's; SQLite has no regex operator.
        sa.CheckConstraint(
            "email ~* '^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}$'", name="valid_email"
        ).ddl_if(dialect="postgresql"),
        sa.ForeignKeyConstraint(["profile_banner_file_id"], ["uploaded_files.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["profile_picture_file_id"], ["uploaded_files.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
    )
    op.create_index(
        "idx_users_community_score",
        "users",
        [sa.literal_column("community_score DESC")],
        postgresql_where=sa.text("community_score > 0"),
        sqlite_where=sa.text("community_score > 0"),
    )
    op.create_index("idx_users_email", "users", ["email"])
    op.create_index(
        "idx_users_email_verification",
        "users",
        ["email_verification_token"],
        postgresql_where=sa.text("email_verification_token IS NOT NULL"),
        sqlite_where=sa.text("email_verification_token IS NOT NULL"),
    )
    op.create_index(
        "idx_users_password_reset_token",
        "users",
        ["password_reset_token"],
        postgresql_where=sa.text("password_reset_token IS NOT NULL"),
        sqlite_where=sa.text("password_reset_token IS NOT NULL"),
    )
    op.create_index(
        "idx_users_profile_picture_file",
        "users",
        ["profile_picture_file_id"],
        postgresql_where=sa.text("profile_picture_file_id IS NOT NULL"),
        sqlite_where=sa.text("profile_picture_file_id IS NOT NULL"),
    )
    op.create_index("idx_users_role", "users", ["role"])
    op.create_index("idx_users_skin_type", "users", ["skin_type"])
    op.create_index(
        "idx_users_storage_usage",
        "users",
        [sa.literal_column("storage_used DESC")],
        postgresql_where=sa.text("storage_used > 0"),
        sqlite_where=sa.text("storage_used > 0"),
    )

    if fk_by_alter:
        op.create_foreign_key(
            UPLOADED_BY_FK, "uploaded_files", "users", ["uploaded_by"], ["id"], ondelete="SET NULL"
        )

    op.create_table(
        "moderation_queue",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("content_type", sa.String(length=50), nullable=False),
        sa.Column("content_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("content_text", sa.Text(), nullable=True),
        sa.Column(
            "content_metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("file_id", sa.Integer(), nullable=True),
        sa.Column("contains_files", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column(
            "file_moderation_results",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "flagged_reasons", sa.JSON().with_variant(sa.ARRAY(sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column("auto_flagged", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("user_reported", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("reported_by", sa.Integer(), nullable=True),
        sa.Column("report_reason", sa.Text(), nullable=True),
        sa.Column(
            "spam_probability",
            sa.Numeric(precision=3, scale=2),
            sa.CheckConstraint("spam_probability BETWEEN 0 AND 1"),
            nullable=True,
        ),
        sa.Column(
            "toxicity_score",
            sa.Numeric(precision=3, scale=2),
            sa.CheckConstraint("toxicity_score BETWEEN 0 AND 1"),
            nullable=True,
        ),
        sa.Column("medical_claims_detected", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("inappropriate_content_detected", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column(
            "nsfw_score",
            sa.Numeric(precision=3, scale=2),
            sa.CheckConstraint("nsfw_score BETWEEN 0 AND 1"),
            nullable=True,
        ),
        sa.Column(
            "violence_score",
            sa.Numeric(precision=3, scale=2),
            sa.CheckConstraint("violence_score BETWEEN 0 AND 1"),
            nullable=True,
        ),
        sa.Column("has_faces", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("face_count", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("image_quality_score", sa.Numeric(precision=3, scale=2), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "approved",
                "rejected",
                "needs_review",
                name="moderation_status",
                create_constraint=True,
            ),
            server_default="pending",
            nullable=True,
        ),
        sa.Column("reviewed_by", sa.Integer(), nullable=True),
        sa.Column("review_notes", sa.Text(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(), nullable=True),
        sa.Column(
            "priority_level",
            sa.Integer(),
            sa.CheckConstraint("priority_level BETWEEN 1 AND 5"),
            server_default=sa.text("3"),
            nullable=True,
        ),
        sa.Column("escalated", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("escalated_at", sa.DateTime(), nullable=True),
        sa.Column("escalated_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.func.now(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), server_default=sa.func.now(), nullable=True),
        sa.ForeignKeyConstraint(["escalated_by"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["file_id"], ["uploaded_files.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["reported_by"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["reviewed_by"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "idx_moderation_queue_auto_flagged",
        "moderation_queue",
        ["auto_flagged"],
        postgresql_where=sa.text("auto_flagged = true"),
        sqlite_where=sa.text("auto_flagged = true"),
    )
    op.create_index("idx_moderation_queue_content_type", "moderation_queue", ["content_type"])
    op.create_index(
        "idx_moderation_queue_escalated",
        "moderation_queue",
        ["escalated"],
        postgresql_where=sa.text("escalated = true"),
        sqlite_where=sa.text("escalated = true"),
    )
    op.create_index(
        "idx_moderation_queue_file_id",
        "moderation_queue",
        ["file_id"],
        postgresql_where=sa.text("file_id IS NOT NULL"),
        sqlite_where=sa.text("file_id IS NOT NULL"),
    )
    op.create_index("idx_moderation_queue_priority", "moderation_queue", ["priority_level", "created_at"])
    op.create_index(
        "idx_moderation_queue_status",
        "moderation_queue",
        ["status"],
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "idx_moderation_queue_user_id",
        "moderation_queue",
        ["user_id"],
        postgresql_where=sa.text("user_id IS NOT NULL"),
        sqlite_where=sa.text("user_id IS NOT NULL"),
    )

    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("type", sa.String(length=50), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("action_url", sa.String(length=500), nullable=True),
        sa.Column("thumbnail_url", sa.String(length=500), nullable=True),
        sa.Column(
            "action_buttons",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("related_type", sa.String(length=50), nullable=True),
        sa.Column("related_id", sa.Integer(), nullable=True),
        sa.Column("file_id", sa.Integer(), nullable=True),
        sa.Column("is_read", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("read_at", sa.DateTime(), nullable=True),
        sa.Column(
            "priority",
            sa.String(length=10),
            sa.CheckConstraint("priority IN ('low', 'normal', 'high', 'urgent')"),
            server_default="normal",
            nullable=True,
        ),
        sa.Column("email_sent", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("email_sent_at", sa.DateTime(), nullable=True),
        sa.Column("push_sent", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("push_sent_at", sa.DateTime(), nullable=True),
        sa.Column("sms_sent", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("sms_sent_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.func.now(), nullable=True),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("dismissed_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("expires_at IS NULL OR expires_at > created_at", name="valid_notification_expiry"),
        sa.ForeignKeyConstraint(["file_id"], ["uploaded_files.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "idx_notifications_expires",
        "notifications",
        ["expires_at"],
        postgresql_where=sa.text("expires_at IS NOT NULL"),
        sqlite_where=sa.text("expires_at IS NOT NULL"),
    )
    op.create_index(
        "idx_notifications_file_id",
        "notifications",
        ["file_id"],
        postgresql_where=sa.text("file_id IS NOT NULL"),
        sqlite_where=sa.text("file_id IS NOT NULL"),
    )
    op.create_index(
        "idx_notifications_priority",
        "notifications",
        ["priority", sa.literal_column("created_at DESC")],
        postgresql_where=sa.text("priority IN ('high', 'urgent')"),
        sqlite_where=sa.text("priority IN ('high', 'urgent')"),
    )
    op.create_index("idx_notifications_type", "notifications", ["type"])
    op.create_index(
        "idx_notifications_unread",
        "notifications",
        ["user_id", "is_read", sa.literal_column("created_at DESC")],
        postgresql_where=sa.text("is_read = false"),
        sqlite_where=sa.text("is_read = false"),
    )
    op.create_index("idx_notifications_user_id", "notifications", ["user_id"])

    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_number", sa.String(length=50), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("customer_name", sa.String(length=255), nullable=True),
        sa.Column("customer_email", sa.String(length=255), nullable=False),
        sa.Column("subtotal", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column(
            "tax_amount", sa.Numeric(precision=10, scale=2), server_default=sa.text("0"), nullable=True
        ),
        sa.Column(
            "shipping_amount", sa.Numeric(precision=10, scale=2), server_default=sa.text("0"), nullable=True
        ),
        sa.Column(
            "discount_amount", sa.Numeric(precision=10, scale=2), server_default=sa.text("0"), nullable=True
        ),
        sa.Column("total", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "confirmed",
                "processing",
                "shipped",
                "delivered",
                "cancelled",
                "refunded",
                name="order_status",
                create_constraint=True,
            ),
            server_default="pending",
            nullable=True,
        ),
        sa.Column(
            "payment_status",
            sa.Enum(
                "pending",
                "paid",
                "partially_paid",
                "refunded",
                "partially_refunded",
                "failed",
                name="payment_status",
                create_constraint=True,
            ),
            server_default="pending",
            nullable=True,
        ),
        sa.Column(
            "fulfillment_status",
            sa.Enum(
                "unfulfilled",
                "partial",
                "fulfilled",
                "shipped",
                "delivered",
                name="fulfillment_status",
                create_constraint=True,
            ),
            server_default="unfulfilled",
            nullable=True,
        ),
        sa.Column(
            "shipping_address",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "billing_address",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("tracking_number", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.Date(), server_default=sa.func.current_date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), server_default=sa.func.now(), nullable=True),
        sa.Column("shipped_at", sa.DateTime(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("order_number"),
    )
    op.create_index("idx_orders_created_at", "orders", ["created_at"])
    op.create_index("idx_orders_payment_status", "orders", ["payment_status"])
    op.create_index("idx_orders_status", "orders", ["status"])
    op.create_index(
        "idx_orders_user_id",
        "orders",
        ["user_id"],
        postgresql_where=sa.text("user_id IS NOT NULL"),
        sqlite_where=sa.text("user_id IS NOT NULL"),
    )

    op.create_table(
        "product_media",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.Column("file_id", sa.Integer(), nullable=True),
        sa.Column("media_purpose", sa.String(length=30), server_default="gallery", nullable=True),
        sa.Column(
            "variant_attributes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("alt_text", sa.String(length=255), nullable=True),
        sa.Column("caption", sa.Text(), nullable=True),
        sa.Column("sort_order", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("is_primary", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("usage_context", sa.String(length=50), nullable=True),
        sa.Column(
            "display_conditions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(), server_default=sa.func.now(), nullable=True),
        sa.ForeignKeyConstraint(["file_id"], ["uploaded_files.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("idx_product_media_file_id", "product_media", ["file_id"])
    op.create_index(
        "idx_product_media_primary_unique",
        "product_media",
        ["product_id"],
        unique=True,
        postgresql_where=sa.text("is_primary = true"),
        sqlite_where=sa.text("is_primary = true"),
    )
    op.create_index("idx_product_media_product_id", "product_media", ["product_id"])
    op.create_index("idx_product_media_purpose", "product_media", ["media_purpose"])
    op.create_index("idx_product_media_sort_order", "product_media", ["product_id", "sort_order"])

    op.create_table(
        "product_questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column(
            "skin_type_context",
            sa.Enum(
                "oily",
                "dry",
                "combination",
                "sensitive",
                "normal",
                "acne",
                "all",
                name="skin_type",
                create_constraint=True,
            ),
            nullable=True,
        ),
        sa.Column("age_range", sa.String(length=20), nullable=True),
        sa.Column(
            "skin_concerns_context", sa.JSON().with_variant(sa.ARRAY(sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column("is_answered", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("answer_count", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("helpful_votes", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "approved",
                "rejected",
                "flagged",
                "hidden",
                name="feedback_status",
                create_constraint=True,
            ),
            server_default="pending",
            nullable=True,
        ),
        sa.Column("question_category", sa.String(length=50), nullable=True),
        sa.Column(
            "urgency_level",
            sa.String(length=10),
            sa.CheckConstraint("urgency_level IN ('low', 'normal', 'high')"),
            server_default="normal",
            nullable=True,
        ),
        sa.Column("has_media", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("media_count", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.func.now(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), server_default=sa.func.now(), nullable=True),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("idx_product_questions_answered", "product_questions", ["is_answered"])
    op.create_index(
        "idx_product_questions_category",
        "product_questions",
        ["question_category"],
        postgresql_where=sa.text("question_category IS NOT NULL"),
        sqlite_where=sa.text("question_category IS NOT NULL"),
    )
    op.create_index(
        "idx_product_questions_has_media",
        "product_questions",
        ["has_media"],
        postgresql_where=sa.text("has_media = true"),
        sqlite_where=sa.text("has_media = true"),
    )
    op.create_index("idx_product_questions_product_id", "product_questions", ["product_id"])
    op.create_index(
        "idx_product_questions_status",
        "product_questions",
        ["status"],
        postgresql_where=sa.text("status = 'approved'"),
        sqlite_where=sa.text("status = 'approved'"),
    )
    op.create_index(
        "idx_product_questions_user_id",
        "product_questions",
        ["user_id"],
        postgresql_where=sa.text("user_id IS NOT NULL"),
        sqlite_where=sa.text("user_id IS NOT NULL"),
    )

    op.create_table(
        "skincare_progress",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.Column(
            "week_number",
            sa.Integer(),
            sa.CheckConstraint("week_number > 0 AND week_number <= 52"),
            nullable=False,
        ),
        sa.Column("progress_date", sa.Date(), server_default=sa.func.current_date(), nullable=True),
        sa.Column("skin_condition_notes", sa.Text(), nullable=True),
        sa.Column("application_notes", sa.Text(), nullable=True),
        sa.Column("lifestyle_factors", sa.Text(), nullable=True),
        sa.Column(
            "overall_satisfaction",
            sa.Integer(),
            sa.CheckConstraint("overall_satisfaction BETWEEN 1 AND 5"),
            nullable=True,
        ),
        sa.Column(
            "skin_improvement",
            sa.Integer(),
            sa.CheckConstraint("skin_improvement BETWEEN 1 AND 5"),
            nullable=True,
        ),
        sa.Column(
            "side_effects_severity",
            sa.Integer(),
            sa.CheckConstraint("side_effects_severity BETWEEN 0 AND 5"),
            nullable=True,
        ),
        sa.Column(
            "product_experience",
            sa.Integer(),
            sa.CheckConstraint("product_experience BETWEEN 1 AND 5"),
            nullable=True,
        ),
        sa.Column("acne_reduced", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("skin_texture_improved", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("hydration_improved", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("redness_reduced", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("pores_minimized", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("brightness_improved", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("scarring_reduced", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("oil_control_improved", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("fine_lines_reduced", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("has_photos", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("photo_count", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column(
            "status",
            sa.Enum("ongoing", "completed", "abandoned", name="progress_status", create_constraint=True),
            server_default="ongoing",
            nullable=True,
        ),
        sa.Column("completion_notes", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.func.now(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), server_default=sa.func.now(), nullable=True),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "product_id", "week_number"),
    )
    op.create_index(
        "idx_skincare_progress_has_photos",
        "skincare_progress",
        ["has_photos"],
        postgresql_where=sa.text("has_photos = true"),
        sqlite_where=sa.text("has_photos = true"),
    )
    op.create_index(
        "idx_skincare_progress_satisfaction",
        "skincare_progress",
        ["overall_satisfaction"],
        postgresql_where=sa.text("overall_satisfaction IS NOT NULL"),
        sqlite_where=sa.text("overall_satisfaction IS NOT NULL"),
    )
    op.create_index("idx_skincare_progress_status", "skincare_progress", ["status"])
    op.create_index("idx_skincare_progress_user_product", "skincare_progress", ["user_id", "product_id"])
    op.create_index("idx_skincare_progress_week", "skincare_progress", ["week_number"])

    op.create_table(
        "wishlist_feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.Column("interest_reason", sa.Text(), nullable=True),
        sa.Column("hesitation_reason", sa.Text(), nullable=True),
        sa.Column(
            "purchase_triggers",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("notify_on_sale", sa.Boolean(), server_default=sa.true(), nullable=True),
        sa.Column("notify_on_reviews", sa.Boolean(), server_default=sa.true(), nullable=True),
        sa.Column("notify_on_restock", sa.Boolean(), server_default=sa.true(), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.func.now(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), server_default=sa.func.now(), nullable=True),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "wishlists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.func.now(), nullable=True),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "product_id"),
    )
    op.create_index("idx_wishlists_product_id", "wishlists", ["product_id"])
    op.create_index("idx_wishlists_user_id", "wishlists", ["user_id"])

    op.create_table(
        "order_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.Column("product_name", sa.String(length=255), nullable=False),
        sa.Column("product_sku", sa.String(length=100), nullable=True),
        sa.Column("quantity", sa.Integer(), sa.CheckConstraint("quantity > 0"), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column("total_price", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=sa.func.now(), nullable=True),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("idx_order_items_order_id", "order_items", ["order_id"])
    op.create_index("idx_order_items_product_id", "order_items", ["product_id"])
    op.create_index("idx_order_items_user_product", "order_items", ["order_id", "product_id"])

    op.create_table(
        "product_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("is_from_verified_buyer", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("is_from_expert", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("expert_credentials", sa.Text(), nullable=True),
        sa.Column("helpful_votes", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("unhelpful_votes", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("is_verified_by_admin", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("verified_at", sa.DateTime(), nullable=True),
        sa.Column("verified_by", sa.Integer(), nullable=True),
        sa.Column("verification_notes", sa.Text(), nullable=True),
        sa.Column("has_media", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("media_count", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "approved",
                "rejected",
                "flagged",
                "hidden",
                name="feedback_status",
                create_constraint=True,
            ),
            server_default="pending",
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(), server_default=sa.func.now(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), server_default=sa.func.now(), nullable=True),
        sa.ForeignKeyConstraint(["question_id"], ["product_questions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["verified_by"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "idx_product_answers_expert",
        "product_answers",
        ["is_from_expert"],
        postgresql_where=sa.text("is_from_expert = true"),
        sqlite_where=sa.text("is_from_expert = true"),
    )
    op.create_index(
        "idx_product_answers_helpful",
        "product_answers",
        [sa.literal_column("helpful_votes DESC")],
        postgresql_where=sa.text("helpful_votes > 0"),
        sqlite_where=sa.text("helpful_votes > 0"),
    )
    op.create_index("idx_product_answers_question_id", "product_answers", ["question_id"])
    op.create_index(
        "idx_product_answers_user_id",
        "product_answers",
        ["user_id"],
        postgresql_where=sa.text("user_id IS NOT NULL"),
        sqlite_where=sa.text("user_id IS NOT NULL"),
    )
    op.create_index(
        "idx_product_answers_verified",
        "product_answers",
        ["is_verified_by_admin"],
        postgresql_where=sa.text("is_verified_by_admin = true"),
        sqlite_where=sa.text("is_verified_by_admin = true"),
    )

    op.create_table(
        "progress_media",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("progress_id", sa.Integer(), nullable=True),
        sa.Column("file_id", sa.Integer(), nullable=True),
        sa.Column(
            "photo_type",
            sa.String(length=20),
            sa.CheckConstraint("photo_type IN ('progress', 'side_effect', 'baseline', 'comparison')"),
            server_default="progress",
            nullable=True,
        ),
        sa.Column("skin_area", sa.String(length=30), nullable=True),
        sa.Column("angle", sa.String(length=20), nullable=True),
        sa.Column(
            "lighting_condition",
            sa.String(length=20),
            sa.CheckConstraint("lighting_condition IN ('natural', 'indoor', 'flash', 'consistent_setup')"),
            nullable=True,
        ),
        sa.Column(
            "photo_quality_score",
            sa.Integer(),
            sa.CheckConstraint("photo_quality_score BETWEEN 1 AND 5"),
            nullable=True,
        ),
        sa.Column("lighting_consistency", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("angle_consistency", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("photo_notes", sa.Text(), nullable=True),
        sa.Column("comparison_notes", sa.Text(), nullable=True),
        sa.Column("sort_order", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("is_featured", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.func.now(), nullable=True),
        sa.ForeignKeyConstraint(["file_id"], ["uploaded_files.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["progress_id"], ["skincare_progress.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "idx_progress_media_featured",
        "progress_media",
        ["is_featured"],
        postgresql_where=sa.text("is_featured = true"),
        sqlite_where=sa.text("is_featured = true"),
    )
    op.create_index("idx_progress_media_file_id", "progress_media", ["file_id"])
    op.create_index("idx_progress_media_photo_type", "progress_media", ["photo_type"])
    op.create_index("idx_progress_media_progress_id", "progress_media", ["progress_id"])

    op.create_table(
        "question_media",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=True),
        sa.Column("file_id", sa.Integer(), nullable=True),
        sa.Column("media_purpose", sa.String(length=30), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("sort_order", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.func.now(), nullable=True),
        sa.ForeignKeyConstraint(["file_id"], ["uploaded_files.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["question_id"], ["product_questions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("idx_question_media_file_id", "question_media", ["file_id"])
    op.create_index("idx_question_media_question_id", "question_media", ["question_id"])

    op.create_table(
        "answer_media",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("answer_id", sa.Integer(), nullable=True),
        sa.Column("file_id", sa.Integer(), nullable=True),
        sa.Column("media_purpose", sa.String(length=30), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("sort_order", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.func.now(), nullable=True),
        sa.ForeignKeyConstraint(["answer_id"], ["product_answers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["file_id"], ["uploaded_files.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("idx_answer_media_answer_id", "answer_media", ["answer_id"])
    op.create_index("idx_answer_media_file_id", "answer_media", ["file_id"])

    op.create_table(
        "product_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("order_item_id", sa.Integer(), nullable=True),
        sa.Column("rating", sa.Integer(), sa.CheckConstraint("rating >= 1 AND rating <= 5"), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=True),
        sa.Column("review_text", sa.Text(), nullable=True),
        sa.Column(
            "skin_type_at_review",
            sa.Enum(
                "oily",
                "dry",
                "combination",
                "sensitive",
                "normal",
                "acne",
                "all",
                name="skin_type",
                create_constraint=True,
            ),
            nullable=True,
        ),
        sa.Column("usage_duration", sa.Integer(), sa.CheckConstraint("usage_duration >= 0"), nullable=True),
        sa.Column("visible_results", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("would_recommend", sa.Boolean(), server_default=sa.true(), nullable=True),
        sa.Column(
            "effectiveness_rating",
            sa.Integer(),
            sa.CheckConstraint("effectiveness_rating BETWEEN 1 AND 5"),
            nullable=True,
        ),
        sa.Column(
            "texture_rating",
            sa.Integer(),
            sa.CheckConstraint("texture_rating BETWEEN 1 AND 5"),
            nullable=True,
        ),
        sa.Column(
            "scent_rating", sa.Integer(), sa.CheckConstraint("scent_rating BETWEEN 1 AND 5"), nullable=True
        ),
        sa.Column(
            "packaging_rating",
            sa.Integer(),
            sa.CheckConstraint("packaging_rating BETWEEN 1 AND 5"),
            nullable=True,
        ),
        sa.Column(
            "value_for_money_rating",
            sa.Integer(),
            sa.CheckConstraint("value_for_money_rating BETWEEN 1 AND 5"),
            nullable=True,
        ),
        sa.Column("skin_condition_before", sa.Text(), nullable=True),
        sa.Column("skin_condition_after", sa.Text(), nullable=True),
        sa.Column("side_effects", sa.Text(), nullable=True),
        sa.Column(
            "how_often_used",
            sa.Enum(
                "daily",
                "twice_daily",
                "weekly",
                "2-3_times_week",
                "as_needed",
                name="usage_frequency",
                create_constraint=True,
            ),
            nullable=True,
        ),
        sa.Column("application_method", sa.Text(), nullable=True),
        sa.Column(
            "used_with_other_products",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("is_verified_purchase", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("helpful_votes_count", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("unhelpful_votes_count", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("total_votes_count", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "pending", "approved", "rejected", "flagged", name="review_status", create_constraint=True
            ),
            server_default="pending",
            nullable=True,
        ),
        sa.Column("has_photos", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("has_video", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("media_count", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column(
            "sentiment_score",
            sa.Numeric(precision=3, scale=2),
            sa.CheckConstraint("sentiment_score BETWEEN -1 AND 1"),
            nullable=True,
        ),
        sa.Column(
            "sentiment_label",
            sa.String(length=20),
            sa.CheckConstraint("sentiment_label IN ('positive', 'negative', 'neutral')"),
            nullable=True,
        ),
        sa.Column(
            "extracted_topics",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(), server_default=sa.func.now(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), server_default=sa.func.now(), nullable=True),
        sa.ForeignKeyConstraint(["order_item_id"], ["order_items.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "idx_product_reviews_has_media",
        "product_reviews",
        ["has_photos", "has_video"],
        postgresql_where=sa.text("has_photos = true OR has_video = true"),
        sqlite_where=sa.text("has_photos = true OR has_video = true"),
    )
    op.create_index(
        "idx_product_reviews_helpful",
        "product_reviews",
        [sa.literal_column("helpful_votes_count DESC")],
        postgresql_where=sa.text("helpful_votes_count > 0"),
        sqlite_where=sa.text("helpful_votes_count > 0"),
    )
    op.create_index("idx_product_reviews_product_id", "product_reviews", ["product_id"])
    op.create_index("idx_product_reviews_rating", "product_reviews", ["rating"])
    op.create_index(
        "idx_product_reviews_sentiment",
        "product_reviews",
        ["sentiment_score"],
        postgresql_where=sa.text("sentiment_score IS NOT NULL"),
        sqlite_where=sa.text("sentiment_score IS NOT NULL"),
    )
    op.create_index(
        "idx_product_reviews_skin_type",
        "product_reviews",
        ["skin_type_at_review"],
        postgresql_where=sa.text("skin_type_at_review IS NOT NULL"),
        sqlite_where=sa.text("skin_type_at_review IS NOT NULL"),
    )
    op.create_index(
        "idx_product_reviews_status",
        "product_reviews",
        ["status"],
        postgresql_where=sa.text("status = 'approved'"),
        sqlite_where=sa.text("status = 'approved'"),
    )
    op.create_index(
        "idx_product_reviews_user_id",
        "product_reviews",
        ["user_id"],
        postgresql_where=sa.text("user_id IS NOT NULL"),
        sqlite_where=sa.text("user_id IS NOT NULL"),
    )
    op.create_index(
        "idx_product_reviews_verified",
        "product_reviews",
        ["is_verified_purchase"],
        postgresql_where=sa.text("is_verified_purchase = true"),
        sqlite_where=sa.text("is_verified_purchase = true"),
    )
    op.create_index(
        "idx_product_reviews_visible_results",
        "product_reviews",
        ["visible_results"],
        postgresql_where=sa.text("visible_results = true"),
        sqlite_where=sa.text("visible_results = true"),
    )

    op.create_table(
        "review_media",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("review_id", sa.Integer(), nullable=True),
        sa.Column("file_id", sa.Integer(), nullable=True),
        sa.Column(
            "media_type",
            sa.String(length=20),
            sa.CheckConstraint("media_type IN ('photo', 'video')"),
            nullable=False,
        ),
        sa.Column("photo_type", sa.String(length=20), nullable=True),
        sa.Column("photo_context", sa.Text(), nullable=True),
        sa.Column("skin_area", sa.String(length=30), nullable=True),
        sa.Column("lighting_condition", sa.String(length=20), nullable=True),
        sa.Column("timeline_context", sa.String(length=50), nullable=True),
        sa.Column("days_of_usage", sa.Integer(), sa.CheckConstraint("days_of_usage >= 0"), nullable=True),
        sa.Column("sort_order", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("is_featured", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.func.now(), nullable=True),
        sa.CheckConstraint(
            "(media_type = 'photo' AND photo_type IS NOT NULL) "
            "OR (media_type = 'video' AND photo_type IS NULL)",
            name="valid_photo_type_for_media",
        ),
        sa.ForeignKeyConstraint(["file_id"], ["uploaded_files.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["review_id"], ["product_reviews.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "idx_review_media_featured",
        "review_media",
        ["is_featured"],
        postgresql_where=sa.text("is_featured = true"),
        sqlite_where=sa.text("is_featured = true"),
    )
    op.create_index("idx_review_media_file_id", "review_media", ["file_id"])
    op.create_index(
        "idx_review_media_photo_type",
        "review_media",
        ["photo_type"],
        postgresql_where=sa.text("photo_type IS NOT NULL"),
        sqlite_where=sa.text("photo_type IS NOT NULL"),
    )
    op.create_index("idx_review_media_review_id", "review_media", ["review_id"])
    op.create_index(
        "idx_review_media_timeline",
        "review_media",
        ["timeline_context"],
        postgresql_where=sa.text("timeline_context IS NOT NULL"),
        sqlite_where=sa.text("timeline_context IS NOT NULL"),
    )

    op.create_table(
        "review_votes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("review_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column(
            "vote_type",
            sa.String(length=10),
            sa.CheckConstraint("vote_type IN ('helpful', 'unhelpful')"),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(), server_default=sa.func.now(), nullable=True),
        sa.ForeignKeyConstraint(["review_id"], ["product_reviews.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("review_id", "user_id"),
    )
    op.create_index("idx_review_votes_review_id", "review_votes", ["review_id"])
    op.create_index("idx_review_votes_user_id", "review_votes", ["user_id"])
    op.create_index("idx_review_votes_vote_type", "review_votes", ["vote_type"])


def downgrade() -> None:
    if op.get_context().dialect.supports_alter:
        op.drop_constraint(UPLOADED_BY_FK, "uploaded_files", type_="foreignkey")
    # Children before parents; dropping a table drops its indexes.
    for table in (
        "review_votes",
        "review_media",
        "product_reviews",
        "answer_media",
        "question_media",
        "progress_media",
        "product_answers",
        "order_items",
        "wishlists",
        "wishlist_feedback",
        "skincare_progress",
        "product_questions",
        "product_media",
        "orders",
        "notifications",
        "moderation_queue",
        "users",
        "products",
        "categories",
        "uploaded_files",
        "jobs",
        "file_upload_configs",
    ):
        op.drop_table(table)
    if op.get_context().dialect.name == "postgresql":
        for name in ENUM_TYPES:
            op.execute(f"DROP TYPE {name}")
