"""Namespaces: the stored records, parsed once and cached by name and id."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import namespace_pb2 as ns_enums
from temporalio.api.namespace.v1 import message_pb2 as namespace_pb2

from perdure.server.engine.retry import nanos
from perdure.server.errors import InvalidArgument, NamespaceAlreadyExists, NamespaceNotFound
from perdure.server.store.base import AlreadyExists, ConditionFailed, NamespaceRecord, Store

DEFAULT_RETENTION_SECONDS = 24 * 3600
"""What `temporal server start-dev` gives its namespaces."""


@dataclass(frozen=True, slots=True)
class Namespace:
    id: str
    name: str
    info: namespace_pb2.NamespaceInfo
    config: namespace_pb2.NamespaceConfig
    version: int

    @property
    def retention_nanos(self) -> int:
        return nanos(self.config.workflow_execution_retention_ttl)

    @property
    def search_attribute_aliases(self) -> dict[str, str]:
        """Column -> custom search attribute name."""
        return dict(self.config.custom_search_attribute_aliases)

    @property
    def active(self) -> bool:
        return bool(self.info.state != ns_enums.NAMESPACE_STATE_DELETED)

    def record(self) -> NamespaceRecord:
        return NamespaceRecord(
            id=self.id,
            name=self.name,
            info=self.info.SerializeToString(),
            config=self.config.SerializeToString(),
            version=self.version,
        )

    @classmethod
    def from_record(cls, record: NamespaceRecord) -> Namespace:
        return cls(
            id=record.id,
            name=record.name,
            info=namespace_pb2.NamespaceInfo.FromString(record.info),
            config=namespace_pb2.NamespaceConfig.FromString(record.config),
            version=record.version,
        )


def new_namespace(
    name: str,
    *,
    retention_seconds: int = DEFAULT_RETENTION_SECONDS,
    description: str = "",
    owner_email: str = "",
    data: dict[str, str] | None = None,
) -> Namespace:
    info = namespace_pb2.NamespaceInfo(
        name=name,
        id=str(uuid.uuid4()),
        state=ns_enums.NAMESPACE_STATE_REGISTERED,
        description=description,
        owner_email=owner_email,
        data=data or {},
    )
    config = namespace_pb2.NamespaceConfig(
        workflow_execution_retention_ttl=Duration(seconds=retention_seconds),
        history_archival_state=ns_enums.ARCHIVAL_STATE_DISABLED,
        visibility_archival_state=ns_enums.ARCHIVAL_STATE_DISABLED,
    )
    return Namespace(id=info.id, name=name, info=info, config=config, version=1)


class NamespaceRegistry:
    """Namespaces by name and id, cached for a few seconds (other processes may change
    them; a change made here is visible here at once)."""

    _TTL = 5.0

    def __init__(self, store: Store) -> None:
        self._store = store
        self._by_name: dict[str, tuple[float, Namespace]] = {}
        self._by_id: dict[str, tuple[float, Namespace]] = {}
        self._lock = asyncio.Lock()

    def _remember(self, ns: Namespace) -> Namespace:
        entry = (time.monotonic(), ns)
        self._by_name[ns.name] = entry
        self._by_id[ns.id] = entry
        return ns

    def cached_names(self) -> dict[str, str]:
        """Namespace names by id, of those cached now (for metric labels)."""
        return {ns_id: entry[1].name for ns_id, entry in list(self._by_id.items())}

    def forget(self, namespace_id: str) -> None:
        """Another server process changed the namespace: read it again next time."""
        entry = self._by_id.pop(namespace_id, None)
        if entry is not None:
            self._by_name.pop(entry[1].name, None)

    async def get(self, name: str) -> Namespace:
        """The namespace called `name`, or NamespaceNotFound."""
        if not name:
            raise InvalidArgument("Namespace not set on request.")
        entry = self._by_name.get(name)
        if entry is not None and time.monotonic() - entry[0] < self._TTL:
            return entry[1]
        record = await self._store.get_namespace(name)
        if record is None:
            raise NamespaceNotFound(name)
        return self._remember(Namespace.from_record(record))

    async def get_by_id(self, namespace_id: str) -> Namespace:
        entry = self._by_id.get(namespace_id)
        if entry is not None and time.monotonic() - entry[0] < self._TTL:
            return entry[1]
        record = await self._store.get_namespace_by_id(namespace_id)
        if record is None:
            raise NamespaceNotFound(namespace_id)
        return self._remember(Namespace.from_record(record))

    async def create(self, ns: Namespace) -> Namespace:
        try:
            await self._store.create_namespace(ns.record())
        except AlreadyExists as err:
            raise NamespaceAlreadyExists(ns.name) from err
        return self._remember(ns)

    async def ensure(self, name: str, **kwargs: object) -> Namespace:
        """Create the namespace unless it exists (start-up namespaces)."""
        async with self._lock:
            record = await self._store.get_namespace(name)
            if record is not None:
                return self._remember(Namespace.from_record(record))
            try:
                return await self.create(new_namespace(name, **kwargs))  # type: ignore[arg-type]
            except NamespaceAlreadyExists:
                record = await self._store.get_namespace(name)
                assert record is not None
                return self._remember(Namespace.from_record(record))

    async def update(self, ns: Namespace, expected_version: int) -> Namespace:
        await self._store.update_namespace(ns.record(), expected_version)
        self.forget(ns.id)  # a renamed namespace's old name must not resolve any more
        return self._remember(ns)

    async def change_search_attribute_aliases(
        self, name: str, change: Callable[[dict[str, str]], dict[str, str]]
    ) -> None:
        """Replace the namespace's custom search attribute aliases (column -> name) by
        `change(current)`, retried when the namespace changed meanwhile."""
        for _ in range(5):
            ns = await self.get(name)
            aliases = change(ns.search_attribute_aliases)
            config = namespace_pb2.NamespaceConfig()
            config.CopyFrom(ns.config)
            config.ClearField("custom_search_attribute_aliases")
            config.custom_search_attribute_aliases.update(aliases)
            updated = Namespace(ns.id, ns.name, ns.info, config, ns.version + 1)
            try:
                await self.update(updated, ns.version)
                return
            except ConditionFailed:
                continue
        raise InvalidArgument("namespace changed concurrently; try again")

    async def list(self) -> list[Namespace]:
        return [
            self._remember(Namespace.from_record(r)) for r in await self._store.list_namespaces()
        ]
