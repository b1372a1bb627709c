"""``daoli wallet``: create, import, inspect, export and delete password-protected keys.

Wallets live in ``<home>/wallets/NAME.json`` (Web3 Secret Storage v3, scrypt), derived
from a 24-word BIP39 phrase along ``m/44'/7771'/0'/0/N``. Passwords come from
``--password-file``, else ``$DAOLI_PASSWORD``, else a hidden prompt; with none of them and
no terminal the command stops with exit code 2 instead of hanging.

JSON output (``--json``) uses one wallet object everywhere:
``{"name", "address", "pubkey" (hex), "path" (null for raw keys), "file", "created"}``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.panel import Panel
from rich.table import Table

from daoli.cli.common import (
    HomeOpt,
    JsonOpt,
    emit,
    fail,
    group_options,
    read_secret_file,
    resolve_home,
    stderr,
    stdout,
)
from daoli.core.crypto import SECRET_LEN
from daoli.errors import WalletError
from daoli.wallet import WalletInfo, WalletStore, check_name
from daoli.wallet.hd import normalize_mnemonic

PASSWORD_ENV = "DAOLI_PASSWORD"

app = typer.Typer(
    help="Create, import, inspect, export and delete wallets (keys) in `<home>/wallets`.\n\n"
    "Keys derive from a 24-word BIP39 phrase along m/44'/7771'/0'/0/N. Password: "
    "--password-file, else $DAOLI_PASSWORD, else a prompt. --json wallet object: "
    '{"name", "address", "pubkey", "path" (null for raw keys), "file", "created"}.',
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback(invoke_without_command=True)
def _group(ctx: typer.Context, as_json: JsonOpt = False, home: HomeOpt = None) -> None:
    group_options(ctx, as_json, home)

NameArg = Annotated[str, typer.Argument(help="Wallet name (1-64 characters from A-Z a-z 0-9 _ -).")]
PasswordFileOpt = Annotated[
    Path | None,
    typer.Option("--password-file", help="Read the password from the first line of this "
                 "file (else $DAOLI_PASSWORD, else a prompt).", show_default=False),
]
LightKdfOpt = Annotated[
    bool, typer.Option("--light-kdf", help="scrypt n=4096 instead of 262144: fast and weak, "
                       "for dev nets and tests only.")
]
AccountOpt = Annotated[
    int, typer.Option("--account", min=0, max=2**31 - 1,
                      help="Key index N in the path m/44'/7771'/0'/0/N.")
]


def _store(home: Path | None) -> WalletStore:
    return WalletStore(resolve_home(home) / "wallets")


def _password(password_file: Path | None, *, confirm: bool) -> str:
    """The password by the documented precedence; never prompts without a terminal."""
    if password_file is not None:
        password = read_secret_file(password_file, "password")
        if not password:
            fail(f"password file {str(password_file)!r} is empty")
        return password
    env = os.environ.get(PASSWORD_ENV)
    if env:
        return env
    if not sys.stdin.isatty():
        fail(f"no password given: use --password-file or ${PASSWORD_ENV} "
             "(there is no terminal to prompt on)")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=confirm,
                                 err=True)
    if not password:
        fail("empty password")
    return password


def _show_wallet(info: WalletInfo, title: str) -> None:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("name", info.name)
    table.add_row("address", info.address)
    table.add_row("pubkey", info.pubkey.hex())
    table.add_row("path", info.path or "(imported raw key)")
    table.add_row("file", str(info.file))
    table.add_row("created", info.created or "?")
    stdout.print(table)


@app.command("new")
def new(
    name: NameArg,
    account: AccountOpt = 0,
    light_kdf: LightKdfOpt = False,
    password_file: PasswordFileOpt = None,
    home: HomeOpt = None,  # type: ignore[assignment]
    as_json: JsonOpt = False,
) -> None:
    """Create a wallet from a fresh 24-word phrase, shown ONCE (it is not stored).

    --json: the wallet object plus "mnemonic" (the 24 words).
    """
    store = _store(home)
    check_name(name)
    if store.exists(name):
        fail(f"wallet {name!r} already exists in {str(store.directory)!r}")
    password = _password(password_file, confirm=True)
    info, phrase = store.create(name, password, light_kdf=light_kdf, account=account)

    def human() -> None:
        words = phrase.split()
        grid = "\n".join(
            "   ".join(f"{i + 1:>2}. {words[i]:<9}" for i in range(row, len(words), 6))
            for row in range(6)
        )
        stdout.print(Panel(
            grid, border_style="red",
            title="[bold red]Recovery phrase: shown only this once[/bold red]",
            subtitle="[red]write it down offline; anyone who has it can spend your funds"
                     "[/red]",
        ))
        _show_wallet(info, f"created wallet {info.name}")

    emit(as_json, {**info.to_json(), "mnemonic": phrase}, human)


@app.command("import")
def import_(
    name: NameArg,
    mnemonic_file: Annotated[
        Path | None, typer.Option("--mnemonic-file", help="File holding a BIP39 phrase "
                                  "(12-24 English words).", show_default=False)
    ] = None,
    key_file: Annotated[
        Path | None, typer.Option("--key-file", help="File holding a 32-byte private key "
                                  "as 64 hex characters.", show_default=False)
    ] = None,
    account: AccountOpt = 0,
    light_kdf: LightKdfOpt = False,
    password_file: PasswordFileOpt = None,
    home: HomeOpt = None,  # type: ignore[assignment]
    as_json: JsonOpt = False,
) -> None:
    """Import a wallet from a phrase (--mnemonic-file) or a raw key (--key-file).

    --json: the wallet object.
    """
    if (mnemonic_file is None) == (key_file is None):
        fail("give exactly one of --mnemonic-file or --key-file")
    if key_file is not None and account != 0:
        fail("--account applies to --mnemonic-file only (a raw key has no derivation path)")
    store = _store(home)
    check_name(name)
    if store.exists(name):
        fail(f"wallet {name!r} already exists in {str(store.directory)!r}")
    if mnemonic_file is not None:
        phrase = _read_text(mnemonic_file, "mnemonic")
        phrase = normalize_mnemonic(phrase)  # complain before asking for a password
        password = _password(password_file, confirm=True)
        info = store.import_mnemonic(name, phrase, password, light_kdf=light_kdf,
                                     account=account)
    else:
        assert key_file is not None
        secret = _parse_key(read_secret_file(key_file, "key").strip())
        password = _password(password_file, confirm=True)
        info = store.import_secret(name, secret, password, light_kdf=light_kdf)
    emit(as_json, info.to_json(), lambda: _show_wallet(info, f"imported wallet {info.name}"))


@app.command("list")
def list_(
    home: HomeOpt = None,  # type: ignore[assignment]
    as_json: JsonOpt = False,
) -> None:
    """List wallets (no password needed).

    --json: {"wallets": [wallet object, ...], "unreadable": [{"file", "error"}, ...]}.
    """
    store = _store(home)
    wallets, bad = store.scan()
    for _file, reason in bad:
        stderr.print(f"[yellow]warning:[/yellow] skipped {reason}", highlight=False)

    def human() -> None:
        if not wallets:
            stdout.print(f"no wallets in {store.directory}", highlight=False)
            return
        table = Table("name", "address", "path")
        for w in wallets:
            table.add_row(w.name, w.address, w.path or "(raw key)")
        stdout.print(table)

    emit(as_json, {
        "wallets": [w.to_json() for w in wallets],
        "unreadable": [{"file": str(f), "error": reason} for f, reason in bad],
    }, human)


@app.command("show")
def show(
    name: NameArg,
    home: HomeOpt = None,  # type: ignore[assignment]
    as_json: JsonOpt = False,
) -> None:
    """Show a wallet's public details (no password needed).

    --json: the wallet object.
    """
    info = _store(home).info(name)
    emit(as_json, info.to_json(), lambda: _show_wallet(info, f"wallet {info.name}"))


@app.command("address")
def address(
    name: NameArg,
    home: HomeOpt = None,  # type: ignore[assignment]
    as_json: JsonOpt = False,
) -> None:
    """Print the wallet's dlc1... address alone, for scripts.

    --json: {"name", "address"}.
    """
    info = _store(home).info(name)
    emit(as_json, {"name": info.name, "address": info.address},
         lambda: sys.stdout.write(info.address + "\n"))


@app.command("export")
def export(
    name: NameArg,
    password_file: PasswordFileOpt = None,
    home: HomeOpt = None,  # type: ignore[assignment]
    as_json: JsonOpt = False,
) -> None:
    """Print the wallet's private key (64 hex characters) after checking the password.

    The recovery phrase cannot be exported: it is never stored, only shown at creation.
    --json: {"name", "address", "private_key"}.
    """
    store = _store(home)
    info = store.info(name)
    secret = store.unlock(name, _password(password_file, confirm=False))

    def human() -> None:
        stderr.print("[yellow]warning:[/yellow] anyone who sees this key can spend the "
                     f"funds of {info.address}", highlight=False)
        sys.stdout.write(secret.hex() + "\n")

    emit(as_json, {"name": info.name, "address": info.address,
                   "private_key": secret.hex()}, human)


@app.command("delete")
def delete(
    name: NameArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
    = False,
    force: Annotated[bool, typer.Option("--force", help="Delete without the password "
                                        "(e.g. a forgotten one).")] = False,
    password_file: PasswordFileOpt = None,
    home: HomeOpt = None,  # type: ignore[assignment]
    as_json: JsonOpt = False,
) -> None:
    """Delete a wallet file; needs its password (unless --force) and --yes or a confirmation.

    Without its phrase or an exported key, the funds of a deleted wallet are lost.
    --json: {"deleted": name, "address", "file"}.
    """
    store = _store(home)
    if force:
        info = store.info(name) if _parses(store, name) else None
    else:
        info = store.info(name)
        store.unlock(name, _password(password_file, confirm=False))
    file = store.file_of(name)
    if not file.exists():
        fail(f"no wallet named {name!r} in {str(store.directory)!r}")
    if not yes:
        if not sys.stdin.isatty():
            fail("refusing to delete without --yes (there is no terminal to confirm on)")
        what = f"{name} ({info.address})" if info else name
        if not typer.confirm(f"Delete wallet {what}? Its funds are lost without a backup",
                             default=False, err=True):
            fail("not deleted", exit_code=1)
    store.delete(name)
    emit(as_json, {"deleted": name, "address": info.address if info else None,
                   "file": str(file)},
         lambda: stdout.print(f"deleted wallet {name} ({file})", highlight=False))


def _parses(store: WalletStore, name: str) -> bool:
    """Whether ``--force`` can still name the address (a corrupt file can still be deleted)."""
    try:
        store.info(name)
    except WalletError:
        return False
    return True


def _read_text(path: Path, what: str) -> str:
    try:
        return path.expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"cannot read {what} file {str(path)!r}: {exc.strerror}")
    except UnicodeDecodeError:
        fail(f"{what} file {str(path)!r} is not UTF-8 text")


def _parse_key(text: str) -> bytes:
    hex_text = text[2:] if text.lower().startswith("0x") else text
    if len(hex_text) != 2 * SECRET_LEN:
        fail(f"key file must hold {2 * SECRET_LEN} hex characters, found {len(hex_text)}")
    try:
        return bytes.fromhex(hex_text)
    except ValueError:
        fail("key file holds a character that is not hex")
