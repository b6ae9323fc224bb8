"""Async DynamoDB table: items, conditional writes, query/scan iterators, batches with retries."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar, Literal

from opentelemetry.util.types import AttributeValue

from internal_aws._errors import (
    AwsConfigurationError,
    AwsNotFoundError,
    AwsSerializationError,
    BatchError,
    ConditionFailedError,
    TableNotFoundError,
)
from internal_aws._service import ServiceClient
from internal_aws.dynamodb._expressions import Expressions, update_expression
from internal_aws.dynamodb._serialization import NumberMode, deserialize_item, serialize_item
from internal_base.resilience import Backoff, sleep

__all__ = ["DynamoTable", "KeyType", "Page"]

_log = logging.getLogger("internal_aws.dynamodb")
_WRITE_BATCH = 25
_GET_BATCH = 100
_BATCH_BACKOFF = Backoff(initial=0.05, maximum=2.0)
KeyType = Literal["S", "N", "B"]


def _exact_key(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A resume key without rounding: numbers are ``int`` when integral, else ``Decimal`` (never float)."""
    key = deserialize_item(raw, numbers="decimal")
    return {
        name: int(value) if isinstance(value, Decimal) and value == value.to_integral_value() else value
        for name, value in key.items()
    }


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a query or scan.

    Attributes:
        items: The items of this page.
        last_key: Pass as ``start_key`` to get the next page; None on the last page. Its numbers are
            exact in every ``numbers`` mode (``int`` when integral, else ``Decimal``, never a
            rounded float), so the next page starts right after the last item.
    """

    items: list[dict[str, Any]] = field(default_factory=list)
    last_key: dict[str, Any] | None = None


class DynamoTable(ServiceClient):
    """One DynamoDB table, with plain Python values in and out (see ``_serialization``).

    Example::

        async with DynamoTable("orders", settings=settings) as orders:
            await orders.put({"pk": "o#1", "total": 9.99}, condition="attribute_not_exists(pk)")
            async for order in orders.query("pk = :pk", values={":pk": "o#1"}):
                ...

    Args:
        name: Table name.
        numbers: ``"decimal"`` (default, lossless) or ``"native"`` (int/float) for numbers read back.
        batch_attempts: Requests per batch chunk, the first included, while items stay unprocessed.
        batch_backoff: Waits between those requests (default: 50 ms doubling to 2 s, full jitter).
        **options: See :class:`~internal_aws._service.ServiceClient`.
    """

    service: ClassVar[str] = "dynamodb"
    not_found: ClassVar[type[AwsNotFoundError]] = TableNotFoundError

    def __init__(
        self,
        name: str,
        *,
        numbers: NumberMode = "decimal",
        batch_attempts: int = 5,
        batch_backoff: Backoff | None = None,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.name = name
        self.numbers: NumberMode = numbers
        if batch_attempts < 1:
            raise AwsConfigurationError(f"batch_attempts must be >= 1, got {batch_attempts}")
        self.batch_attempts = batch_attempts
        self.batch_backoff = batch_backoff if batch_backoff is not None else _BATCH_BACKOFF

    def _span_attributes(self, params: Mapping[str, Any]) -> dict[str, AttributeValue]:
        """``aws.dynamodb.table_names`` of the call."""
        items = params.get("RequestItems")
        names = list(items) if isinstance(items, Mapping) else [params.get("TableName", self.name)]
        return {"aws.dynamodb.table_names": [str(name) for name in names]}

    def health_check_name(self) -> str:
        """``aws.dynamodb:<table>``."""
        return f"aws.dynamodb:{self.name}"

    async def ping(self) -> None:
        """DescribeTable."""
        await self.describe()

    def _item(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        return deserialize_item(raw, numbers=self.numbers)

    # -- table ---------------------------------------------------------------------------------

    async def describe(self) -> dict[str, Any]:
        """The ``Table`` description (status, key schema, item count ...).

        Raises:
            TableNotFoundError: No such table.
        """
        response = await self._call("describe_table", TableName=self.name)
        table: dict[str, Any] = response["Table"]
        return table

    async def create(
        self,
        partition_key: tuple[str, KeyType] = ("pk", "S"),
        sort_key: tuple[str, KeyType] | None = None,
        *,
        wait: bool = True,
    ) -> None:
        """Create the table with on-demand billing and wait until it is active.

        Raises:
            AlreadyExistsError: The table exists.
        """
        keys = [(partition_key, "HASH")] + ([(sort_key, "RANGE")] if sort_key else [])
        await self._call(
            "create_table",
            TableName=self.name,
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": key[0], "KeyType": kind} for key, kind in keys],
            AttributeDefinitions=[{"AttributeName": key[0], "AttributeType": key[1]} for key, _ in keys],
        )
        if wait:
            waiter = self.client.get_waiter("table_exists")
            await waiter.wait(TableName=self.name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})

    async def drop(self) -> None:
        """Delete the table.

        Raises:
            TableNotFoundError: No such table.
        """
        await self._call("delete_table", TableName=self.name)

    # -- items ---------------------------------------------------------------------------------

    async def _write(self, method: str, **params: Any) -> dict[str, Any]:
        """A conditional write: condition failures carry the stored item, deserialized."""
        try:
            return await self._call(method, **params)
        except ConditionFailedError as exc:
            if exc.item:
                exc.item = self._item(exc.item)
            raise

    async def put(
        self,
        item: Mapping[str, Any],
        *,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        """Write ``item`` (replacing any item with the same key).

        Args:
            item: The attributes, key included; floats are stored exactly as they print.
            condition: Condition expression, e.g. ``"attribute_not_exists(pk)"``.
            names: Expression attribute names (``{"#s": "status"}``).
            values: Expression attribute values (``{":v": 3}``), serialized like the item.

        Raises:
            ConditionFailedError: ``condition`` was false; ``.item`` is the stored item.
        """
        params: dict[str, Any] = {"TableName": self.name, "Item": serialize_item(item)}
        if condition is not None:
            expressions = Expressions()
            expressions.add_names(names)
            expressions.add_values(values)
            params.update(
                ConditionExpression=condition,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **expressions.params(),
            )
        await self._write("put_item", **params)

    async def get(
        self,
        key: Mapping[str, Any],
        *,
        consistent: bool = False,
        attributes: Sequence[str] | None = None,
    ) -> dict[str, Any] | None:
        """The item with ``key``, or None.

        Args:
            key: Partition key (and sort key) attributes.
            consistent: Strongly consistent read.
            attributes: Only return these attributes.
        """
        params: dict[str, Any] = {
            "TableName": self.name,
            "Key": serialize_item(key),
            "ConsistentRead": consistent,
        }
        if attributes:
            expressions = Expressions()
            params["ProjectionExpression"] = self._projection(expressions, attributes)
            params.update(expressions.params())
        response = await self._call("get_item", **params)
        raw = response.get("Item")
        return None if raw is None else self._item(raw)

    @staticmethod
    def _projection(expressions: Expressions, attributes: Sequence[str]) -> str:
        return ", ".join(expressions.name_placeholder("p", attribute) for attribute in attributes)

    async def delete(
        self,
        key: Mapping[str, Any],
        *,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Delete the item with ``key``.

        Returns:
            The deleted item, or None when there was none.

        Raises:
            ConditionFailedError: ``condition`` was false; nothing was deleted.
        """
        params: dict[str, Any] = {
            "TableName": self.name,
            "Key": serialize_item(key),
            "ReturnValues": "ALL_OLD",
        }
        if condition is not None:
            expressions = Expressions()
            expressions.add_names(names)
            expressions.add_values(values)
            params.update(
                ConditionExpression=condition,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **expressions.params(),
            )
        response = await self._write("delete_item", **params)
        raw = response.get("Attributes")
        return None if raw is None else self._item(raw)

    async def update(
        self,
        key: Mapping[str, Any],
        *,
        updates: Mapping[str, Any] | None = None,
        remove: Sequence[str] = (),
        add: Mapping[str, Any] | None = None,
        expression: str | None = None,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Update attributes of the item with ``key`` (creating it if absent, as DynamoDB does).

        Either give ``updates`` (SET), ``remove`` (REMOVE) and ``add`` (ADD: counters, sets), which
        are turned into an expression with placeholders, or a raw ``expression`` with ``names``/``values``.

        Returns:
            The item after the update.

        Raises:
            ConditionFailedError: ``condition`` was false; ``.item`` is the stored item.
            AwsSerializationError: Nothing to update, an attribute given twice, a placeholder given
                twice, or both ``expression`` and ``updates``/``remove``/``add``.
        """
        if expression is not None and (updates or remove or add):
            raise AwsSerializationError("give either expression= or updates/remove/add, not both")
        expressions = Expressions()
        expressions.add_names(names)
        expressions.add_values(values)
        text = expression if expression is not None else update_expression(expressions, updates, remove, add)
        params: dict[str, Any] = {
            "TableName": self.name,
            "Key": serialize_item(key),
            "UpdateExpression": text,
            "ReturnValues": "ALL_NEW",
        }
        if condition is not None:
            params.update(ConditionExpression=condition, ReturnValuesOnConditionCheckFailure="ALL_OLD")
        params.update(expressions.params())
        response = await self._write("update_item", **params)
        return self._item(response.get("Attributes", {}))

    # -- query and scan ------------------------------------------------------------------------

    async def query(
        self,
        key_condition: str,
        *,
        values: Mapping[str, Any],
        names: Mapping[str, str] | None = None,
        filter: str | None = None,
        index: str | None = None,
        limit: int | None = None,
        page_size: int | None = None,
        descending: bool = False,
        consistent: bool = False,
        start_key: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield the items matching ``key_condition``, fetching further pages as needed.

        Args:
            key_condition: e.g. ``"pk = :pk AND begins_with(sk, :prefix)"``.
            values: Expression attribute values.
            names: Expression attribute names.
            filter: Filter expression applied after the key condition.
            index: Query this secondary index.
            limit: Stop after this many items (None: all).
            page_size: Items evaluated per request (DynamoDB ``Limit``).
            descending: Sort key order, highest first.
            consistent: Strongly consistent reads.
            start_key: Resume after this key (a ``Page.last_key``).
        """
        params = self._read_params(names, values, filter, index, page_size, consistent)
        params.update(KeyConditionExpression=key_condition, ScanIndexForward=not descending)
        async for item in self._items("query", params, limit, start_key):
            yield item

    async def scan(
        self,
        *,
        filter: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        index: str | None = None,
        limit: int | None = None,
        page_size: int | None = None,
        consistent: bool = False,
        start_key: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield every item of the table (or index), optionally filtered; see :meth:`query`."""
        params = self._read_params(names, values, filter, index, page_size, consistent)
        async for item in self._items("scan", params, limit, start_key):
            yield item

    async def query_page(
        self,
        key_condition: str,
        *,
        values: Mapping[str, Any],
        names: Mapping[str, str] | None = None,
        filter: str | None = None,
        index: str | None = None,
        page_size: int | None = None,
        descending: bool = False,
        start_key: Mapping[str, Any] | None = None,
    ) -> Page:
        """One page of a query, with the key to resume from (for paginated APIs)."""
        params = self._read_params(names, values, filter, index, page_size, False)
        params.update(KeyConditionExpression=key_condition, ScanIndexForward=not descending)
        return await self._page("query", params, start_key)

    async def scan_page(
        self,
        *,
        filter: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        page_size: int | None = None,
        start_key: Mapping[str, Any] | None = None,
    ) -> Page:
        """One page of a scan, with the key to resume from."""
        params = self._read_params(names, values, filter, None, page_size, False)
        return await self._page("scan", params, start_key)

    def _read_params(
        self,
        names: Mapping[str, str] | None,
        values: Mapping[str, Any] | None,
        filter_expression: str | None,
        index: str | None,
        page_size: int | None,
        consistent: bool,
    ) -> dict[str, Any]:
        expressions = Expressions()
        expressions.add_names(names)
        expressions.add_values(values)
        params: dict[str, Any] = {"TableName": self.name, **expressions.params()}
        if filter_expression is not None:
            params["FilterExpression"] = filter_expression
        if index is not None:
            params["IndexName"] = index
        if page_size is not None:
            params["Limit"] = page_size
        if consistent:
            params["ConsistentRead"] = True
        return params

    async def _fetch(
        self, method: str, params: dict[str, Any], start: dict[str, Any] | None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """One request from the raw ``start`` key: the items and the raw ``LastEvaluatedKey``."""
        request = dict(params)
        if start:
            request["ExclusiveStartKey"] = start
        response = await self._call(method, **request)
        return [self._item(raw) for raw in response.get("Items", [])], response.get(
            "LastEvaluatedKey"
        ) or None

    async def _page(self, method: str, params: dict[str, Any], start_key: Mapping[str, Any] | None) -> Page:
        start = serialize_item(start_key) if start_key else None
        items, last = await self._fetch(method, params, start)
        return Page(items=items, last_key=None if last is None else _exact_key(last))

    async def _items(
        self, method: str, params: dict[str, Any], limit: int | None, start_key: Mapping[str, Any] | None
    ) -> AsyncIterator[dict[str, Any]]:
        count = 0
        # The raw key goes back as it came: no round trip through Python numbers.
        start = serialize_item(start_key) if start_key else None
        while limit is None or count < limit:
            items, start = await self._fetch(method, params, start)
            for item in items:
                yield item
                count += 1
                if limit is not None and count >= limit:
                    return
            if start is None:
                return

    # -- batches -------------------------------------------------------------------------------

    async def batch_write(
        self, puts: Iterable[Mapping[str, Any]] = (), deletes: Iterable[Mapping[str, Any]] = ()
    ) -> int:
        """Put and delete many items, 25 per request, retrying unprocessed items with backoff.

        Returns:
            The number of requests (puts + deletes) written.

        Raises:
            BatchError: Some requests were still unprocessed after ``batch_attempts``;
                ``failed`` holds ``{"put": item}`` / ``{"delete": key}`` entries.
        """
        requests = [{"PutRequest": {"Item": serialize_item(item)}} for item in puts]
        requests += [{"DeleteRequest": {"Key": serialize_item(key)}} for key in deletes]

        async def write(pending: list[dict[str, Any]]) -> list[dict[str, Any]]:
            response = await self._call("batch_write_item", RequestItems={self.name: pending})
            return list(response.get("UnprocessedItems", {}).get(self.name, []))

        failed: list[dict[str, Any]] = []
        for start in range(0, len(requests), _WRITE_BATCH):
            failed += await self._until_processed(requests[start : start + _WRITE_BATCH], write, "writes")
        if failed:
            described = [
                {"put": self._item(r["PutRequest"]["Item"])}
                if "PutRequest" in r
                else {"delete": self._item(r["DeleteRequest"]["Key"])}
                for r in failed
            ]
            raise BatchError(
                f"{len(failed)} of {len(requests)} batch writes were not processed", failed=described
            )
        return len(requests)

    async def _until_processed(
        self,
        chunk: list[dict[str, Any]],
        send: Callable[[list[dict[str, Any]]], Awaitable[list[dict[str, Any]]]],
        what: str,
    ) -> list[dict[str, Any]]:
        """``send`` the chunk, then what it reports unprocessed, up to ``batch_attempts`` times.

        Returns:
            The entries still unprocessed after the last attempt (empty when all went through).
        """
        pending = chunk
        for attempt in range(1, self.batch_attempts + 1):
            pending = await send(pending)
            if not pending:
                return []
            if attempt < self.batch_attempts:
                _log.info("retrying %d unprocessed batch %s on %s", len(pending), what, self.name)
                await sleep(self.batch_backoff.delay(attempt))
        return pending

    async def batch_get(
        self, keys: Iterable[Mapping[str, Any]], *, consistent: bool = False
    ) -> list[dict[str, Any]]:
        """Fetch many items, 100 keys per request, retrying unprocessed keys with backoff.

        Returns:
            The items found, in no particular order (missing keys are simply absent).

        Raises:
            BatchError: Some keys were still unprocessed after the retries; ``failed`` holds the keys.
        """
        serialized = [serialize_item(key) for key in keys]
        found: list[dict[str, Any]] = []

        async def read(pending: list[dict[str, Any]]) -> list[dict[str, Any]]:
            request = {self.name: {"Keys": pending, "ConsistentRead": consistent}}
            response = await self._call("batch_get_item", RequestItems=request)
            found.extend(self._item(raw) for raw in response.get("Responses", {}).get(self.name, []))
            return list(response.get("UnprocessedKeys", {}).get(self.name, {}).get("Keys", []))

        failed: list[dict[str, Any]] = []
        for start in range(0, len(serialized), _GET_BATCH):
            failed += await self._until_processed(serialized[start : start + _GET_BATCH], read, "reads")
        if failed:
            raise BatchError(f"{len(failed)} keys were not read", failed=[self._item(key) for key in failed])
        return found
