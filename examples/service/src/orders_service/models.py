"""The service's tables and API shapes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from internal_rdbms import Base, IntPrimaryKeyMixin, TimestampMixin

__all__ = ["Order", "OrderIn", "OrderOut"]


class Order(IntPrimaryKeyMixin, TimestampMixin, Base):
    """An order: priced by the pricing service when placed, confirmed by the queue consumer."""

    __tablename__ = "orders"

    sku: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int]
    total_cents: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default="placed")


class OrderIn(BaseModel):
    """What a client sends to place an order."""

    sku: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")
    quantity: int = Field(ge=1, le=1000)


class OrderOut(BaseModel):
    """What the API answers about an order."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    sku: str
    quantity: int
    total_cents: int
    status: str
