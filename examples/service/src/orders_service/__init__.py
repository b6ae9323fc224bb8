"""The orders service: a template for services built on the commons wheels."""

from __future__ import annotations

from orders_service.app import create_app
from orders_service.settings import OrdersSettings

__all__ = ["OrdersSettings", "create_app"]
