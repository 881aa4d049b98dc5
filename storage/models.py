"""Typed models for the seed tables the workers touch, plus the project's own ``jobs`` ledger.

Names, types, defaults, constraints and indexes follow the seed schema
(``skincare-backend-design.md``), so on PostgreSQL the tables, enums and constraint names are
the seed's. The seed's PL/pgSQL triggers are not created: the workers maintain the counters.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import CheckConstraint, ForeignKey, Index, UniqueConstraint, func, text
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base, JSONType, TextArray, utcnow

# ---------------------------------------------------------------------------------------------
# Enums: the member value is the database value; PostgreSQL gets the seed's native types.
# ---------------------------------------------------------------------------------------------


class UserRole(enum.StrEnum):
    customer = "customer"
    admin = "admin"
    moderator = "moderator"
    expert = "expert"


class UserLanguage(enum.StrEnum):
    en = "en"
    kh = "kh"


class SkinType(enum.StrEnum):
    oily = "oily"
    dry = "dry"
    combination = "combination"
    sensitive = "sensitive"
    normal = "normal"
    acne = "acne"
    all = "all"


class ProductStatus(enum.StrEnum):
    draft = "draft"
    active = "active"
    archived = "archived"


class OrderStatus(enum.StrEnum):
    pending = "pending"
    confirmed = "confirmed"
    processing = "processing"
    shipped = "shipped"
    delivered = "delivered"
    cancelled = "cancelled"
    refunded = "refunded"


class PaymentStatus(enum.StrEnum):
    pending = "pending"
    paid = "paid"
    partially_paid = "partially_paid"
    refunded = "refunded"
    partially_refunded = "partially_refunded"
    failed = "failed"


class FulfillmentStatus(enum.StrEnum):
    unfulfilled = "unfulfilled"
    partial = "partial"
    fulfilled = "fulfilled"
    shipped = "shipped"
    delivered = "delivered"


class ReviewStatus(enum.StrEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"
    flagged = "flagged"


class FeedbackStatus(enum.StrEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"
    flagged = "flagged"
    hidden = "hidden"


class ProgressStatus(enum.StrEnum):
    ongoing = "ongoing"
    completed = "completed"
    abandoned = "abandoned"


class ModerationStatus(enum.StrEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"
    needs_review = "needs_review"


class UsageFrequency(enum.StrEnum):
    daily = "daily"
    twice_daily = "twice_daily"
    weekly = "weekly"
    two_three_times_week = "2-3_times_week"
    as_needed = "as_needed"


class FileStatus(enum.StrEnum):
    uploading = "uploading"
    processing = "processing"
    active = "active"
    deleted = "deleted"
    failed = "failed"


class MediaType(enum.StrEnum):
    image = "image"
    video = "video"
    document = "document"
    audio = "audio"


class VirusScanStatus(enum.StrEnum):
    pending = "pending"
    clean = "clean"
    infected = "infected"
    failed = "failed"
    skipped = "skipped"


class JobState(enum.StrEnum):
    queued = "queued"
    running = "running"
    retrying = "retrying"
    succeeded = "succeeded"
    failed = "failed"
    dead = "dead"


def _values(py_enum: type[enum.Enum]) -> list[str]:
    return [member.value for member in py_enum]


def _enum(py_enum: type[enum.Enum], name: str) -> sa.Enum:
    """Native ``name`` type on PostgreSQL; VARCHAR with a CHECK of the values elsewhere."""
    return sa.Enum(py_enum, name=name, values_callable=_values, create_constraint=True)


USER_ROLE = _enum(UserRole, "user_role")
USER_LANGUAGE = _enum(UserLanguage, "user_language")
SKIN_TYPE = _enum(SkinType, "skin_type")
PRODUCT_STATUS = _enum(ProductStatus, "product_status")
ORDER_STATUS = _enum(OrderStatus, "order_status")
PAYMENT_STATUS = _enum(PaymentStatus, "payment_status")
FULFILLMENT_STATUS = _enum(FulfillmentStatus, "fulfillment_status")
REVIEW_STATUS = _enum(ReviewStatus, "review_status")
FEEDBACK_STATUS = _enum(FeedbackStatus, "feedback_status")
PROGRESS_STATUS = _enum(ProgressStatus, "progress_status")
MODERATION_STATUS = _enum(ModerationStatus, "moderation_status")
USAGE_FREQUENCY = _enum(UsageFrequency, "usage_frequency")
FILE_STATUS = _enum(FileStatus, "file_status")
MEDIA_TYPE = _enum(MediaType, "media_type")
VIRUS_SCAN_STATUS = _enum(VirusScanStatus, "virus_scan_status")
JOB_STATE = _enum(JobState, "job_state")

# Server defaults spelled so both PostgreSQL and SQLite accept them.
TRUE = sa.true()
FALSE = sa.false()
ZERO = text("0")
NOW = func.now()


def _partial(name: str, *columns: Any, where: str, **kw: Any) -> Index:
    """An index over the rows matching ``where`` only, on PostgreSQL and on SQLite alike."""
    return Index(name, *columns, postgresql_where=text(where), sqlite_where=text(where), **kw)


def _fk(target: str, ondelete: str) -> ForeignKey:
    return ForeignKey(target, ondelete=ondelete)


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------


class UploadedFile(Base):
    """One stored file (original upload) with its processing, scan and storage metadata."""

    __tablename__ = "uploaded_files"
    __table_args__ = (
        CheckConstraint(
            "CASE "
            "WHEN mime_type LIKE 'image/%' "
            "THEN file_extension IN ('jpg', 'jpeg', 'png', 'gif', 'webp', 'svg') "
            "WHEN mime_type LIKE 'video/%' THEN file_extension IN ('mp4', 'mov', 'avi', 'webm', 'mkv') "
            "WHEN mime_type LIKE 'audio/%' THEN file_extension IN ('mp3', 'wav', 'ogg', 'm4a') "
            "ELSE true END",
            name="valid_file_extension",
        ),
        Index("idx_uploaded_files_upload_context", "upload_context"),
        _partial("idx_uploaded_files_status", "status", where="status = 'active'"),
        _partial("idx_uploaded_files_uploaded_by", "uploaded_by", where="uploaded_by IS NOT NULL"),
        _partial(
            "idx_uploaded_files_related_entity",
            "related_entity_type",
            "related_entity_id",
            where="related_entity_type IS NOT NULL",
        ),
        _partial("idx_uploaded_files_temporary", "is_temporary", "expires_at", where="is_temporary = true"),
        _partial("idx_uploaded_files_virus_scan", "virus_scan_status", where="virus_scan_status = 'pending'"),
        _partial("idx_uploaded_files_content_hash", "content_hash", where="content_hash IS NOT NULL"),
        Index("idx_uploaded_files_created_at", "created_at"),
        _partial("idx_uploaded_files_cloud_provider", "cloud_provider", where="cloud_provider IS NOT NULL"),
        # Not in the seed (migration 0005): the cleanup looks rows up by their bytes' key, for
        # shared bytes and for what a crashed intake left in incoming/ (a prefix LIKE).
        Index("idx_uploaded_files_file_path", "file_path", postgresql_ops={"file_path": "text_pattern_ops"}),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    filename: Mapped[str] = mapped_column(sa.String(255))
    original_filename: Mapped[str] = mapped_column(sa.String(255))
    file_path: Mapped[str] = mapped_column(sa.String(500))
    file_url: Mapped[str] = mapped_column(sa.String(500))
    file_size: Mapped[int] = mapped_column(sa.BigInteger, CheckConstraint("file_size > 0"))
    mime_type: Mapped[str] = mapped_column(sa.String(100))
    file_extension: Mapped[str] = mapped_column(sa.String(10))
    media_type: Mapped[MediaType] = mapped_column(MEDIA_TYPE)
    image_width: Mapped[int | None] = mapped_column(CheckConstraint("image_width > 0"))
    image_height: Mapped[int | None] = mapped_column(CheckConstraint("image_height > 0"))
    image_thumbnails: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    dominant_colors: Mapped[list[str] | None] = mapped_column(JSONType)
    # users and uploaded_files reference each other: this side is added by ALTER once both exist.
    uploaded_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL", use_alter=True, name="uploaded_files_uploaded_by_fkey")
    )
    upload_context: Mapped[str] = mapped_column(sa.String(50))
    related_entity_type: Mapped[str | None] = mapped_column(sa.String(50))
    related_entity_id: Mapped[int | None]
    status: Mapped[FileStatus | None] = mapped_column(FILE_STATUS, server_default="uploading")
    is_processed: Mapped[bool | None] = mapped_column(server_default=FALSE)
    processing_error: Mapped[str | None] = mapped_column(sa.Text)
    is_public: Mapped[bool | None] = mapped_column(server_default=TRUE)
    is_temporary: Mapped[bool | None] = mapped_column(server_default=FALSE)
    virus_scan_status: Mapped[VirusScanStatus | None] = mapped_column(
        VIRUS_SCAN_STATUS, server_default="pending"
    )
    virus_scan_result: Mapped[str | None] = mapped_column(sa.Text)
    content_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    cloud_provider: Mapped[str | None] = mapped_column(sa.String(20))
    cloud_bucket: Mapped[str | None] = mapped_column(sa.String(100))
    cloud_region: Mapped[str | None] = mapped_column(sa.String(50))
    created_at: Mapped[datetime | None] = mapped_column(server_default=NOW)
    updated_at: Mapped[datetime | None] = mapped_column(server_default=NOW)
    processed_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]


class FileUploadConfig(Base):
    """Limits and processing options for one upload context (profile, product, review, ...)."""

    __tablename__ = "file_upload_configs"

    id: Mapped[int] = mapped_column(primary_key=True)
    context: Mapped[str] = mapped_column(sa.String(50), unique=True)
    description: Mapped[str | None] = mapped_column(sa.Text)
    max_file_size: Mapped[int] = mapped_column(sa.BigInteger)
    allowed_mime_types: Mapped[list[str]] = mapped_column(TextArray)
    allowed_extensions: Mapped[list[str]] = mapped_column(TextArray)
    max_width: Mapped[int | None]
    max_height: Mapped[int | None]
    min_width: Mapped[int | None]
    min_height: Mapped[int | None]
    aspect_ratio_restrictions: Mapped[dict[str, float] | None] = mapped_column(JSONType)
    max_files_per_upload: Mapped[int | None] = mapped_column(server_default=text("1"))
    max_files_per_user: Mapped[int | None]
    max_total_size_per_user: Mapped[int | None] = mapped_column(sa.BigInteger)
    create_thumbnails: Mapped[bool | None] = mapped_column(server_default=TRUE)
    thumbnail_sizes: Mapped[dict[str, list[int]] | None] = mapped_column(
        JSONType, server_default='{"small": [150,150], "medium": [300,300]}'
    )
    compress_images: Mapped[bool | None] = mapped_column(server_default=TRUE)
    compression_quality: Mapped[int | None] = mapped_column(
        CheckConstraint("compression_quality BETWEEN 1 AND 100"), server_default=text("80")
    )
    convert_to_webp: Mapped[bool | None] = mapped_column(server_default=FALSE)
    storage_path: Mapped[str] = mapped_column(sa.String(255))
    is_public: Mapped[bool | None] = mapped_column(server_default=TRUE)
    require_authentication: Mapped[bool | None] = mapped_column(server_default=FALSE)
    enable_direct_upload: Mapped[bool | None] = mapped_column(server_default=FALSE)
    require_virus_scan: Mapped[bool | None] = mapped_column(server_default=FALSE)
    auto_approve: Mapped[bool | None] = mapped_column(server_default=TRUE)
    enable_watermark: Mapped[bool | None] = mapped_column(server_default=FALSE)
    watermark_text: Mapped[str | None] = mapped_column(sa.String(100))
    created_at: Mapped[datetime | None] = mapped_column(server_default=NOW)
    updated_at: Mapped[datetime | None] = mapped_column(server_default=NOW)


# ---------------------------------------------------------------------------------------------
# Users, categories, products
# ---------------------------------------------------------------------------------------------


class User(Base):
    """A shop account, with its profile media and community/storage counters."""

    __tablename__ = "users"
    __table_args__ = (
        # `~*` is PostgreSQL-only; SQLite has no regex operator.
        CheckConstraint(
            "email ~* '^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}$'", name="valid_email"
        ).ddl_if(dialect="postgresql"),
        Index("idx_users_email", "email"),
        Index("idx_users_role", "role"),
        Index("idx_users_skin_type", "skin_type"),
        _partial("idx_users_community_score", text("community_score DESC"), where="community_score > 0"),
        _partial(
            "idx_users_profile_picture_file",
            "profile_picture_file_id",
            where="profile_picture_file_id IS NOT NULL",
        ),
        _partial(
            "idx_users_password_reset_token",
            "password_reset_token",
            where="password_reset_token IS NOT NULL",
        ),
        _partial(
            "idx_users_email_verification",
            "email_verification_token",
            where="email_verification_token IS NOT NULL",
        ),
        _partial("idx_users_storage_usage", text("storage_used DESC"), where="storage_used > 0"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(255), unique=True)
    password: Mapped[str] = mapped_column(sa.String(255))
    first_name: Mapped[str | None] = mapped_column(sa.String(100))
    last_name: Mapped[str | None] = mapped_column(sa.String(100))
    phone: Mapped[str | None] = mapped_column(sa.String(20))
    date_of_birth: Mapped[date | None]
    gender: Mapped[str | None] = mapped_column(
        sa.String(10), CheckConstraint("gender IN ('male', 'female', 'other')")
    )
    skin_type: Mapped[SkinType | None] = mapped_column(SKIN_TYPE, server_default="normal")
    language: Mapped[UserLanguage | None] = mapped_column(USER_LANGUAGE, server_default="en")
    role: Mapped[UserRole | None] = mapped_column(USER_ROLE, server_default="customer")
    profile_picture_file_id: Mapped[int | None] = mapped_column(_fk("uploaded_files.id", "SET NULL"))
    profile_banner_file_id: Mapped[int | None] = mapped_column(_fk("uploaded_files.id", "SET NULL"))
    profile_picture: Mapped[str | None] = mapped_column(sa.String(500))
    bio: Mapped[str | None] = mapped_column(sa.Text)
    expertise_areas: Mapped[list[str] | None] = mapped_column(TextArray)
    is_active: Mapped[bool | None] = mapped_column(server_default=TRUE)
    email_verified: Mapped[bool | None] = mapped_column(server_default=FALSE)
    email_verification_token: Mapped[str | None] = mapped_column(sa.String(255))
    email_verified_at: Mapped[datetime | None]
    password_reset_token: Mapped[str | None] = mapped_column(sa.String(255))
    password_reset_expires: Mapped[datetime | None]
    total_orders: Mapped[int | None] = mapped_column(server_default=ZERO)
    total_spent: Mapped[Decimal | None] = mapped_column(sa.Numeric(10, 2), server_default=ZERO)
    avg_rating: Mapped[Decimal | None] = mapped_column(sa.Numeric(3, 2), server_default=ZERO)
    reviews_written: Mapped[int | None] = mapped_column(server_default=ZERO)
    helpful_votes_received: Mapped[int | None] = mapped_column(server_default=ZERO)
    questions_asked: Mapped[int | None] = mapped_column(server_default=ZERO)
    answers_provided: Mapped[int | None] = mapped_column(server_default=ZERO)
    community_score: Mapped[int | None] = mapped_column(server_default=ZERO)
    files_uploaded: Mapped[int | None] = mapped_column(server_default=ZERO)
    storage_used: Mapped[int | None] = mapped_column(sa.BigInteger, server_default=ZERO)
    created_at: Mapped[datetime | None] = mapped_column(server_default=NOW)
    updated_at: Mapped[datetime | None] = mapped_column(server_default=NOW)


class Category(Base):
    """A node in the product category tree, with optional image and banner files."""

    __tablename__ = "categories"
    __table_args__ = (
        _partial("idx_categories_parent_id", "parent_id", where="parent_id IS NOT NULL"),
        _partial("idx_categories_active", "is_active", where="is_active = true"),
        Index("idx_categories_sort_order", "sort_order"),
        _partial("idx_categories_image_file", "image_file_id", where="image_file_id IS NOT NULL"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    slug: Mapped[str] = mapped_column(sa.String(100), unique=True)
    description: Mapped[str | None] = mapped_column(sa.Text)
    parent_id: Mapped[int | None] = mapped_column(_fk("categories.id", "SET NULL"))
    image_file_id: Mapped[int | None] = mapped_column(_fk("uploaded_files.id", "SET NULL"))
    image_url: Mapped[str | None] = mapped_column(sa.String(500))
    banner_file_id: Mapped[int | None] = mapped_column(_fk("uploaded_files.id", "SET NULL"))
    is_active: Mapped[bool | None] = mapped_column(server_default=TRUE)
    sort_order: Mapped[int | None] = mapped_column(server_default=ZERO)
    created_at: Mapped[datetime | None] = mapped_column(server_default=NOW)
    updated_at: Mapped[datetime | None] = mapped_column(server_default=NOW)


class Product(Base):
    """A sellable product with skincare attributes and its rating/sales counters."""

    __tablename__ = "products"
    __table_args__ = (
        _partial("idx_products_status", "status", where="status = 'active'"),
        Index("idx_products_category", "category"),
        Index("idx_products_skin_type", "skin_type"),
        Index("idx_products_skin_concerns", "skin_concerns", postgresql_using="gin"),
        _partial("idx_products_featured", "is_featured", where="is_featured = true"),
        _partial("idx_products_avg_rating", text("avg_rating DESC"), where="avg_rating > 0"),
        _partial("idx_products_total_sales", text("total_sales DESC"), where="total_sales > 0"),
        _partial(
            "idx_products_main_image_file", "main_image_file_id", where="main_image_file_id IS NOT NULL"
        ),
        _partial("idx_products_price_range", "price", where="status = 'active'"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name_en: Mapped[str] = mapped_column(sa.String(255))
    name_kh: Mapped[str | None] = mapped_column(sa.String(255))
    slug: Mapped[str] = mapped_column(sa.String(255), unique=True)
    description_en: Mapped[str | None] = mapped_column(sa.Text)
    description_kh: Mapped[str | None] = mapped_column(sa.Text)
    short_description: Mapped[str | None] = mapped_column(sa.Text)
    sku: Mapped[str] = mapped_column(sa.String(100), unique=True)
    barcode: Mapped[str | None] = mapped_column(sa.String(100))
    price: Mapped[Decimal] = mapped_column(sa.Numeric(10, 2), CheckConstraint("price > 0"))
    compare_at_price: Mapped[Decimal | None] = mapped_column(
        sa.Numeric(10, 2), CheckConstraint("compare_at_price IS NULL OR compare_at_price >= price")
    )
    cost_price: Mapped[Decimal | None] = mapped_column(sa.Numeric(10, 2))
    stock: Mapped[int | None] = mapped_column(server_default=ZERO)
    track_inventory: Mapped[bool | None] = mapped_column(server_default=TRUE)
    allow_backorders: Mapped[bool | None] = mapped_column(server_default=FALSE)
    weight: Mapped[Decimal | None] = mapped_column(sa.Numeric(8, 2))
    dimensions: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    skin_type: Mapped[SkinType | None] = mapped_column(SKIN_TYPE, server_default="all")
    category: Mapped[str] = mapped_column(sa.String(50))
    skin_concerns: Mapped[list[str] | None] = mapped_column(TextArray)
    ingredients: Mapped[Any] = mapped_column(JSONType, nullable=True)
    usage_instructions: Mapped[str | None] = mapped_column(sa.Text)
    key_benefits: Mapped[list[str] | None] = mapped_column(TextArray)
    how_to_use: Mapped[str | None] = mapped_column(sa.Text)
    when_to_use: Mapped[str | None] = mapped_column(sa.Text)
    product_type: Mapped[str | None] = mapped_column(sa.String(50))
    suitable_for_sensitive_skin: Mapped[bool | None] = mapped_column(server_default=FALSE)
    dermatologist_tested: Mapped[bool | None] = mapped_column(server_default=FALSE)
    cruelty_free: Mapped[bool | None] = mapped_column(server_default=FALSE)
    main_image_file_id: Mapped[int | None] = mapped_column(_fk("uploaded_files.id", "SET NULL"))
    image_url: Mapped[str | None] = mapped_column(sa.String(500))
    meta_title: Mapped[str | None] = mapped_column(sa.String(255))
    meta_description: Mapped[str | None] = mapped_column(sa.Text)
    status: Mapped[ProductStatus | None] = mapped_column(PRODUCT_STATUS, server_default="active")
    is_featured: Mapped[bool | None] = mapped_column(server_default=FALSE)
    total_reviews: Mapped[int | None] = mapped_column(server_default=ZERO)
    avg_rating: Mapped[Decimal | None] = mapped_column(sa.Numeric(3, 2), server_default=ZERO)
    total_sales: Mapped[int | None] = mapped_column(server_default=ZERO)
    view_count: Mapped[int | None] = mapped_column(server_default=ZERO)
    created_at: Mapped[date | None] = mapped_column(server_default=func.current_date())
    updated_at: Mapped[datetime | None] = mapped_column(server_default=NOW)
    published_at: Mapped[datetime | None]


class ProductMedia(Base):
    """A file shown on a product page (gallery, main image, variant, instructions, ...)."""

    __tablename__ = "product_media"
    __table_args__ = (
        # The seed also declares UNIQUE (product_id, is_primary) DEFERRABLE, which would allow only
        # one non-primary image per product; this partial index is the rule it meant.
        _partial("idx_product_media_primary_unique", "product_id", where="is_primary = true", unique=True),
        Index("idx_product_media_product_id", "product_id"),
        Index("idx_product_media_file_id", "file_id"),
        Index("idx_product_media_purpose", "media_purpose"),
        Index("idx_product_media_sort_order", "product_id", "sort_order"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int | None] = mapped_column(_fk("products.id", "CASCADE"))
    file_id: Mapped[int | None] = mapped_column(_fk("uploaded_files.id", "CASCADE"))
    media_purpose: Mapped[str | None] = mapped_column(sa.String(30), server_default="gallery")
    variant_attributes: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    alt_text: Mapped[str | None] = mapped_column(sa.String(255))
    caption: Mapped[str | None] = mapped_column(sa.Text)
    sort_order: Mapped[int | None] = mapped_column(server_default=ZERO)
    is_primary: Mapped[bool | None] = mapped_column(server_default=FALSE)
    usage_context: Mapped[str | None] = mapped_column(sa.String(50))
    display_conditions: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime | None] = mapped_column(server_default=NOW)


# ---------------------------------------------------------------------------------------------
# Orders
# ---------------------------------------------------------------------------------------------


class Order(Base):
    """A customer order with its totals, statuses and address snapshots."""

    __tablename__ = "orders"
    __table_args__ = (
        _partial("idx_orders_user_id", "user_id", where="user_id IS NOT NULL"),
        Index("idx_orders_status", "status"),
        Index("idx_orders_created_at", "created_at"),
        Index("idx_orders_payment_status", "payment_status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_number: Mapped[str] = mapped_column(sa.String(50), unique=True)
    user_id: Mapped[int | None] = mapped_column(_fk("users.id", "SET NULL"))
    customer_name: Mapped[str | None] = mapped_column(sa.String(255))
    customer_email: Mapped[str] = mapped_column(sa.String(255))
    subtotal: Mapped[Decimal] = mapped_column(sa.Numeric(10, 2))
    tax_amount: Mapped[Decimal | None] = mapped_column(sa.Numeric(10, 2), server_default=ZERO)
    shipping_amount: Mapped[Decimal | None] = mapped_column(sa.Numeric(10, 2), server_default=ZERO)
    discount_amount: Mapped[Decimal | None] = mapped_column(sa.Numeric(10, 2), server_default=ZERO)
    total: Mapped[Decimal] = mapped_column(sa.Numeric(10, 2))
    status: Mapped[OrderStatus | None] = mapped_column(ORDER_STATUS, server_default="pending")
    payment_status: Mapped[PaymentStatus | None] = mapped_column(PAYMENT_STATUS, server_default="pending")
    fulfillment_status: Mapped[FulfillmentStatus | None] = mapped_column(
        FULFILLMENT_STATUS, server_default="unfulfilled"
    )
    shipping_address: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    billing_address: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    notes: Mapped[str | None] = mapped_column(sa.Text)
    tracking_number: Mapped[str | None] = mapped_column(sa.String(100))
    created_at: Mapped[date | None] = mapped_column(server_default=func.current_date())
    updated_at: Mapped[datetime | None] = mapped_column(server_default=NOW)
    shipped_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]


class OrderItem(Base):
    """One product line of an order, with a snapshot of name, SKU and prices."""

    __tablename__ = "order_items"
    __table_args__ = (
        Index("idx_order_items_order_id", "order_id"),
        Index("idx_order_items_product_id", "product_id"),
        Index("idx_order_items_user_product", "order_id", "product_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int | None] = mapped_column(_fk("orders.id", "CASCADE"))
    product_id: Mapped[int | None] = mapped_column(_fk("products.id", "RESTRICT"))
    product_name: Mapped[str] = mapped_column(sa.String(255))
    product_sku: Mapped[str | None] = mapped_column(sa.String(100))
    quantity: Mapped[int] = mapped_column(CheckConstraint("quantity > 0"))
    unit_price: Mapped[Decimal] = mapped_column(sa.Numeric(10, 2))
    total_price: Mapped[Decimal] = mapped_column(sa.Numeric(10, 2))
    created_at: Mapped[datetime | None] = mapped_column(server_default=NOW)


# ---------------------------------------------------------------------------------------------
# Reviews, progress, Q&A, wishlists
# ---------------------------------------------------------------------------------------------


class ProductReview(Base):
    """A customer's review of a product, with skincare ratings and sentiment analysis."""

    __tablename__ = "product_reviews"
    __table_args__ = (
        Index("idx_product_reviews_product_id", "product_id"),
        _partial("idx_product_reviews_user_id", "user_id", where="user_id IS NOT NULL"),
        _partial("idx_product_reviews_status", "status", where="status = 'approved'"),
        Index("idx_product_reviews_rating", "rating"),
        _partial(
            "idx_product_reviews_skin_type", "skin_type_at_review", where="skin_type_at_review IS NOT NULL"
        ),
        _partial("idx_product_reviews_verified", "is_verified_purchase", where="is_verified_purchase = true"),
        _partial("idx_product_reviews_visible_results", "visible_results", where="visible_results = true"),
        _partial("idx_product_reviews_sentiment", "sentiment_score", where="sentiment_score IS NOT NULL"),
        _partial(
            "idx_product_reviews_has_media",
            "has_photos",
            "has_video",
            where="has_photos = true OR has_video = true",
        ),
        _partial(
            "idx_product_reviews_helpful", text("helpful_votes_count DESC"), where="helpful_votes_count > 0"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int | None] = mapped_column(_fk("products.id", "CASCADE"))
    user_id: Mapped[int | None] = mapped_column(_fk("users.id", "SET NULL"))
    order_item_id: Mapped[int | None] = mapped_column(_fk("order_items.id", "SET NULL"))
    rating: Mapped[int] = mapped_column(CheckConstraint("rating >= 1 AND rating <= 5"))
    title: Mapped[str | None] = mapped_column(sa.String(255))
    review_text: Mapped[str | None] = mapped_column(sa.Text)
    skin_type_at_review: Mapped[SkinType | None] = mapped_column(SKIN_TYPE)
    usage_duration: Mapped[int | None] = mapped_column(CheckConstraint("usage_duration >= 0"))
    visible_results: Mapped[bool | None] = mapped_column(server_default=FALSE)
    would_recommend: Mapped[bool | None] = mapped_column(server_default=TRUE)
    effectiveness_rating: Mapped[int | None] = mapped_column(
        CheckConstraint("effectiveness_rating BETWEEN 1 AND 5")
    )
    texture_rating: Mapped[int | None] = mapped_column(CheckConstraint("texture_rating BETWEEN 1 AND 5"))
    scent_rating: Mapped[int | None] = mapped_column(CheckConstraint("scent_rating BETWEEN 1 AND 5"))
    packaging_rating: Mapped[int | None] = mapped_column(CheckConstraint("packaging_rating BETWEEN 1 AND 5"))
    value_for_money_rating: Mapped[int | None] = mapped_column(
        CheckConstraint("value_for_money_rating BETWEEN 1 AND 5")
    )
    skin_condition_before: Mapped[str | None] = mapped_column(sa.Text)
    skin_condition_after: Mapped[str | None] = mapped_column(sa.Text)
    side_effects: Mapped[str | None] = mapped_column(sa.Text)
    how_often_used: Mapped[UsageFrequency | None] = mapped_column(USAGE_FREQUENCY)
    application_method: Mapped[str | None] = mapped_column(sa.Text)
    used_with_other_products: Mapped[Any] = mapped_column(JSONType, nullable=True)
    is_verified_purchase: Mapped[bool | None] = mapped_column(server_default=FALSE)
    helpful_votes_count: Mapped[int | None] = mapped_column(server_default=ZERO)
    unhelpful_votes_count: Mapped[int | None] = mapped_column(server_default=ZERO)
    total_votes_count: Mapped[int | None] = mapped_column(server_default=ZERO)
    status: Mapped[ReviewStatus | None] = mapped_column(REVIEW_STATUS, server_default="pending")
    has_photos: Mapped[bool | None] = mapped_column(server_default=FALSE)
    has_video: Mapped[bool | None] = mapped_column(server_default=FALSE)
    media_count: Mapped[int | None] = mapped_column(server_default=ZERO)
    sentiment_score: Mapped[Decimal | None] = mapped_column(
        sa.Numeric(3, 2), CheckConstraint("sentiment_score BETWEEN -1 AND 1")
    )
    sentiment_label: Mapped[str | None] = mapped_column(
        sa.String(20), CheckConstraint("sentiment_label IN ('positive', 'negative', 'neutral')")
    )
    extracted_topics: Mapped[Any] = mapped_column(JSONType, nullable=True)
    created_at: Mapped[datetime | None] = mapped_column(server_default=NOW)
    updated_at: Mapped[datetime | None] = mapped_column(server_default=NOW)


class ReviewMedia(Base):
    """A photo or video attached to a review."""

    __tablename__ = "review_media"
    __table_args__ = (
        CheckConstraint(
            "(media_type = 'photo' AND photo_type IS NOT NULL) "
            "OR (media_type = 'video' AND photo_type IS NULL)",
            name="valid_photo_type_for_media",
        ),
        Index("idx_review_media_review_id", "review_id"),
        Index("idx_review_media_file_id", "file_id"),
        _partial("idx_review_media_photo_type", "photo_type", where="photo_type IS NOT NULL"),
        _partial("idx_review_media_timeline", "timeline_context", where="timeline_context IS NOT NULL"),
        _partial("idx_review_media_featured", "is_featured", where="is_featured = true"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int | None] = mapped_column(_fk("product_reviews.id", "CASCADE"))
    file_id: Mapped[int | None] = mapped_column(_fk("uploaded_files.id", "CASCADE"))
    media_type: Mapped[str] = mapped_column(
        sa.String(20), CheckConstraint("media_type IN ('photo', 'video')")
    )
    photo_type: Mapped[str | None] = mapped_column(sa.String(20))
    photo_context: Mapped[str | None] = mapped_column(sa.Text)
    skin_area: Mapped[str | None] = mapped_column(sa.String(30))
    lighting_condition: Mapped[str | None] = mapped_column(sa.String(20))
    timeline_context: Mapped[str | None] = mapped_column(sa.String(50))
    days_of_usage: Mapped[int | None] = mapped_column(CheckConstraint("days_of_usage >= 0"))
    sort_order: Mapped[int | None] = mapped_column(server_default=ZERO)
    is_featured: Mapped[bool | None] = mapped_column(server_default=FALSE)
    created_at: Mapped[datetime | None] = mapped_column(server_default=NOW)


class ReviewVote(Base):
    """One user's helpful/unhelpful vote on a review."""

    __tablename__ = "review_votes"
    __table_args__ = (
        UniqueConstraint("review_id", "user_id"),
        Index("idx_review_votes_review_id", "review_id"),
        Index("idx_review_votes_user_id", "user_id"),
        Index("idx_review_votes_vote_type", "vote_type"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int | None] = mapped_column(_fk("product_reviews.id", "CASCADE"))
    user_id: Mapped[int | None] = mapped_column(_fk("users.id", "CASCADE"))
    vote_type: Mapped[str | None] = mapped_column(
        sa.String(10), CheckConstraint("vote_type IN ('helpful', 'unhelpful')")
    )
    created_at: Mapped[datetime | None] = mapped_column(server_default=NOW)


class SkincareProgress(Base):
    """One week of a user's progress diary for a product."""

    __tablename__ = "skincare_progress"
    # The seed's `valid_progress_date` CHECK (progress_date <= CURRENT_DATE) is left out: it is not immutable.
    __table_args__ = (
        UniqueConstraint("user_id", "product_id", "week_number"),
        Index("idx_skincare_progress_user_product", "user_id", "product_id"),
        Index("idx_skincare_progress_week", "week_number"),
        _partial(
            "idx_skincare_progress_satisfaction",
            "overall_satisfaction",
            where="overall_satisfaction IS NOT NULL",
        ),
        Index("idx_skincare_progress_status", "status"),
        _partial("idx_skincare_progress_has_photos", "has_photos", where="has_photos = true"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(_fk("users.id", "CASCADE"))
    product_id: Mapped[int | None] = mapped_column(_fk("products.id", "CASCADE"))
    week_number: Mapped[int] = mapped_column(CheckConstraint("week_number > 0 AND week_number <= 52"))
    progress_date: Mapped[date | None] = mapped_column(server_default=func.current_date())
    skin_condition_notes: Mapped[str | None] = mapped_column(sa.Text)
    application_notes: Mapped[str | None] = mapped_column(sa.Text)
    lifestyle_factors: Mapped[str | None] = mapped_column(sa.Text)
    overall_satisfaction: Mapped[int | None] = mapped_column(
        CheckConstraint("overall_satisfaction BETWEEN 1 AND 5")
    )
    skin_improvement: Mapped[int | None] = mapped_column(CheckConstraint("skin_improvement BETWEEN 1 AND 5"))
    side_effects_severity: Mapped[int | None] = mapped_column(
        CheckConstraint("side_effects_severity BETWEEN 0 AND 5")
    )
    product_experience: Mapped[int | None] = mapped_column(
        CheckConstraint("product_experience BETWEEN 1 AND 5")
    )
    acne_reduced: Mapped[bool | None] = mapped_column(server_default=FALSE)
    skin_texture_improved: Mapped[bool | None] = mapped_column(server_default=FALSE)
    hydration_improved: Mapped[bool | None] = mapped_column(server_default=FALSE)
    redness_reduced: Mapped[bool | None] = mapped_column(server_default=FALSE)
    pores_minimized: Mapped[bool | None] = mapped_column(server_default=FALSE)
    brightness_improved: Mapped[bool | None] = mapped_column(server_default=FALSE)
    scarring_reduced: Mapped[bool | None] = mapped_column(server_default=FALSE)
    oil_control_improved: Mapped[bool | None] = mapped_column(server_default=FALSE)
    fine_lines_reduced: Mapped[bool | None] = mapped_column(server_default=FALSE)
    has_photos: Mapped[bool | None] = mapped_column(server_default=FALSE)
    photo_count: Mapped[int | None] = mapped_column(server_default=ZERO)
    status: Mapped[ProgressStatus | None] = mapped_column(PROGRESS_STATUS, server_default="ongoing")
    completion_notes: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime | None] = mapped_column(server_default=NOW)
    updated_at: Mapped[datetime | None] = mapped_column(server_default=NOW)


class ProgressMedia(Base):
    """A photo attached to a progress diary entry."""

    __tablename__ = "progress_media"
    __table_args__ = (
        Index("idx_progress_media_progress_id", "progress_id"),
        Index("idx_progress_media_file_id", "file_id"),
        Index("idx_progress_media_photo_type", "photo_type"),
        _partial("idx_progress_media_featured", "is_featured", where="is_featured = true"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    progress_id: Mapped[int | None] = mapped_column(_fk("skincare_progress.id", "CASCADE"))
    file_id: Mapped[int | None] = mapped_column(_fk("uploaded_files.id", "CASCADE"))
    photo_type: Mapped[str | None] = mapped_column(
        sa.String(20),
        CheckConstraint("photo_type IN ('progress', 'side_effect', 'baseline', 'comparison')"),
        server_default="progress",
    )
    skin_area: Mapped[str | None] = mapped_column(sa.String(30))
    angle: Mapped[str | None] = mapped_column(sa.String(20))
    lighting_condition: Mapped[str | None] = mapped_column(
        sa.String(20),
        CheckConstraint("lighting_condition IN ('natural', 'indoor', 'flash', 'consistent_setup')"),
    )
    photo_quality_score: Mapped[int | None] = mapped_column(
        CheckConstraint("photo_quality_score BETWEEN 1 AND 5")
    )
    lighting_consistency: Mapped[bool | None] = mapped_column(server_default=FALSE)
    angle_consistency: Mapped[bool | None] = mapped_column(server_default=FALSE)
    photo_notes: Mapped[str | None] = mapped_column(sa.Text)
    comparison_notes: Mapped[str | None] = mapped_column(sa.Text)
    sort_order: Mapped[int | None] = mapped_column(server_default=ZERO)
    is_featured: Mapped[bool | None] = mapped_column(server_default=FALSE)
    created_at: Mapped[datetime | None] = mapped_column(server_default=NOW)


class ProductQuestion(Base):
    """A question asked about a product, optionally with photos."""

    __tablename__ = "product_questions"
    __table_args__ = (
        Index("idx_product_questions_product_id", "product_id"),
        _partial("idx_product_questions_user_id", "user_id", where="user_id IS NOT NULL"),
        _partial("idx_product_questions_status", "status", where="status = 'approved'"),
        Index("idx_product_questions_answered", "is_answered"),
        _partial(
            "idx_product_questions_category", "question_category", where="question_category IS NOT NULL"
        ),
        _partial("idx_product_questions_has_media", "has_media", where="has_media = true"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int | None] = mapped_column(_fk("products.id", "CASCADE"))
    user_id: Mapped[int | None] = mapped_column(_fk("users.id", "SET NULL"))
    question: Mapped[str] = mapped_column(sa.Text)
    skin_type_context: Mapped[SkinType | None] = mapped_column(SKIN_TYPE)
    age_range: Mapped[str | None] = mapped_column(sa.String(20))
    skin_concerns_context: Mapped[list[str] | None] = mapped_column(TextArray)
    is_answered: Mapped[bool | None] = mapped_column(server_default=FALSE)
    answer_count: Mapped[int | None] = mapped_column(server_default=ZERO)
    helpful_votes: Mapped[int | None] = mapped_column(server_default=ZERO)
    status: Mapped[FeedbackStatus | None] = mapped_column(FEEDBACK_STATUS, server_default="pending")
    question_category: Mapped[str | None] = mapped_column(sa.String(50))
    urgency_level: Mapped[str | None] = mapped_column(
        sa.String(10),
        CheckConstraint("urgency_level IN ('low', 'normal', 'high')"),
        server_default="normal",
    )
    has_media: Mapped[bool | None] = mapped_column(server_default=FALSE)
    media_count: Mapped[int | None] = mapped_column(server_default=ZERO)
    created_at: Mapped[datetime | None] = mapped_column(server_default=NOW)
    updated_at: Mapped[datetime | None] = mapped_column(server_default=NOW)


class QuestionMedia(Base):
    """A photo or video attached to a product question."""

    __tablename__ = "question_media"
    __table_args__ = (
        Index("idx_question_media_question_id", "question_id"),
        Index("idx_question_media_file_id", "file_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int | None] = mapped_column(_fk("product_questions.id", "CASCADE"))
    file_id: Mapped[int | None] = mapped_column(_fk("uploaded_files.id", "CASCADE"))
    media_purpose: Mapped[str | None] = mapped_column(sa.String(30))
    description: Mapped[str | None] = mapped_column(sa.Text)
    sort_order: Mapped[int | None] = mapped_column(server_default=ZERO)
    created_at: Mapped[datetime | None] = mapped_column(server_default=NOW)


class ProductAnswer(Base):
    """An answer to a product question, possibly from an expert or verified buyer."""

    __tablename__ = "product_answers"
    __table_args__ = (
        Index("idx_product_answers_question_id", "question_id"),
        _partial("idx_product_answers_user_id", "user_id", where="user_id IS NOT NULL"),
        _partial("idx_product_answers_expert", "is_from_expert", where="is_from_expert = true"),
        _partial("idx_product_answers_verified", "is_verified_by_admin", where="is_verified_by_admin = true"),
        _partial("idx_product_answers_helpful", text("helpful_votes DESC"), where="helpful_votes > 0"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int | None] = mapped_column(_fk("product_questions.id", "CASCADE"))
    user_id: Mapped[int | None] = mapped_column(_fk("users.id", "SET NULL"))
    answer: Mapped[str] = mapped_column(sa.Text)
    is_from_verified_buyer: Mapped[bool | None] = mapped_column(server_default=FALSE)
    is_from_expert: Mapped[bool | None] = mapped_column(server_default=FALSE)
    expert_credentials: Mapped[str | None] = mapped_column(sa.Text)
    helpful_votes: Mapped[int | None] = mapped_column(server_default=ZERO)
    unhelpful_votes: Mapped[int | None] = mapped_column(server_default=ZERO)
    is_verified_by_admin: Mapped[bool | None] = mapped_column(server_default=FALSE)
    verified_at: Mapped[datetime | None]
    verified_by: Mapped[int | None] = mapped_column(_fk("users.id", "SET NULL"))
    verification_notes: Mapped[str | None] = mapped_column(sa.Text)
    has_media: Mapped[bool | None] = mapped_column(server_default=FALSE)
    media_count: Mapped[int | None] = mapped_column(server_default=ZERO)
    status: Mapped[FeedbackStatus | None] = mapped_column(FEEDBACK_STATUS, server_default="pending")
    created_at: Mapped[datetime | None] = mapped_column(server_default=NOW)
    updated_at: Mapped[datetime | None] = mapped_column(server_default=NOW)


class AnswerMedia(Base):
    """A photo or video supporting an answer."""

    __tablename__ = "answer_media"
    __table_args__ = (
        Index("idx_answer_media_answer_id", "answer_id"),
        Index("idx_answer_media_file_id", "file_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    answer_id: Mapped[int | None] = mapped_column(_fk("product_answers.id", "CASCADE"))
    file_id: Mapped[int | None] = mapped_column(_fk("uploaded_files.id", "CASCADE"))
    media_purpose: Mapped[str | None] = mapped_column(sa.String(30))
    description: Mapped[str | None] = mapped_column(sa.Text)
    sort_order: Mapped[int | None] = mapped_column(server_default=ZERO)
    created_at: Mapped[datetime | None] = mapped_column(server_default=NOW)


class Wishlist(Base):
    """A product a user saved for later."""

    __tablename__ = "wishlists"
    __table_args__ = (
        UniqueConstraint("user_id", "product_id"),
        Index("idx_wishlists_user_id", "user_id"),
        Index("idx_wishlists_product_id", "product_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(_fk("users.id", "CASCADE"))
    product_id: Mapped[int | None] = mapped_column(_fk("products.id", "CASCADE"))
    created_at: Mapped[datetime | None] = mapped_column(server_default=NOW)


class WishlistFeedback(Base):
    """Why a user wants (or hesitates over) a wishlisted product, and what to notify them of."""

    __tablename__ = "wishlist_feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(_fk("users.id", "CASCADE"))
    product_id: Mapped[int | None] = mapped_column(_fk("products.id", "CASCADE"))
    interest_reason: Mapped[str | None] = mapped_column(sa.Text)
    hesitation_reason: Mapped[str | None] = mapped_column(sa.Text)
    purchase_triggers: Mapped[Any] = mapped_column(JSONType, nullable=True)
    notify_on_sale: Mapped[bool | None] = mapped_column(server_default=TRUE)
    notify_on_reviews: Mapped[bool | None] = mapped_column(server_default=TRUE)
    notify_on_restock: Mapped[bool | None] = mapped_column(server_default=TRUE)
    created_at: Mapped[datetime | None] = mapped_column(server_default=NOW)
    updated_at: Mapped[datetime | None] = mapped_column(server_default=NOW)


# ---------------------------------------------------------------------------------------------
# Moderation and notifications
# ---------------------------------------------------------------------------------------------


class ModerationQueue(Base):
    """One piece of content (text or file) awaiting or having had moderation."""

    __tablename__ = "moderation_queue"
    __table_args__ = (
        _partial("idx_moderation_queue_status", "status", where="status = 'pending'"),
        Index("idx_moderation_queue_content_type", "content_type"),
        _partial("idx_moderation_queue_user_id", "user_id", where="user_id IS NOT NULL"),
        _partial("idx_moderation_queue_auto_flagged", "auto_flagged", where="auto_flagged = true"),
        _partial("idx_moderation_queue_file_id", "file_id", where="file_id IS NOT NULL"),
        Index("idx_moderation_queue_priority", "priority_level", "created_at"),
        _partial("idx_moderation_queue_escalated", "escalated", where="escalated = true"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    content_type: Mapped[str] = mapped_column(sa.String(50))
    content_id: Mapped[int]
    user_id: Mapped[int | None] = mapped_column(_fk("users.id", "SET NULL"))
    content_text: Mapped[str | None] = mapped_column(sa.Text)
    content_metadata: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    file_id: Mapped[int | None] = mapped_column(_fk("uploaded_files.id", "SET NULL"))
    contains_files: Mapped[bool | None] = mapped_column(server_default=FALSE)
    file_moderation_results: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    flagged_reasons: Mapped[list[str] | None] = mapped_column(TextArray)
    auto_flagged: Mapped[bool | None] = mapped_column(server_default=FALSE)
    user_reported: Mapped[bool | None] = mapped_column(server_default=FALSE)
    reported_by: Mapped[int | None] = mapped_column(_fk("users.id", "SET NULL"))
    report_reason: Mapped[str | None] = mapped_column(sa.Text)
    spam_probability: Mapped[Decimal | None] = mapped_column(
        sa.Numeric(3, 2), CheckConstraint("spam_probability BETWEEN 0 AND 1")
    )
    toxicity_score: Mapped[Decimal | None] = mapped_column(
        sa.Numeric(3, 2), CheckConstraint("toxicity_score BETWEEN 0 AND 1")
    )
    medical_claims_detected: Mapped[bool | None] = mapped_column(server_default=FALSE)
    inappropriate_content_detected: Mapped[bool | None] = mapped_column(server_default=FALSE)
    nsfw_score: Mapped[Decimal | None] = mapped_column(
        sa.Numeric(3, 2), CheckConstraint("nsfw_score BETWEEN 0 AND 1")
    )
    violence_score: Mapped[Decimal | None] = mapped_column(
        sa.Numeric(3, 2), CheckConstraint("violence_score BETWEEN 0 AND 1")
    )
    has_faces: Mapped[bool | None] = mapped_column(server_default=FALSE)
    face_count: Mapped[int | None] = mapped_column(server_default=ZERO)
    image_quality_score: Mapped[Decimal | None] = mapped_column(sa.Numeric(3, 2))
    status: Mapped[ModerationStatus | None] = mapped_column(MODERATION_STATUS, server_default="pending")
    reviewed_by: Mapped[int | None] = mapped_column(_fk("users.id", "SET NULL"))
    review_notes: Mapped[str | None] = mapped_column(sa.Text)
    reviewed_at: Mapped[datetime | None]
    priority_level: Mapped[int | None] = mapped_column(
        CheckConstraint("priority_level BETWEEN 1 AND 5"), server_default=text("3")
    )
    escalated: Mapped[bool | None] = mapped_column(server_default=FALSE)
    escalated_at: Mapped[datetime | None]
    escalated_by: Mapped[int | None] = mapped_column(_fk("users.id", "SET NULL"))
    created_at: Mapped[datetime | None] = mapped_column(server_default=NOW)
    updated_at: Mapped[datetime | None] = mapped_column(server_default=NOW)


class Notification(Base):
    """A message for a user, with its delivery state per channel (email, push, SMS)."""

    __tablename__ = "notifications"
    __table_args__ = (
        CheckConstraint("expires_at IS NULL OR expires_at > created_at", name="valid_notification_expiry"),
        Index("idx_notifications_user_id", "user_id"),
        _partial(
            "idx_notifications_unread",
            "user_id",
            "is_read",
            text("created_at DESC"),
            where="is_read = false",
        ),
        Index("idx_notifications_type", "type"),
        _partial(
            "idx_notifications_priority",
            "priority",
            text("created_at DESC"),
            where="priority IN ('high', 'urgent')",
        ),
        # The seed adds `AND expires_at > NOW()`, which neither database allows in an index predicate.
        _partial("idx_notifications_expires", "expires_at", where="expires_at IS NOT NULL"),
        _partial("idx_notifications_file_id", "file_id", where="file_id IS NOT NULL"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(_fk("users.id", "CASCADE"))
    type: Mapped[str] = mapped_column(sa.String(50))
    title: Mapped[str] = mapped_column(sa.String(255))
    message: Mapped[str] = mapped_column(sa.Text)
    action_url: Mapped[str | None] = mapped_column(sa.String(500))
    thumbnail_url: Mapped[str | None] = mapped_column(sa.String(500))
    action_buttons: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    related_type: Mapped[str | None] = mapped_column(sa.String(50))
    related_id: Mapped[int | None]
    file_id: Mapped[int | None] = mapped_column(_fk("uploaded_files.id", "SET NULL"))
    is_read: Mapped[bool | None] = mapped_column(server_default=FALSE)
    read_at: Mapped[datetime | None]
    priority: Mapped[str | None] = mapped_column(
        sa.String(10),
        CheckConstraint("priority IN ('low', 'normal', 'high', 'urgent')"),
        server_default="normal",
    )
    email_sent: Mapped[bool | None] = mapped_column(server_default=FALSE)
    email_sent_at: Mapped[datetime | None]
    push_sent: Mapped[bool | None] = mapped_column(server_default=FALSE)
    push_sent_at: Mapped[datetime | None]
    sms_sent: Mapped[bool | None] = mapped_column(server_default=FALSE)
    sms_sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime | None] = mapped_column(server_default=NOW)
    expires_at: Mapped[datetime | None]
    dismissed_at: Mapped[datetime | None]


# ---------------------------------------------------------------------------------------------
# The project's own job ledger (not in the seed)
# ---------------------------------------------------------------------------------------------


class Job(Base):
    """One requested unit of background work and what became of it (see ``workers.jobs``)."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_state_updated", "state", "updated_at"),)

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(sa.String(100))  # the public task name, e.g. "uploads.process"
    queue: Mapped[str | None] = mapped_column(sa.String(50))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # the task's keyword arguments
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    request_hash: Mapped[str | None] = mapped_column(sa.String(64))  # sha256 of the body: 409 on key reuse
    state: Mapped[JobState] = mapped_column(JOB_STATE, default=JobState.queued)
    attempts: Mapped[int] = mapped_column(default=0)  # executions started, retries included
    deliveries: Mapped[int] = mapped_column(default=0)  # times a message for this job began executing
    progress: Mapped[int] = mapped_column(CheckConstraint("progress BETWEEN 0 AND 100"), default=0)
    result: Mapped[Any] = mapped_column(JSONType, nullable=True)
    error: Mapped[str | None] = mapped_column(sa.Text)
    lease_until: Mapped[datetime | None]  # the worker running it holds it until then
    lease_owner: Mapped[str | None] = mapped_column(sa.String(255))  # which delivery holds the lease
    next_attempt_at: Mapped[datetime | None]  # a retry due later than the broker may hold a message
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
