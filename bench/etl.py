"""ETL benchmark: ``feedback_analytics`` over 1,000,000 reviews of 5,000 products in PostgreSQL,
next to the bare SQL aggregation measured in the same run.

    PYTHONPATH=. python bench/etl.py [--reviews 1000000] [--products 5000] [--changed 1000] [--keep]

A scratch database (``skincare_bench_etl_<pid>``, on ``BENCH_PG_ADMIN_URL``, default the local
server) is migrated and filled with ``INSERT ... SELECT generate_series`` (90% of reviews approved,
ratings, aspects, skin types, sentiment and dates spread over two years, seeded so every run
builds the same data). The analytics store is the one the settings choose: the SQL-JSON table in
the scratch database, or MongoDB when ``MONGO_URL`` is set.

Measured (each SQL variant once to warm the cache, then the best of three):

  bare GROUP BY      the least aggregation there is: count and average rating per product
  ETL's SQL          the ETL's two statements (summary + monthly trend) over all products at once
  documents          the ETL's documents without the store: its SQL per page of 5,000 products
                     (the full run's page size) + shaping in Python
  full ETL           ``run(full=True)`` into an empty collection: build + store writes + watermark
  full rerun         the same again: every document unchanged, nothing rewritten
  incremental        ``run()`` after ``--changed`` reviews were edited

Goals printed against: the full ETL within 2x the bare aggregation; the incremental run under 2 s.
Nothing is asserted: numbers are for people.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_NAME = f"skincare_bench_etl_{os.getpid()}"
GOAL_FULL_VS_BARE = 2.0
GOAL_INCREMENTAL_S = 2.0

PRODUCTS_SQL = """
INSERT INTO products (name_en, slug, sku, price, category, created_at, updated_at)
SELECT 'Bench product ' || g, 'bench-' || g, 'BENCH-' || g, 10 + g % 40, 'serum',
       DATE '2023-01-01', TIMESTAMP '2023-01-01'
FROM generate_series(1, :products) AS g
"""
REVIEWS_SQL = """
INSERT INTO product_reviews (
    product_id, rating, effectiveness_rating, texture_rating, scent_rating, packaging_rating,
    value_for_money_rating, skin_type_at_review, visible_results, would_recommend, usage_duration,
    side_effects, sentiment_score, sentiment_label, status, created_at, updated_at)
SELECT p, r, e, t, s, k, v, st, vr, wr, ud, se, ss,
       CASE WHEN ss >= 0.1 THEN 'positive' WHEN ss <= -0.1 THEN 'negative' ELSE 'neutral' END,
       CASE WHEN random() < 0.9 THEN 'approved' ELSE 'pending' END::review_status, at, at
