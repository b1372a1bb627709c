"""A key-value store on a lease: a third DaoliCloud service in one page.

The service API (daoli.cloud.service) authenticates the buyer, checks the lease on chain,
asks for receipts and cuts off buyers who stop signing; this file only says what a request
does and what it costs. Wire (/daoli/cloud/kv/1): ["set", key, value] -> ["ok"],
["get", key] -> ["value", value | None], ["del", key] -> ["ok"], ["keys"] -> ["keys", [...]].
Billing: one ``kv_ops`` per request served, plus bytes in and out; values count against the
lease's storage quota. Data lives in memory (a real one would persist under data_dir).
"""

from __future__ import annotations

from typing import Any

from daoli.cloud.buyer import Buyer
from daoli.cloud.proto import Refused, expect
from daoli.cloud.service import BYTES_IN, BYTES_OUT, MeterPolicy, Session, Tariff

PROTOCOL = "/daoli/cloud/kv/1"
KV_OPS = "kv_ops"
TARIFF = Tariff((*Tariff().per_unit, (KV_OPS, 10)))  # 10 operations per unit
POLICY = MeterPolicy(TARIFF)
MAX_KEY = 256
MAX_VALUE = 32 * 1024


class KVService:
    protocol = PROTOCOL

    def __init__(self) -> None:
        self.data: dict[bytes, dict[bytes, bytes]] = {}  # lease id -> its store

    async def handle(self, session: Session, request: list[Any]) -> None:
        store = self.data.setdefault(session.lease.id, {})
        verb, args = request[0], request[1:]
        if any(type(a) is not bytes for a in args) or any(len(a) > MAX_VALUE for a in args):
            raise Refused("bad_request", f"keys and values are bytes up to {MAX_VALUE}")
        if verb == "set":
            key, value = expect(request, "set", 2)
            if len(key) > MAX_KEY:
                raise Refused("bad_request", f"keys are at most {MAX_KEY} bytes")
            used = sum(len(k) + len(v) for k, v in store.items() if k != key)
            if used + len(key) + len(value) > session.quotas.storage_bytes:
                raise Refused("quota", "the lease's storage is full")
            store[key] = value
            session.charge(BYTES_IN, len(value))
            await session.send(["ok"])
        elif verb == "get":
            (key,) = expect(request, "get", 1)
            value = store.get(key)
            session.charge(BYTES_OUT, len(value or b""))
            await session.send(["value", value])
        elif verb == "del":
            (key,) = expect(request, "del", 1)
            store.pop(key, None)
            await session.send(["ok"])
        elif verb == "keys":
            expect(request, "keys", 0)
            await session.send(["keys", sorted(store)[:1000]])
        else:
            raise Refused("bad_request", f"unknown kv request {str(verb)[:32]!r}")
        session.charge(KV_OPS, 1)  # only what was served: a refused request costs nothing


class KVClient:
    """The buyer's side: counts what it is served, so it signs only for that."""

    def __init__(self, buyer: Buyer) -> None:
        self.buyer = buyer

    async def _call(self, *request: Any) -> list[Any]:
        session = await self.buyer.session(PROTOCOL)
        async with session.lock:
            await session.send(list(request))
            reply = await session.recv()
            if reply[0] != "err":
                session.observe(KV_OPS, 1)
                if request[0] == "set":
                    session.observe(BYTES_IN, len(request[2]))
                if reply[0] == "value" and type(reply[1]) is bytes:
                    session.observe(BYTES_OUT, len(reply[1]))
            return reply

    async def set(self, key: bytes, value: bytes) -> None:
        expect(await self._call("set", key, value), "ok", 0)

    async def get(self, key: bytes) -> bytes | None:
        (value,) = expect(await self._call("get", key), "value", 1)
        return value if type(value) is bytes else None

    async def delete(self, key: bytes) -> None:
        expect(await self._call("del", key), "ok", 0)

    async def keys(self) -> list[bytes]:
        (keys,) = expect(await self._call("keys"), "keys", 1)
        return [k for k in keys if type(k) is bytes]
