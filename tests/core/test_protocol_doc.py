"""docs/protocol.md is enough for a second implementation: an independent re-derivation.

Everything the protocol decides is recomputed here from the text of docs/protocol.md alone,
with hashlib, cbor2 and the constants the text names (tags, keys, types, field orders). The
only imports from ``daoli`` are ECDSA primitives (``crypto.sign``/``verify``: compact low-S
ECDSA over SHA-256, §2), the classes needed to *construct inputs*, and the public functions
whose output is compared (``genesis_diff``, ``apply_block``, ``verify_commit_certificate``).
The ledger's and the state's internals (AdHash, record classes, key constants, rewards,
lottery estimates) are deliberately not used to compute anything.

If one of these tests fails after a protocol change, the doc is out of date (or the change
was not meant to change the protocol).
"""

from __future__ import annotations

import hashlib
from typing import Any

import cbor2
import pytest

from daoli.core.block import Block, Header
from daoli.core.crypto import pubkey_from_secret, sign, verify
from daoli.core.genesis import Allocation, Genesis, GenesisTrustee
from daoli.core.ledger import apply_block, genesis_diff, verify_commit_certificate
from daoli.core.lottery import estimate_time_ties
from daoli.core.params import ChainParams
from daoli.core.ticket import Ticket
from daoli.core.tx import Evidence, Transaction
from daoli.core.vote import PRECOMMIT, PREVOTE, CommitCertificate, Vote
from daoli.errors import ConfigError, InvalidBlock

# --- the constants docs/protocol.md names --------------------------------------------------

CHAIN_ID = "testnet"  # §2's worked example uses this chain id
GENESIS_TIME_MS = 1_700_000_000_000
LI_PER_DLC = 10**8
PARAM_ORDER = (  # §1: the genesis params array, in this order
    "cycle_ms", "max_drift_ms", "phi_ms", "delta_ms", "diameter", "pow_difficulty",
    "epoch_blocks", "min_bond", "unbond_epochs", "max_trustees", "timeout_propose_ms",
    "timeout_prevote_ms", "timeout_precommit_ms", "timeout_delta_ms", "block_reward",
    "halving_blocks", "lineup_blocks", "max_block_bytes", "min_fee")
PARAMS = {  # §5 defaults, with a non-default difficulty so its place in the array shows
    "cycle_ms": 1_000, "max_drift_ms": 2_000, "phi_ms": 300, "delta_ms": 200, "diameter": 16,
    "pow_difficulty": 16, "epoch_blocks": 32, "min_bond": 1_000 * LI_PER_DLC,
    "unbond_epochs": 2, "max_trustees": 100, "timeout_propose_ms": 1_000,
    "timeout_prevote_ms": 500, "timeout_precommit_ms": 500, "timeout_delta_ms": 500,
    "block_reward": 50 * LI_PER_DLC, "halving_blocks": 4_000_000, "lineup_blocks": 64,
    "max_block_bytes": 4 * 1024 * 1024, "min_fee": 1_000}

TAG_TX, TAG_TICKET, TAG_VOTE, TAG_HEADER = (
    b"daoli/tx/v1", b"daoli/ticket/v1", b"daoli/vote/v1", b"daoli/header/v1")
T_TX, T_TICKET, T_VOTE, T_CERT, T_HEADER, T_GENESIS = 1, 2, 3, 4, 5, 7
KIND_EVIDENCE = 4
(R_ACCOUNT, R_TRUSTEE, R_TIP, R_LIST, R_SUPPLY, R_PENDING, R_BLOCK_ID,
 R_POW) = range(16, 24)
K_TIP, K_ACTIVE, K_PREV_ACTIVE, K_TRUSTEES = b"Gtip", b"Gactive", b"Gprev_active", b"Gtrustees"
K_SUPPLY, K_PENDING, K_POW, K_TIP_ID = (
    b"Gsupply", b"Gpending_trustee_reward", b"Gpow", b"Ntip_id")
R_LINEUP_ENTRY, R_LINEUP_BUCKET, R_LINEUP_HORIZON = 46, 47, 48  # §7 "Lineup duty"
P_LINEUP, P_LINEUP_EXPIRY, K_LINEUP_HORIZON = b"P", b"Q", b"Glineup"
SLASHED = 3
ACC_BYTES = 512  # AdHash over Z/2^4096


