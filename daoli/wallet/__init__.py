"""Wallets: BIP39/BIP32 key derivation and password-protected Web3 v3 keystore files."""

from daoli.wallet.hd import COIN_TYPE, default_path, new_mnemonic, secret_from_mnemonic
from daoli.wallet.keystore import WalletInfo, WalletStore, check_name

__all__ = [
    "COIN_TYPE",
    "WalletInfo",
    "WalletStore",
    "check_name",
    "default_path",
    "new_mnemonic",
    "secret_from_mnemonic",
]
