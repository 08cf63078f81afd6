"""Fakes of vendor APIs at the HTTP edge, for tests."""

from tests.fakes.shopify import FakeShopify

__all__ = ["FakeShopify"]
