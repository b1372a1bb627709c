"""The store refuses a certificate for another block at the same height (issue 13, part 7).

The suite only offered certificates of another *height*, which a store comparing heights
alone also refuses; these tests fail on that mutant of ``_check_cert`` (and on one that
drops the certificate check entirely), and show that nothing at all is written. The last
one does the same for ``set_certificate`` (a certificate naming a block stored at another
height). The mutants are replayed by ``bench/mutation.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from daoli.core.hashing import sha256
from daoli.core.vote import PRECOMMIT, CommitCertificate, Vote
from daoli.errors import StoreError
from daoli.store import BlockStore
from tests.store import crash_writer as cw

CHAIN = cw.Chain()


@pytest.fixture
def ready(tmp_path: Path) -> Iterator[BlockStore]:
    with BlockStore.open(tmp_path / "data") as s:
        s.init_genesis(CHAIN.genesis, cw.genesis_diff())
        yield s


def snapshot(store: BlockStore) -> tuple[object, ...]:
    """Everything observable, to show a refused write changed nothing."""
    return (store.stats(), store.tip_height, store.tip_id, store.state_acc, store.state_root,
            list(store.state_items()), list(store.blocks_range(0, 1 << 32)))


def _rival_cert(height: int) -> CommitCertificate:
    """A valid-looking certificate at ``height`` for a block that is not CHAIN's."""
    rival = cw.make_block(height, sha256(b"a rival parent"), None)
    cert = cw.make_cert(rival)
    assert cert.height == height and cert.block_id != CHAIN.block(height).id
    return cert


@pytest.mark.parametrize("height", [1, 3])
def test_commit_refuses_a_certificate_for_another_block_at_the_same_height(
        ready: BlockStore, height: int) -> None:
    for h in range(1, height):
        ready.commit_block(CHAIN.block(h), CHAIN.cert(h), cw.diff_for(h))
    before = snapshot(ready)
    with pytest.raises(StoreError, match=r"certificate .* is not for block"):
        ready.commit_block(CHAIN.block(height), _rival_cert(height),
                           cw.diff_for(height))
    assert snapshot(ready) == before
    assert ready.certificate(height) is None and ready.block_by_height(height) is None
    # the right certificate still goes in afterwards
    ready.commit_block(CHAIN.block(height), CHAIN.cert(height), cw.diff_for(height))
    assert ready.certificate(height) == CHAIN.cert(height)
    assert ready.tip_id == CHAIN.block(height).id


def test_a_rival_certificate_never_replaces_a_stored_one(ready: BlockStore) -> None:
    """``set_certificate`` checks the block id too: a later, rival certificate at the same
    height must not overwrite the one that certifies the stored block."""
    for h in (1, 2):
        ready.commit_block(CHAIN.block(h), CHAIN.cert(h), cw.diff_for(h))
    before = snapshot(ready)
    with pytest.raises(StoreError, match="no stored block"):
        ready.set_certificate(2, _rival_cert(2))
    assert snapshot(ready) == before
    assert ready.certificate(2) == CHAIN.cert(2)


def test_set_certificate_refuses_a_block_stored_at_another_height(ready: BlockStore) -> None:
    """Kills ``store-set-cert-any-block`` (bench/mutation.py): a certificate labelled height
    2 but naming block 1 names a stored block, just not the one at height 2."""
    for h in (1, 2):
        ready.commit_block(CHAIN.block(h), None, cw.diff_for(h))
    one = CHAIN.block(1)
    vote = Vote(cw.CHAIN_ID, PRECOMMIT, 2, 0, one.id, cw.TRUSTEE_PUB,
                one.header.time_ms).signed(cw.TRUSTEE_SECRET)
    relabelled = CommitCertificate.from_votes([vote])
    assert relabelled.height == 2 and ready.height_of(relabelled.block_id) == 1
    before = snapshot(ready)
    with pytest.raises(StoreError, match="no stored block"):
        ready.set_certificate(2, relabelled)
    assert snapshot(ready) == before
    assert ready.certificate(2) is None