FROM (
    SELECT (SELECT min(id) FROM products) + g % :products AS p,
           1 + floor(random() * 5)::int AS r,
           1 + floor(random() * 5)::int AS e,
           1 + floor(random() * 5)::int AS t,
           CASE WHEN random() < 0.8 THEN 1 + floor(random() * 5)::int END AS s,
           CASE WHEN random() < 0.7 THEN 1 + floor(random() * 5)::int END AS k,
           1 + floor(random() * 5)::int AS v,
           (ARRAY['acne', 'oily', 'dry', 'sensitive', 'combination', 'normal'])[1 + floor(random() * 6)::int]
               ::skin_type AS st,
           random() < 0.4 AS vr,
           random() < 0.7 AS wr,
           floor(random() * 120)::int AS ud,
           CASE WHEN random() < 0.1 THEN 'some dryness' END AS se,
           round((random() * 2 - 1)::numeric, 2) AS ss,
           TIMESTAMP '2023-01-01' + random() * INTERVAL '730 days' AS at
    FROM generate_series(1, :reviews) AS g
) AS generated
"""
BARE_SQL = """
SELECT product_id, count(*), avg(rating) FROM product_reviews WHERE status = 'approved' GROUP BY product_id
"""
CHANGE_SQL = """
UPDATE product_reviews SET rating = 1 + (rating % 5), updated_at = now() AT TIME ZONE 'UTC'
WHERE id IN (SELECT id FROM product_reviews WHERE status = 'approved' ORDER BY random() LIMIT :changed)
"""


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


def _best(fn: Callable[[], Any], runs: int = 3) -> tuple[float, Any]:
    """One warm-up call, then the fastest of ``runs`` timed calls (and its result)."""
    fn()
    best, result = float("inf"), None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def _once(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reviews", type=int, default=1_000_000)
    parser.add_argument("--products", type=int, default=5_000)
    parser.add_argument("--changed", type=int, default=1_000)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()

    base = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    os.environ["DATABASE_URL"] = f"{base}/{DB_NAME}"  # before any project module reads the settings
    _admin(f'CREATE DATABASE "{DB_NAME}"')
    try:
        run_bench(args)
    finally:
        from storage.db import reset_engine

        reset_engine()
        if args.keep:
            print(f"kept database {DB_NAME}")
        else:
            _admin(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


def run_bench(args: argparse.Namespace) -> None:
    from sqlalchemy import delete, func, select, text

    from storage.analytics import AnalyticsDocument, SqlJsonStore, get_store
    from storage.db import get_engine, session_scope
    from storage.maintenance_models import EtlWatermark
    from storage.migrate import upgrade
    from storage.models import Product
    from workers.etl import FEEDBACK_ANALYTICS, run
    from workers.etl.feedback_analytics import monthly_query, summary_query
    from workers.etl.runner import FULL_PAGE_SIZE, Batch

    upgrade()
    engine = get_engine()
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text("SELECT setseed(0.42)"))
        conn.execute(text(PRODUCTS_SQL), {"products": args.products})
        conn.execute(text("SELECT setseed(0.42)"))
        conn.execute(text(REVIEWS_SQL), {"products": args.products, "reviews": args.reviews})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE products"))
        conn.execute(text("VACUUM ANALYZE product_reviews"))
        approved = conn.execute(
            text("SELECT count(*) FROM product_reviews WHERE status = 'approved'")
        ).scalar()
    store = get_store()
    print(
        f"data: {args.reviews:,} reviews ({approved:,} approved) over {args.products:,} products, "
        f"generated in {time.perf_counter() - started:.1f} s; store: {type(store).__name__}"
    )

    def bare() -> int:
        with engine.connect() as conn:
            return len(conn.execute(text(BARE_SQL)).all())

    def etl_sql() -> int:
        with engine.connect() as conn:
            conn.execute(monthly_query(None)).all()
            return len(conn.execute(summary_query(None)).all())

    def build_only() -> int:
        documents = 0
        with session_scope() as session:
            first, last = session.execute(select(func.min(Product.id), func.max(Product.id))).one()
        for start in range(first, last + 1, FULL_PAGE_SIZE):  # the full run's pages (ids are dense)
            with session_scope() as session:
                batch = Batch(start, min(start + FULL_PAGE_SIZE - 1, last))
                documents += len(list(FEEDBACK_ANALYTICS.documents(session, batch)))
        return documents

    def fresh_full() -> dict[str, Any]:
        if isinstance(store, SqlJsonStore):
            with session_scope() as session:
                session.execute(
                    delete(AnalyticsDocument).where(AnalyticsDocument.collection == "feedback_analytics")
                )
                session.execute(delete(EtlWatermark))
        return run(FEEDBACK_ANALYTICS, full=True)

    t_bare, _ = _best(bare)
    t_sql, _ = _best(etl_sql)
    t_build, documents = _best(build_only, runs=1)
    t_full, full = _once(fresh_full)
    t_rerun, rerun = _once(lambda: run(FEEDBACK_ANALYTICS, full=True))
    with engine.begin() as conn:
        conn.execute(text(CHANGE_SQL), {"changed": args.changed})
    t_incr, incremental = _once(lambda: run(FEEDBACK_ANALYTICS))
    with session_scope() as session:
        stored = session.scalar(
            select(func.count()).where(AnalyticsDocument.collection == "feedback_analytics")
        )

    rows = approved or 1
    print()
    print(f"{'step':<44}{'seconds':>9}{'reviews/s':>14}{'x bare':>9}")
    for name, seconds in (
        ("bare GROUP BY (count, avg per product)", t_bare),
        ("the ETL's SQL (summary + monthly trend)", t_sql),
        ("documents: the ETL's SQL + shaping, no store", t_build),
        (f"full ETL ({full['written']:,} documents written)", t_full),
        (f"full rerun ({rerun['written']:,} written, {rerun['unchanged']:,} unchanged)", t_rerun),
    ):
        print(f"{name:<44}{seconds:>9.2f}{rows / seconds:>14,.0f}{seconds / t_bare:>9.2f}")
    label = f"incremental after {args.changed:,} edits ({incremental['written']:,} written)"
    print(f"{label:<44}{t_incr:>9.2f}")
    print()
    print(f"documents built: {documents:,}; stored: {stored:,}")
    store_s = t_full - t_build
    print(
        f"store writes in the full ETL: ~{store_s:.2f} s for {full['written']:,} upserts "
        f"(~{1000 * store_s / max(full['written'], 1):.2f} ms each)"
    )
    print(
        f"full ETL / bare GROUP BY: {t_full / t_bare:.2f}x (goal <= {GOAL_FULL_VS_BARE}x); "
        f"full ETL / the ETL's own SQL: {t_full / t_sql:.2f}x; "
        f"documents / the ETL's own SQL: {t_build / t_sql:.2f}x"
    )
    print(f"incremental run: {t_incr:.2f} s (goal < {GOAL_INCREMENTAL_S} s)")


if __name__ == "__main__":
    main()
