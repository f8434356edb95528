"""search_recommendation: catalogue search and "more like this".

    GET /health, /health/ready (common)
    GET /search?q=...&limit=20             {query, items: [{id, sku, name, category, price_cents}], count}
                                           matches name, category, sku or description (case-insensitive)
                                           1 <= len(q) <= 100, 1 <= limit <= 50; 422 otherwise
    GET /recommendations/{id}?limit=8      {product_id, category, items: [... + score], count, cached}
                                           404 for an unknown product

SQL is parameterised, always: the user's text only ever travels as a bound parameter, never as SQL text.
For ILIKE the LIKE wildcards in it (``%``, ``_`` and the escape character ``\\``) are escaped in the
*value*, so ``q=%`` finds names containing a percent sign rather than the whole catalogue.

Each search is published to ``analytics_events`` as ``{"type": "search", "q": ...}``, best effort: with
Redis down a search still answers. Recommendations are cache-aside in ``cache:recs:<id>:<limit>`` (TTL
120 s), also best effort: Redis down means every request reads PostgreSQL.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse

from stack.services.common.app import create_app, deps
from stack.services.common.settings import ServiceSettings

settings = ServiceSettings()  # read from the environment
app = create_app(settings)

RECS_TTL_S = 120
ANALYTICS_STREAM = "analytics_events"
MAX_BIGINT = 2**63 - 1

SEARCH_SQL = """
SELECT id, sku, name, category, price_cents
FROM products
WHERE name ILIKE %(pattern)s ESCAPE '\\'
   OR category ILIKE %(pattern)s ESCAPE '\\'
   OR sku ILIKE %(pattern)s ESCAPE '\\'
   OR description ILIKE %(pattern)s ESCAPE '\\'
-- names first, then the rest; id for a stable order
ORDER BY (name ILIKE %(pattern)s ESCAPE '\\') DESC, id
LIMIT %(limit)s
"""

PRODUCT_SQL = "SELECT id, category, price_cents FROM products WHERE id = %(id)s"

# Score: closeness in price within the category, 1.0 for the same price, falling with the gap
# (1/(1 + gap in units of 10.00)); ties broken by id, so the order is deterministic.
RECS_SQL = """
SELECT id, sku, name, category, price_cents,
       round(1.0 / (1.0 + abs(price_cents - %(price)s) / 1000.0), 4)::float8 AS score
FROM products
WHERE category = %(category)s AND id <> %(id)s
ORDER BY abs(price_cents - %(price)s), id
LIMIT %(limit)s
"""


def like_pattern(text: str) -> str:
    """A substring ILIKE pattern matching ``text`` literally (with ESCAPE '\\')."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@app.get("/search")
def search(
    request: Request,
    q: Annotated[str, Query(min_length=1, max_length=100)],
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
) -> dict[str, Any]:
    if "\x00" in q:  # PostgreSQL text cannot hold NUL: refuse it as bad input, not a 500
        raise HTTPException(status_code=422, detail="q must not contain NUL characters")
    d = deps(request)
    with d.require_db().connection() as conn:
        rows = conn.execute(SEARCH_SQL, {"pattern": like_pattern(q), "limit": limit}).fetchall()
    d.require_cache().run_or(lambda r: r.xadd(ANALYTICS_STREAM, {"type": "search", "q": q}), None)
    return {"query": q, "items": rows, "count": len(rows)}


@app.get("/recommendations/{product_id}")
def recommendations(
    request: Request,
    product_id: Annotated[int, Path(ge=1, le=MAX_BIGINT)],
    limit: Annotated[int, Query(ge=1, le=50)] = 8,
) -> JSONResponse:
    d = deps(request)
    cache = d.require_cache()
    key = f"cache:recs:{product_id}:{limit}"
    cached = cache.run_or(lambda r: r.get(key), None)
    if cached is not None:
        try:
            body = json.loads(cached)
        except ValueError:
            body = None
        if isinstance(body, dict):
            return JSONResponse({**body, "cached": True})
    with d.require_db().connection() as conn:
        product = conn.execute(PRODUCT_SQL, {"id": product_id}).fetchone()
        if product is None:
            raise HTTPException(status_code=404, detail=f"product {product_id} not found")
        rows = conn.execute(
            RECS_SQL,
            {"id": product_id, "category": product["category"], "price": product["price_cents"], "limit": limit},
        ).fetchall()
    body = {"product_id": product_id, "category": product["category"], "items": rows, "count": len(rows)}
    cache.run_or(lambda r: r.set(key, json.dumps(body), ex=RECS_TTL_S), None)
    return JSONResponse({**body, "cached": False})