def cbor(value: Any) -> bytes:
    return cbor2.dumps(value, canonical=True)


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def secret(i: int) -> bytes:
    return i.to_bytes(32, "big")


def pub(i: int) -> bytes:
    return pubkey_from_secret(secret(i))


def address(pubkey: bytes) -> bytes:
    return sha(pubkey)[:20]


def signing_bytes(tag: bytes, chain_id: str, array: list[Any]) -> bytes:
    """§2: tag (raw ASCII) || CBOR(chain_id) (a text string) || CBOR(array)."""
    return tag + cbor(chain_id) + cbor(array)


def merkle_root(ids: list[bytes]) -> bytes:
    """§3: leaves 0x00 || id, inner nodes 0x01 || left || right, an odd node promoted."""
    if not ids:
        return sha(b"")
    level = [sha(b"\x00" + i) for i in ids]
    while len(level) > 1:
        nxt = [sha(b"\x01" + level[i] + level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def state_root(entries: dict[bytes, bytes]) -> tuple[bytes, bytes]:
    """§7 "State root": (accumulator, root); keys starting with ``N`` are not committed."""
    acc = 0
    for key, value in entries.items():
        if key[:1] == b"N":
            continue
        h = hashlib.shake_256(b"daoli/state/v1" + bytes((len(key),)) + key + value)
        acc += int.from_bytes(h.digest(ACC_BYTES), "little")
    acc_bytes = (acc % (1 << 4096)).to_bytes(ACC_BYTES, "little")
    return acc_bytes, sha(b"daoli/state-root/v1" + acc_bytes)


class DocState(dict[bytes, bytes]):
    """A state built from the doc, handed to ``apply_block`` as its StateReader."""

    @property
    def acc(self) -> bytes:
        return state_root(self)[0]

    @property
    def root(self) -> bytes:
        return state_root(self)[1]


def account(balance: int, nonce: int) -> bytes:
    return cbor([R_ACCOUNT, balance, nonce])


def trustee_list(keys: list[bytes]) -> bytes:
    """§7: TrusteeList is [19, [sorted keys]], the keys nested in one array."""
    return cbor([R_LIST, sorted(set(keys))])


# --- the scenario ---------------------------------------------------------------------------

TRUSTEE_A, TRUSTEE_B = 11, 12  # genesis list order: A at position 0, B at position 1
BOND_A, BOND_B = 2_000 * LI_PER_DLC, 1_000 * LI_PER_DLC
REPORTER, MINER, SPONSOR, PAYROLL_MINER = 21, 22, 23, 24
ALLOC_REPORTER, ALLOC_MINER = 5_000 * LI_PER_DLC, 7


def make_genesis() -> Genesis:
    trustees = (GenesisTrustee(pub(TRUSTEE_A), BOND_A, "/ip4/10.0.0.1/tcp/26656"),
                GenesisTrustee(pub(TRUSTEE_B), BOND_B, "/ip4/10.0.0.2/tcp/26656"))
    allocations = (Allocation(address(pub(REPORTER)), ALLOC_REPORTER),
                   Allocation(address(pub(MINER)), ALLOC_MINER))
    return Genesis(CHAIN_ID, GENESIS_TIME_MS, ChainParams(**PARAMS), allocations, trustees)


def doc_genesis_encoding(genesis: Genesis) -> bytes:
    """§1 type 7: [7, chain_id, genesis_time_ms, params, allocations, trustees]."""
    return cbor([T_GENESIS, CHAIN_ID, GENESIS_TIME_MS, [PARAMS[n] for n in PARAM_ORDER],
                 [[a.address, a.amount] for a in genesis.allocations],
                 [[t.pubkey, t.bond, t.multiaddr] for t in genesis.trustees]])


def doc_genesis_state(genesis: Genesis) -> DocState:
    """§7 "Genesis state", entry by entry."""
    s = DocState()
    for a in genesis.allocations:
        if a.amount > 0:
            s[b"A" + a.address] = account(a.amount, 0)
    for i, t in enumerate(genesis.trustees):
        s[b"T" + t.pubkey] = cbor([R_TRUSTEE, t.pubkey, t.bond, t.multiaddr, 0, 0, i, 0])
    keys = [t.pubkey for t in genesis.trustees]
    s[K_TRUSTEES] = trustee_list(keys)
    s[K_ACTIVE] = trustee_list(keys)  # every genesis trustee (at most max_trustees)
    s[K_PREV_ACTIVE] = cbor([R_LIST, []])
    total = sum(a.amount for a in genesis.allocations) + sum(t.bond for t in genesis.trustees)
    s[K_SUPPLY] = cbor([R_SUPPLY, total, 0, 0, 0])
    s[K_PENDING] = cbor([R_PENDING, 0, 0])
    s[K_POW] = cbor([R_POW, PARAMS["pow_difficulty"], []])
    s[K_TIP] = cbor([R_TIP, 0, None, GENESIS_TIME_MS])
    s[K_TIP_ID] = cbor([R_BLOCK_ID, sha(doc_genesis_encoding(genesis))])
    return s


def doc_ticket(height: int, cycle: int, parent: bytes, miner: int, sponsor: int, nonce: int,
               time_ms: int) -> list[Any]:
    """§1 type 2, signed as §2 says: the complete 10-item array."""
    fields = [height, cycle, parent, pub(miner), pub(sponsor), nonce, time_ms]
    sig = sign(secret(miner), signing_bytes(TAG_TICKET, CHAIN_ID, [T_TICKET, *fields]))
    return [T_TICKET, CHAIN_ID, *fields, sig]


def doc_vote(i: int, vtype: int, height: int, round_: int, block_id: bytes,
             time_ms: int) -> list[Any]:
    fields = [vtype, height, round_, block_id, pub(i), time_ms]
    sig = sign(secret(i), signing_bytes(TAG_VOTE, CHAIN_ID, [T_VOTE, *fields]))
    return [T_VOTE, CHAIN_ID, *fields, sig]


def doc_header(height: int, cycle: int, time_ms: int, parent: bytes, ticket: list[Any],
               payload_ids: list[bytes], payroll_ids: list[bytes], state_root_: bytes,
               last_commit_id: bytes | None, sponsor: int) -> tuple[bytes, list[Any]]:
    """(signing bytes, complete header array) as §1 and §2 lay them out."""
    unsigned = [T_HEADER, height, cycle, time_ms, parent, ticket, merkle_root(payload_ids),
                merkle_root(payroll_ids), state_root_,
                sha(b"") if last_commit_id is None else last_commit_id, pub(sponsor)]
    msg = signing_bytes(TAG_HEADER, CHAIN_ID, unsigned)
    return msg, [T_HEADER, CHAIN_ID, *unsigned[1:], sign(secret(sponsor), msg)]


def ticket_obj(a: list[Any]) -> Ticket:
    return Ticket.decode(cbor(a))


def subsidy_split(s: int) -> tuple[int, int, int, int, int]:
    """§7 "Rewards": winner, sponsor, payroll, trustees, rounding leftover."""
    w, sp, p, t = s * 40 // 100, s * 10 // 100, s * 20 // 100, s * 30 // 100
    return w, sp, p, t, s - w - sp - p - t


def credit(s: DocState, addr: bytes, amount: int) -> None:
    if amount == 0:
        return
    old = s.get(b"A" + addr)
    balance, nonce = (0, 0) if old is None else cbor2.loads(old)[1:]
    s[b"A" + addr] = account(balance + amount, nonce)


def assert_same_state(expected: DocState, got: dict[bytes, bytes]) -> None:
    assert sorted(expected) == sorted(got), "keys differ"
    for key in expected:
        assert expected[key] == got[key], f"value of {key!r} differs"


# --- tests ----------------------------------------------------------------------------------


def test_genesis_encoding_and_id_from_the_doc() -> None:
    genesis = make_genesis()
    assert doc_genesis_encoding(genesis) == genesis.encode()
    assert sha(doc_genesis_encoding(genesis)) == genesis.id


def test_genesis_state_root_from_the_doc() -> None:
    genesis = make_genesis()
    doc = doc_genesis_state(genesis)
    diff = genesis_diff(genesis)
    # 2 allocations + 2 trustees + 7 global records + Ntip_id = 12 entries, 11 committed
    assert len(doc) == 12 and sum(1 for k in doc if k[:1] != b"N") == 11
    assert_same_state(doc, dict(diff.writes))  # type: ignore[arg-type]
    assert doc.acc == diff.acc
    assert doc.root == diff.root


def test_genesis_zero_allocation_writes_nothing() -> None:
    g = make_genesis()
    zero = Allocation(address(pub(99)), 0)
    genesis = Genesis(CHAIN_ID, GENESIS_TIME_MS, g.params, (*g.allocations, zero), g.trustees)
    doc = doc_genesis_state(genesis)
    assert b"A" + zero.address not in doc
    assert doc.root == genesis_diff(genesis).root


def test_header_signing_bytes_with_nested_signed_ticket() -> None:
    genesis_id = sha(doc_genesis_encoding(make_genesis()))
    ticket = doc_ticket(1, 5, genesis_id, MINER, SPONSOR, 42, GENESIS_TIME_MS + 100)
    state = bytes(range(32))
    msg, header = doc_header(1, 5, GENESIS_TIME_MS + 150, genesis_id, ticket, [], [], state,
                             None, SPONSOR)
    # §2's worked example: tag, text(7) "testnet", array of 11, the type 5, then the height
    assert msg.startswith(b"daoli/header/v1" + bytes.fromhex("67746573746e6574") + b"\x8b\x05\x01")
    # the nested ticket is the complete signed array, inside the signed bytes
    assert cbor(ticket) in msg and ticket[-1] in msg
    obj = Header(CHAIN_ID, 1, 5, GENESIS_TIME_MS + 150, genesis_id, ticket_obj(ticket),
                 sha(b""), sha(b""), state, sha(b""), pub(SPONSOR))
    assert obj.signing_bytes() == msg
    signed = obj.signed(secret(SPONSOR))
    assert signed.proposer_sig == header[-1]  # RFC 6979: deterministic
    assert verify(pub(SPONSOR), header[-1], msg)
    assert signed.encode() == cbor(header)
    assert signed.id == sha(cbor(header))  # the block id: the header's 13 items, sig included
    # changing the ticket's signature (nothing else) changes what the proposer signed
    other = doc_ticket(1, 5, genesis_id, MINER, SPONSOR, 43, GENESIS_TIME_MS + 100)
    msg2, _ = doc_header(1, 5, GENESIS_TIME_MS + 150, genesis_id, other, [], [], state, None,
                         SPONSOR)
    assert not verify(pub(SPONSOR), header[-1], msg2)


def test_certificate_entries_verify_as_precommits_under_the_chain_id() -> None:
    block_id, height, round_ = sha(b"some block"), 9, 2
    votes = [doc_vote(i, PRECOMMIT, height, round_, block_id, GENESIS_TIME_MS + i)
             for i in (TRUSTEE_A, TRUSTEE_B)]
    entries = sorted([v[6], v[7], v[8]] for v in votes)  # [pubkey, time_ms, sig], by key
    cert_array = [T_CERT, height, round_, block_id, entries]
    cert = CommitCertificate.from_votes([Vote.decode(cbor(v)) for v in votes])
    assert cert.encode() == cbor(cert_array)
    assert cert.id == sha(cbor(cert_array))
    for pk, t, sig in entries:
        row = [T_VOTE, PRECOMMIT, height, round_, block_id, pk, t]
        assert verify(pk, sig, signing_bytes(TAG_VOTE, CHAIN_ID, row))
        # not as a prevote, not on another chain
        assert not verify(pk, sig, signing_bytes(TAG_VOTE, CHAIN_ID, [T_VOTE, PREVOTE,
                                                                       *row[2:]]))
        assert not verify(pk, sig, signing_bytes(TAG_VOTE, "othernet", row))
    voters = [pub(TRUSTEE_A), pub(TRUSTEE_B)]
    verify_commit_certificate(cert, CHAIN_ID, height, block_id, voters)
    with pytest.raises(InvalidBlock, match="does not verify"):
        verify_commit_certificate(cert, "othernet", height, block_id, voters)


def test_time_tie_estimate_examples_from_the_doc() -> None:
    d = 16
    cases = {(1 << 254) - 1: 62, (1 << 256) - 1: 16, (1 << 250) - 1: 1_002}
    for lot_k, expected in cases.items():
        k = d
        doc_value = max(k, ((3 * k - 1) << 256) // (3 * (lot_k + 1)))
        assert doc_value == expected
        assert estimate_time_ties(k, lot_k.to_bytes(32, "big"), d) == expected
        assert min(doc_value, 4 * d) == min(expected, 64)
    assert estimate_time_ties(3, bytes(32), d) == 3  # k < diameter: the count itself


def test_two_blocks_with_slashing_and_certificate_from_the_doc() -> None:
    """Block 1 slashes trustee A by Evidence and pays a payroll; block 2 carries block 1's
    certificate signed by A (slashed, still voting) and B, and pays them the trustee reward.
    Every state root is computed from the doc and put into the header: ``apply_block``
    accepts each block only if the ledger derives the same root."""
    genesis = make_genesis()
    params = PARAMS
    state = doc_genesis_state(genesis)
    genesis_id = sha(doc_genesis_encoding(genesis))
    s = params["block_reward"]
    win, spon, pay, trus, rest = subsidy_split(s)
    fee = params["min_fee"]

    # --- block 1: Evidence against A, one payroll ticket ---------------------------------
    vote_a = doc_vote(TRUSTEE_A, PREVOTE, 7, 0, sha(b"x"), GENESIS_TIME_MS)
    vote_b = doc_vote(TRUSTEE_A, PREVOTE, 7, 0, b"", GENESIS_TIME_MS)  # nil conflicts too
    body = [vote_a, vote_b]
    tx_fields = [KIND_EVIDENCE, pub(REPORTER), 0, fee, body]
    tx_sig = sign(secret(REPORTER), signing_bytes(TAG_TX, CHAIN_ID, [T_TX, *tx_fields]))
    tx_array = [T_TX, CHAIN_ID, *tx_fields, tx_sig]
    tx = Transaction(CHAIN_ID, pub(REPORTER), 0, fee,
                     Evidence(Vote.decode(cbor(vote_a)), Vote.decode(cbor(vote_b)))).signed(
                         secret(REPORTER))
    assert tx.encode() == cbor(tx_array)
    cycle1, time1 = 5, GENESIS_TIME_MS  # block 1: any cycle, time >= genesis time
    winner = doc_ticket(1, cycle1, genesis_id, MINER, SPONSOR, 0, time1)
    payroll = doc_ticket(1, cycle1, genesis_id, PAYROLL_MINER, SPONSOR, 0, time1)

    after1 = DocState(state)
    after1[b"A" + address(pub(REPORTER))] = account(ALLOC_REPORTER - fee + BOND_A // 2, 1)
    after1[b"T" + pub(TRUSTEE_A)] = cbor([R_TRUSTEE, pub(TRUSTEE_A), 0,
                                          "/ip4/10.0.0.1/tcp/26656", SLASHED, 0, 0, 0])
    credit(after1, address(pub(MINER)), win + fee)
    credit(after1, address(pub(SPONSOR)), spon)
    credit(after1, address(pub(PAYROLL_MINER)), pay)  # one payroll ticket: all of it
    after1[K_PENDING] = cbor([R_PENDING, 1, trus])
    after1[K_POW] = cbor([R_POW, params["pow_difficulty"], [2]])  # k = 2 < diameter
    total = ALLOC_REPORTER + ALLOC_MINER + BOND_A + BOND_B
    burned1 = rest + (BOND_A - BOND_A // 2)
    after1[K_SUPPLY] = cbor([R_SUPPLY, total, s, burned1, BOND_A])
    after1[K_PREV_ACTIVE] = state[K_ACTIVE]  # both genesis trustees voted on block 1
    after1[K_TIP] = cbor([R_TIP, 1, cycle1, time1])
    # §7 "Lineup duty": the payroll miner is lined up until 1 + lineup_blocks
    until = 1 + params["lineup_blocks"]
    after1[P_LINEUP + pub(PAYROLL_MINER)] = cbor([R_LINEUP_ENTRY, pub(PAYROLL_MINER),
                                                  pub(SPONSOR), 1, until])
    after1[P_LINEUP_EXPIRY + until.to_bytes(8, "big")] = cbor([R_LINEUP_BUCKET,
                                                               [pub(PAYROLL_MINER)]])
    after1[K_LINEUP_HORIZON] = cbor([R_LINEUP_HORIZON, until])
    _, header1 = doc_header(1, cycle1, time1, genesis_id, winner, [sha(cbor(tx_array))],
                            [sha(cbor(payroll))], after1.root, None, SPONSOR)
    block1_id = sha(cbor(header1))
    after1[K_TIP_ID] = cbor([R_BLOCK_ID, block1_id])

    block1 = Block(Header.decode(cbor(header1)), (tx,), (ticket_obj(payroll),), None)
    assert block1.id == block1_id
    result1 = apply_block(state, state.acc, genesis, block1)  # checks the state root
    assert result1.slashed == BOND_A
    applied = DocState(state)
    for k, v in result1.diff.writes.items():
        if v is None:
            applied.pop(k, None)
        else:
            applied[k] = v
    assert_same_state(after1, applied)

    # --- block 2: block 1's certificate by A (slashed, still active) and B -------------
    cycle2, time2 = cycle1 + 1, time1 + 1_000
    votes = [doc_vote(i, PRECOMMIT, 1, 0, block1_id, time1 + 500)
             for i in (TRUSTEE_A, TRUSTEE_B)]
    cert_array = [T_CERT, 1, 0, block1_id, sorted([v[6], v[7], v[8]] for v in votes)]
    cert_id = sha(cbor(cert_array))
    winner2 = doc_ticket(2, cycle2, block1_id, MINER, SPONSOR, 0, time2)

    after2 = DocState(after1)
    credit(after2, address(pub(MINER)), win)
    credit(after2, address(pub(SPONSOR)), spon)
    each = trus // 2  # block 1's trustee share, equally to the 2 signers
    credit(after2, address(pub(TRUSTEE_A)), each)
    credit(after2, address(pub(TRUSTEE_B)), each)
    after2[K_PENDING] = cbor([R_PENDING, 2, trus])
    after2[K_POW] = cbor([R_POW, params["pow_difficulty"], [2, 1]])
    burned2 = burned1 + rest + pay + (trus - 2 * each)  # empty payroll: its share burned
    after2[K_SUPPLY] = cbor([R_SUPPLY, total, 2 * s, burned2, BOND_A])
    after2[K_TIP] = cbor([R_TIP, 2, cycle2, time2])
    _, header2 = doc_header(2, cycle2, time2, block1_id, winner2, [], [], after2.root, cert_id,
                            SPONSOR)
    after2[K_TIP_ID] = cbor([R_BLOCK_ID, sha(cbor(header2))])

    cert = CommitCertificate.decode(cbor(cert_array))
    block2 = Block(Header.decode(cbor(header2)), (), (), cert)
    result2 = apply_block(after1, after1.acc, genesis, block2)
    applied = DocState(after1)
    applied.update({k: v for k, v in result2.diff.writes.items() if v is not None})
    assert_same_state(after2, applied)
    # the supply invariant of §7: genesis + minted - burned = balances + bonds + pending
    balances = sum(cbor2.loads(v)[1] for k, v in after2.items() if k[:1] == b"A")
    bonds = sum(cbor2.loads(v)[2] for k, v in after2.items() if k[:1] == b"T")
    assert total + 2 * s - burned2 == balances + bonds + trus


def test_chain_id_rule_from_the_doc() -> None:
    params = ChainParams(**PARAMS)
    for ok in ("a", "0", "dev-", "a--b", "x" * 63):
        Genesis(ok, GENESIS_TIME_MS, params)
    for bad in ("-a", "", "A", "a_b", "x" * 64, "dev\n", "dé"):
        with pytest.raises(ConfigError, match="chain_id"):
            Genesis(bad, GENESIS_TIME_MS, params)
