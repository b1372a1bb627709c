"""Wallets: BIP39/BIP32 key derivation and password-protected Web3 v3 keystore files."""

from daoli.wallet.hd import COIN_TYPE, default_path, new_mnemonic, secret_from_mnemonic
from daoli.wallet.keystore import (
    COSTLY_KDF_LIMITS,
    NORMAL_KDF_LIMITS,
    KdfLimits,
    Keystore,
    WalletInfo,
    WalletStore,
    check_name,
    read_keystore_file,
    write_new_private_file,
)

__all__ = [
    "COIN_TYPE",
    "COSTLY_KDF_LIMITS",
    "NORMAL_KDF_LIMITS",
    "KdfLimits",
    "Keystore",
    "WalletInfo",
    "WalletStore",
    "check_name",
    "default_path",
    "new_mnemonic",
    "read_keystore_file",
    "secret_from_mnemonic",
    "write_new_private_file",
]
