"""The service's own settings, loaded like every commons library's (env, the YAML file, .env)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from internal_base.settings import LibrarySettings

__all__ = ["OrdersSettings"]


class OrdersSettings(LibrarySettings):
    """``ORDERS_*`` variables or the ``orders:`` section of the file named by ``COMMONS_CONFIG_FILE``.

    The libraries read their own sections: ``rdbms:`` (``COMMONS_RDBMS_URL``), ``cache:``
    (``COMMONS_CACHE_URL``), ``http:`` (the pricing service: ``COMMONS_HTTP_BASE_URL``) and ``aws:``.
    """

    model_config = SettingsConfigDict(env_prefix="ORDERS_")
    yaml_section: ClassVar[str] = "orders"

    queue_name: str = Field(default="orders-events", min_length=1, description="Queue of order events.")
    create_schema: bool = Field(
        default=True, description="Create the tables at startup (a real service runs migrations instead)."
    )
    price_ttl: float = Field(default=60.0, gt=0, description="Seconds a price stays cached.")
    order_ttl: float = Field(default=30.0, gt=0, description="Seconds an order stays cached.")
