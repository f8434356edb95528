"""The cart: a Redis hash `cart:<user_id>` (product_id -> quantity), TTL refreshed on every write.

The cart lives only in Redis, so with Redis down every cart call is a fast 503 (`cache.run`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Annotated

import redis
from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from ..common.app import Dependencies, deps
from ..common.auth import User, current_user
from ..common.cache import Cache
from ..common.errors import NotFound
from .catalogue import MAX_BIGINT, find_product

log = logging.getLogger("aarya.commerce")
router = APIRouter(prefix="/cart", tags=["cart"])

MAX_QUANTITY = 1000


class CartItem(BaseModel):
    product_id: int = Field(ge=1, le=MAX_BIGINT)
    quantity: int = Field(gt=0, le=MAX_QUANTITY)


class Cart(BaseModel):
    user_id: int
    items: list[CartItem]


DepsParam = Annotated[Dependencies, Depends(deps)]
UserParam = Annotated[User, Depends(current_user)]


def cart_key(user_id: int) -> str:
    return f"cart:{user_id}"


RawCart = Mapping[bytes | str, bytes | str]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _to_cart(user_id: int, raw: RawCart) -> Cart:
    items: list[CartItem] = []
    for field, value in raw.items():
        product_id, quantity = _text(field), _text(value)
        try:
            items.append(CartItem(product_id=int(product_id), quantity=int(quantity)))
        except ValueError:  # pydantic's ValidationError is a ValueError too
            log.warning("ignoring malformed cart entry user_id=%s %s=%s", user_id, product_id, quantity)
    return Cart(user_id=user_id, items=sorted(items, key=lambda item: item.product_id))


def read_cart(cache: Cache, user_id: int) -> Cart:
    return _to_cart(user_id, cache.run(lambda client: client.hgetall(cart_key(user_id))))


def set_quantity(cache: Cache, user_id: int, item: CartItem, ttl_s: int) -> Cart:
    key = cart_key(user_id)

    def write(client: redis.Redis) -> RawCart:
        pipe = client.pipeline(transaction=True)
        pipe.hset(key, str(item.product_id), str(item.quantity))
        pipe.expire(key, ttl_s)
        pipe.hgetall(key)
        raw: RawCart = pipe.execute()[-1]
        return raw

    return _to_cart(user_id, cache.run(write))


def remove_items(cache: Cache, user_id: int, product_ids: Iterable[int], ttl_s: int) -> Cart:
    key = cart_key(user_id)
    fields = [str(product_id) for product_id in product_ids]

    def write(client: redis.Redis) -> RawCart:
        pipe = client.pipeline(transaction=True)
        pipe.hdel(key, *fields)
        pipe.expire(key, ttl_s)
        pipe.hgetall(key)
        raw: RawCart = pipe.execute()[-1]
        return raw

    return _to_cart(user_id, cache.run(write))


@router.get("")
def get_cart(user: UserParam, d: DepsParam) -> Cart:
    return read_cart(d.require_cache(), user.user_id)


@router.post("/items")
def add_item(item: CartItem, user: UserParam, d: DepsParam) -> Cart:
    """Set the quantity of one product (404 if it does not exist)."""
    cache = d.require_cache()
    if find_product(d, item.product_id)[0] is None:
        raise NotFound(f"product {item.product_id} not found")
    return set_quantity(cache, user.user_id, item, d.settings.cart_ttl_s)


@router.delete("/items/{product_id}")
def delete_item(product_id: Annotated[int, Path(ge=1, le=MAX_BIGINT)], user: UserParam, d: DepsParam) -> Cart:
    return remove_items(d.require_cache(), user.user_id, [product_id], d.settings.cart_ttl_s)
