"""``daoli.client``: a Python client for a DaoliCloud node's local API (docs/api.md).

For application developers, as web3.py or algosdk are for their chains::

    from daoli.client import Client, token_from_home

    with Client("http://127.0.0.1:26657", token_from_home(Path("~/.daoli").expanduser())) as node:
        tx = node.transfer(secret, "dlc1...", amount=150_000_000, fee=1_000)
        node.submit(tx)
        node.wait_for_tx(tx.id, timeout=30)

:class:`Client` blocks; :class:`AsyncClient` has the same methods as coroutines and runs
under asyncio or trio. Answers are frozen dataclasses (:mod:`daoli.client.types`) with the
protocol objects decoded by :mod:`daoli.core`; failures are :class:`daoli.errors.DaoliError`
subclasses (:mod:`daoli.client.errors`). See docs/client.md.

This package never imports ``daoli.node``, ``daoli.net`` or libp2p: a program that only
talks to a node does not pay for them.
"""

from daoli.client.client import (
    DEFAULT_TIMEOUT,
    AsyncClient,
    Client,
    address_text,
    block_ref,
    lease_close_body,
    offer_body,
    offer_cancel_body,
    order_body,
    sign_transaction,
    transfer_body,
    trustee_join_body,
    tx_ref,
    usage_receipt_body,
)
from daoli.client.errors import (
    ApiError,
    BadResponse,
    ClientError,
    NodeTimeout,
    NodeUnreachable,
    NotFound,
    Unauthorized,
)
from daoli.client.token import TOKEN_ENV, TOKEN_FILE, token_from_home
from daoli.client.types import (
    Account,
    BlockEvent,
    BlockInfo,
    CertificateInfo,
    Draw,
    Event,
    LeaseInfo,
    Leases,
    Lineup,
    LineupEntry,
    Mempool,
    OfferInfo,
    Offers,
    OrderInfo,
    Orders,
    Payroll,
    Peer,
    Status,
    SubmitResult,
    TicketInfo,
    TrusteeInfo,
    Trustees,
    TxEvent,
    TxInfo,
    TxStatus,
)

__all__ = [
    "DEFAULT_TIMEOUT", "TOKEN_ENV", "TOKEN_FILE", "Account", "ApiError", "AsyncClient",
    "BadResponse", "BlockEvent", "BlockInfo", "CertificateInfo", "Client", "ClientError",
    "Draw", "Event", "LeaseInfo", "Leases", "Lineup", "LineupEntry", "Mempool", "NodeTimeout",
    "NodeUnreachable", "NotFound", "OfferInfo", "Offers", "OrderInfo", "Orders", "Payroll",
    "Peer", "Status", "SubmitResult", "TicketInfo", "TrusteeInfo", "Trustees", "TxEvent",
    "TxInfo", "TxStatus", "Unauthorized", "address_text", "block_ref", "lease_close_body",
    "offer_body", "offer_cancel_body", "order_body", "sign_transaction", "token_from_home",
    "transfer_body", "trustee_join_body", "tx_ref", "usage_receipt_body",
]
