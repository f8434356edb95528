"""The catalogue, served from PostgreSQL with a best-effort cache-aside copy in Redis.

With Redis down (or its breaker open) every read still works, straight from PostgreSQL.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ValidationError

from ..common.app import Dependencies, deps
from ..common.cache import Cache
from ..common.errors import DependencyUnavailable, NotFound
from .events import ANALYTICS_EVENTS, publish_best_effort, utc_now

log = logging.getLogger("aarya.commerce")
router = APIRouter(tags=["catalogue"])

MAX_BIGINT = 2**63 - 1
PRODUCT_TTL_S = 300
LIST_TTL_S = 60
COLUMNS = "id, sku, name, description, category, price_cents, stock"


class Product(BaseModel):
    id: int
    sku: str
    name: str
    description: str
    category: str
    price_cents: int
    stock: int


class ProductPage(BaseModel):
    items: list[Product]
    limit: int
    offset: int


DepsParam = Annotated[Dependencies, Depends(deps)]
ProductId = Annotated[int, Path(ge=1, le=MAX_BIGINT)]


def _cached(d: Dependencies, key: str) -> tuple[str | bytes | None, Cache | None]:
    """The cached value, and the cache to use for the rest of this request: None once Redis has failed,
    so one request never waits for more than one Redis timeout (the breaker takes over after that)."""
    if d.cache is None:
        return None, None
    cache = d.cache
    try:
        return cache.run(lambda client: client.get(key)), cache
    except DependencyUnavailable as exc:
        log.warning("cache read skipped, serving from postgres: %s", exc.reason)
        return None, None


def _store(cache: Cache | None, key: str, value: str, ttl_s: int) -> None:
    if cache is not None:
        cache.run_or(lambda client: client.set(key, value, ex=ttl_s), None)


def find_product(d: Dependencies, product_id: int) -> tuple[Product | None, Cache | None]:
    """The product (cache first, then PostgreSQL) or None, and the cache if it is still usable."""
    key = f"cache:product:{product_id}"
    cached, cache = _cached(d, key)
    if cached is not None:
        try:
            return Product.model_validate_json(cached), cache
        except ValidationError:
            log.warning("ignoring unreadable cache entry %s", key)
    with d.require_db().connection() as conn:
        row = conn.execute(f"SELECT {COLUMNS} FROM products WHERE id = %s", (product_id,)).fetchone()
    if row is None:
        return None, cache
    product = Product.model_validate(row)
    _store(cache, key, product.model_dump_json(), PRODUCT_TTL_S)
    return product, cache


def _query_page(d: Dependencies, category: str | None, limit: int, offset: int) -> list[Product]:
    where = "WHERE category = %(category)s" if category is not None else ""
    with d.require_db().connection() as conn:
        rows = conn.execute(
            f"SELECT {COLUMNS} FROM products {where} ORDER BY id LIMIT %(limit)s OFFSET %(offset)s",
            {"category": category, "limit": limit, "offset": offset},
        ).fetchall()
    return [Product.model_validate(row) for row in rows]


@router.get("/products")
def list_products(
    d: DepsParam,
    category: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ProductPage:
    key = f"cache:products:{category or 'all'}:{limit}:{offset}"
    cached, cache = _cached(d, key)
    if cached is not None:
        try:
            return ProductPage.model_validate_json(cached)
        except ValidationError:
            log.warning("ignoring unreadable cache entry %s", key)
    page = ProductPage(items=_query_page(d, category, limit, offset), limit=limit, offset=offset)
    _store(cache, key, page.model_dump_json(), LIST_TTL_S)
    return page


@router.get("/products/{product_id}")
def get_product(product_id: ProductId, d: DepsParam) -> Product:
    product, cache = find_product(d, product_id)
    if product is None:
        raise NotFound(f"product {product_id} not found")
    publish_best_effort(
        cache, ANALYTICS_EVENTS,
        {"type": "product_view", "product_id": product.id, "category": product.category, "at": utc_now()},
    )
    return product
