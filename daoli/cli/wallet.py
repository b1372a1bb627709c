"""``daoli wallet``: create, import, inspect, export and delete password-protected keys.

Wallets live in ``<home>/wallets/NAME.json`` (Web3 Secret Storage v3, scrypt), derived
from a 24-word BIP39 phrase along ``m/44'/7771'/0'/0/N``. Passwords come from
``--password-file``, else ``$DAOLI_PASSWORD_FILE``, else ``$DAOLI_PASSWORD``, else a hidden
prompt; with none of them and no terminal the command stops with exit code 2 instead of
hanging. ``-`` names standard input for ``--password-file``, ``--mnemonic-file`` and
``--key-file`` (all read with a size limit).

Secrets go only where the user sends them: ``wallet new`` shows the recovery phrase on a
terminal or writes it to ``--mnemonic-out FILE`` (never in JSON), and ``wallet export``
prints a private key to a non-terminal only with ``--yes``.

JSON output (``--json``) uses one wallet object everywhere:
``{"name", "address", "pubkey" (hex), "path" (null for raw keys), "file", "created"}``.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from daoli.cli.common import (
    HomeOpt,
    JsonOpt,
    confirm,
    emit,
    examples,
    fail,
    group_options,
    one_line,
    parse_path,
    prompt_secret,
    resolve_home,
    say,
    state,
    stdout,
    warn,
)
from daoli.core.crypto import SECRET_LEN
from daoli.errors import EXIT_FAILED, DaoliError, WalletError
from daoli.files import (
    MAX_SECRET_FILE,
    STDIN,
    os_error_text,
    quote,
    read_secret_line,
    read_text,
    show,
)
from daoli.wallet import WalletInfo, WalletStore, check_name
from daoli.wallet.hd import normalize_mnemonic
from daoli.wallet.keystore import read_keystore_file, write_new_private_file

PASSWORD_ENV = "DAOLI_PASSWORD"
PASSWORD_FILE_ENV = "DAOLI_PASSWORD_FILE"

app = typer.Typer(
    help="Create, import, inspect, export and delete wallets (keys) in `<home>/wallets`; "
    "ask a node for a balance and send coins.\n\n"
    "Keys derive from a 24-word BIP39 phrase along m/44'/7771'/0'/0/N. Password: "
    f"--password-file, else ${PASSWORD_FILE_ENV}, else ${PASSWORD_ENV}, else a hidden "
    "prompt ('-' as a file name is standard input). --json wallet object: "
    '{"name", "address", "pubkey", "path" (null for raw keys), "file", "created"}.'
    + examples("daoli wallet new alice --mnemonic-out alice.phrase",
               "daoli --json wallet list",
               "daoli wallet import bob --keystore geth-key.json",
               "daoli wallet send alice bob 1.5DLC --wait"),
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback(invoke_without_command=True)
def _group(ctx: typer.Context, as_json: JsonOpt = False, home: HomeOpt = None) -> None:
    group_options(ctx, as_json, home)


NameArg = Annotated[str, typer.Argument(help="Wallet name (1-64 characters from A-Z a-z 0-9 _ -).")]
PasswordFileOpt = Annotated[
    Path | None,
    typer.Option("--password-file", parser=parse_path,
                 help=f"Read the password from the first line of this file ('-': standard "
                 f"input); else ${PASSWORD_FILE_ENV}, else ${PASSWORD_ENV}, else a prompt.",
                 show_default=False),
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


def _json(as_json: bool) -> bool:
    return as_json or state().json


# ----- passwords ---------------------------------------------------------------------------


def _password_file(password_file: Path | None) -> tuple[Path | None, str]:
    """The password file in force (--password-file, else $DAOLI_PASSWORD_FILE) and how to
    name it in messages."""
    if password_file is not None:
        return password_file, "--password-file"
    env_file = os.environ.get(PASSWORD_FILE_ENV, "")
    if env_file:
        return Path(env_file), f"${PASSWORD_FILE_ENV}"
    return None, ""


def _given_password(password_file: Path | None) -> str | None:
    """The password from a file or the environment, or None when only a prompt can give it.

    Stops with exit code 2 when there is no password and no terminal to ask on, so a
    script never hangs on a prompt.
    """
    file, origin = _password_file(password_file)
    if file is not None:
        try:
            password = read_secret_line(file, "password")
        except DaoliError as exc:
            if origin == "--password-file":
                raise
            fail(f"{one_line(str(exc))} (from {origin})", exc.exit_code)
        if not password:
            where = "standard input" if str(file) == STDIN else quote(file)
            fail(f"password file {where} ({origin}) is empty")
        return password
    env = os.environ.get(PASSWORD_ENV)
    if env:
        try:
            env.encode("utf-8")
        except UnicodeEncodeError:
            fail(f"${PASSWORD_ENV} is not valid UTF-8 text")
        return env
    if not sys.stdin.isatty():
        fail(f"no password given: use --password-file, ${PASSWORD_FILE_ENV} or "
             f"${PASSWORD_ENV} (there is no terminal to prompt on)")
    return None


def _password(password_file: Path | None, *, confirm: bool,
              given: str | None = None) -> str:
    """The password by the documented precedence, prompting (hidden) only on a terminal."""
    if given is None:
        given = _given_password(password_file)
    if given is not None:
        return given
    password = prompt_secret("Password", confirm=confirm)
    if not password:
        fail("empty password")
    return password


def _one_stdin_reader(password_file: Path | None, **others: Path | None) -> None:
    """Standard input can feed one secret only."""
    readers = [name for name, path in others.items() if path is not None
               and str(path) == STDIN]
    file, origin = _password_file(password_file)
    if file is not None and str(file) == STDIN:
        readers.append(origin)
    if len(readers) > 1:
        fail(f"only one of {' and '.join(readers)} can be '-' (standard input)")


# ----- output ------------------------------------------------------------------------------


def _show_wallet(info: WalletInfo, title: str) -> None:
    table = Table(title=Text(title, style="bold"), show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("name", Text(show(info.name)))
    table.add_row("address", Text(info.address))
    table.add_row("pubkey", Text(info.pubkey.hex()))
    table.add_row("path", Text(show(info.path) if info.path else "(imported raw key)"))
    table.add_row("file", Text(show(info.file)))
    table.add_row("created", Text(show(info.created) if info.created else "?"))
    stdout.print(table)


def _show_phrase(phrase: str) -> None:
    words = phrase.split()
    grid = "\n".join(
        "   ".join(f"{i + 1:>2}. {words[i]:<9}" for i in range(row, len(words), 6))
        for row in range(6)
    )
    stdout.print(Panel(
        Text(grid), border_style="red",
        title=Text("Recovery phrase: shown only this once", style="bold red"),
        subtitle=Text("write it down offline; anyone who has it can spend your funds",
                      style="red"),
    ))


# ----- commands ----------------------------------------------------------------------------


@app.command("new")
def new(
    name: NameArg,
    account: AccountOpt = 0,
    light_kdf: LightKdfOpt = False,
    mnemonic_out: Annotated[
        Path | None, typer.Option(
            "--mnemonic-out", parser=parse_path,
            help="Write the recovery phrase to this new file (mode 0600; an existing file "
            "is never overwritten) instead of showing it.", show_default=False)
    ] = None,
    discard_mnemonic: Annotated[
        bool, typer.Option("--discard-mnemonic",
                           help="Do not keep the recovery phrase at all: for throwaway dev "
                           "and test keys (the key can still be exported).")
    ] = False,
    password_file: PasswordFileOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a wallet from a fresh 24-word recovery phrase (the phrase is not stored).

    The phrase is shown once on the terminal, or written to --mnemonic-out FILE, or thrown
    away with --discard-mnemonic. It is never printed to a pipe or a file by redirection,
    nor in JSON: without --mnemonic-out or --discard-mnemonic, a non-terminal stdout or
    --json is refused (exit 2) before anything is created.

    --json: the wallet object plus "mnemonic_file" (the --mnemonic-out path, or null).
    """
    check_name(name)
    if mnemonic_out is not None and discard_mnemonic:
        fail("give at most one of --mnemonic-out and --discard-mnemonic")
    if mnemonic_out is not None and str(mnemonic_out) == STDIN:
        fail("--mnemonic-out needs a file name ('-' is not allowed: the phrase goes to a "
             "terminal or a file only)")
    store = _store(home)
    if store.exists(name):
        fail(f"wallet {quote(name)} already exists in {quote(store.directory)}")
    given = _given_password(password_file)
    to_terminal = mnemonic_out is None and not discard_mnemonic
    if to_terminal and (_json(as_json) or not sys.stdout.isatty()):
        fail("the recovery phrase is shown only on a terminal: use --mnemonic-out FILE to "
             "save it, or --discard-mnemonic for a throwaway key")
    out_file = _phrase_file(mnemonic_out) if mnemonic_out is not None else None
    password = _password(password_file, confirm=True, given=given)

    saved = False

    def save_phrase(phrase: str) -> None:
        nonlocal saved
        assert out_file is not None
        write_new_private_file(out_file, (phrase + "\n").encode(), "--mnemonic-out")
        saved = True

    try:
        info, phrase = store.create(name, password, light_kdf=light_kdf, account=account,
                                    save_phrase=save_phrase if out_file else None)
    except BaseException:
        # No wallet was written: the phrase file would name a key that exists nowhere.
        if saved and out_file is not None and not _may_exist(store, name):
            with contextlib.suppress(OSError):
                os.unlink(out_file)
        raise

    def human() -> None:
        if to_terminal:
            _show_phrase(phrase)
        elif out_file is not None:
            say(("recovery phrase written to ", "bold"), show(out_file),
                " (mode 0600): keep it offline; anyone who has it can spend the funds")
        else:
            warn("the recovery phrase was discarded: back up this key with "
                 f"'daoli wallet export {name}' if it will ever hold funds")
        _show_wallet(info, f"created wallet {info.name}")

    emit(as_json, {**info.to_json(), "mnemonic_file": str(out_file) if out_file else None},
         human)


new.__doc__ = (new.__doc__ or "") + examples(
    "daoli wallet new alice",
    "daoli wallet new alice --mnemonic-out ~/alice.phrase",
    "DAOLI_PASSWORD=dev daoli --json wallet new tmp --discard-mnemonic --light-kdf",
)


@app.command("import")
def import_(
    name: NameArg,
    mnemonic_file: Annotated[
        Path | None, typer.Option("--mnemonic-file", parser=parse_path,
                                  help="File holding a BIP39 phrase (12-24 English words; "
                                  "'-': standard input).", show_default=False)
    ] = None,
    key_file: Annotated[
        Path | None, typer.Option("--key-file", parser=parse_path,
                                  help="File holding a 32-byte private key as 64 hex "
                                  "characters ('-': standard input).", show_default=False)
    ] = None,
    keystore: Annotated[
        Path | None, typer.Option("--keystore", parser=parse_path,
                                  help="A Web3 Secret Storage v3 keystore (from daoli, geth, "
                                  "eth-keyfile...), decrypted with its password and stored "
                                  "re-encrypted with the same password.",
                                  show_default=False)
    ] = None,
    allow_costly_kdf: Annotated[
        bool, typer.Option("--allow-costly-kdf",
                           help="With --keystore: accept a KDF costlier than 'wallet new' "
                           "writes, up to scrypt 2 GiB of memory and p <= 16, or pbkdf2 "
                           "c <= 10,000,000 (this import only; the stored copy uses our KDF).")
    ] = False,
    account: AccountOpt = 0,
    light_kdf: LightKdfOpt = False,
    password_file: PasswordFileOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import a wallet from a phrase (--mnemonic-file), a raw key (--key-file) or a keystore
    (--keystore).

    A keystore's KDF may cost no more than 'wallet new' spends (scrypt 256 MiB, p = 1;
    pbkdf2 c <= 262,144) unless --allow-costly-kdf is given; it is checked before the
    password is asked for.

    --json: the wallet object.
    """
    sources = [s for s in (mnemonic_file, key_file, keystore) if s is not None]
    if len(sources) != 1:
        fail("give exactly one of --mnemonic-file, --key-file or --keystore")
    if mnemonic_file is None and account != 0:
        fail("--account applies to --mnemonic-file only (a raw key has no derivation path)")
    if allow_costly_kdf and keystore is None:
        fail("--allow-costly-kdf applies to --keystore only")
    check_name(name)
    _one_stdin_reader(password_file, **{"--mnemonic-file": mnemonic_file,
                                        "--key-file": key_file})
    store = _store(home)
    if store.exists(name):
        fail(f"wallet {quote(name)} already exists in {quote(store.directory)}")
    if mnemonic_file is not None:
        text = read_text(mnemonic_file, "mnemonic file", max_bytes=MAX_SECRET_FILE,
                         allow_stdin=True, allow_special=True, error=WalletError)
        phrase = normalize_mnemonic(text)  # complain before asking for a password
        password = _password(password_file, confirm=True)
        info = store.import_mnemonic(name, phrase, password, light_kdf=light_kdf,
                                     account=account)
    elif key_file is not None:
        secret = _parse_key(read_secret_line(key_file, "key").strip())
        password = _password(password_file, confirm=True)
        info = store.import_secret(name, secret, password, light_kdf=light_kdf)
    else:
        assert keystore is not None
        parsed = read_keystore_file(keystore, allow_costly_kdf=allow_costly_kdf)
        password = _password(password_file, confirm=False)
        info = store.import_keystore(name, parsed, password, light_kdf=light_kdf)
    emit(as_json, info.to_json(), lambda: _show_wallet(info, f"imported wallet {info.name}"))


import_.__doc__ = (import_.__doc__ or "") + examples(
    "daoli wallet import alice --mnemonic-file alice.phrase",
    "pass show daoli/key | daoli wallet import hot --key-file -",
    "daoli wallet import old --keystore UTC--2021-...--0a1b.json --allow-costly-kdf",
)


@app.command("list")
def list_(
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List wallets (no password needed); files that cannot be read are reported, not fatal.

    --json: {"wallets": [wallet object, ...], "unreadable": [{"file", "error"}, ...]}.
    """
    store = _store(home)
    wallets, bad = store.scan()
    for _file, reason in bad:
        warn(f"skipped {reason}")

    def human() -> None:
        if not wallets:
            say("no wallets in ", show(store.directory))
            return
        table = Table("name", "address", "path")
        for w in wallets:
            table.add_row(Text(show(w.name)), Text(w.address),
                          Text(show(w.path) if w.path else "(raw key)"))
        stdout.print(table)

    emit(as_json, {
        "wallets": [w.to_json() for w in wallets],
        "unreadable": [{"file": str(f), "error": reason} for f, reason in bad],
    }, human)


list_.__doc__ = (list_.__doc__ or "") + examples(
    "daoli wallet list", "daoli --json wallet list", "daoli wallet list --home ./node1")


@app.command("show")
def show_(
    name: NameArg,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a wallet's public details (no password needed).

    --json: the wallet object.
    """
    info = _store(home).info(name)
    emit(as_json, info.to_json(), lambda: _show_wallet(info, f"wallet {info.name}"))


show_.__doc__ = (show_.__doc__ or "") + examples(
    "daoli wallet show alice", "daoli --json wallet show alice")


@app.command("address")
def address(
    name: NameArg,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the wallet's dlc1... address alone, for scripts.

    --json: {"name", "address"}.
    """
    info = _store(home).info(name)
    def human() -> None:
        sys.stdout.write(info.address + "\n")

    emit(as_json, {"name": info.name, "address": info.address}, human)


address.__doc__ = (address.__doc__ or "") + examples(
    "daoli wallet address alice", 'addr=$(daoli wallet address alice)')


@app.command("export")
def export(
    name: NameArg,
    yes: Annotated[bool, typer.Option(
        "--yes", "-y", help="Print the key even when stdout is not a terminal (a file or "
        "a pipe).")] = False,
    password_file: PasswordFileOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the wallet's private key (64 hex characters) after checking the password.

    To a terminal only, unless --yes (a key in a file, pipe or log is easily leaked); this
    applies to --json too. The recovery phrase cannot be exported: it is never stored, only
    shown at creation.

    --json: {"name", "address", "private_key"}.
    """
    check_name(name)
    if not yes and not sys.stdout.isatty():
        fail("refusing to print a private key to a non-terminal (stdout is a file or a "
             "pipe): add --yes if that is what you want")
    store = _store(home)
    info = store.info(name)
    secret = store.unlock(name, _password(password_file, confirm=False))

    def human() -> None:
        warn(f"anyone who sees this key can spend the funds of {info.address}")
        sys.stdout.write(secret.hex() + "\n")

    emit(as_json, {"name": info.name, "address": info.address,
                   "private_key": secret.hex()}, human)


export.__doc__ = (export.__doc__ or "") + examples(
    "daoli wallet export alice",
    "daoli wallet export alice --yes --password-file pw.txt > alice.key")


@app.command("delete")
def delete(
    name: NameArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
    = False,
    force: Annotated[bool, typer.Option("--force", help="Delete without the password "
                                        "(e.g. a forgotten one, or a corrupt file).")] = False,
    password_file: PasswordFileOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete a wallet file; needs its password (unless --force) and --yes or a confirmation.

    Without its phrase or an exported key, the funds of a deleted wallet are lost.

    --json: {"deleted": name, "address", "file"}.
    """
    check_name(name)
    store = _store(home)
    if force:
        info = _info_or_none(store, name)
    else:
        info = store.info(name)
        store.unlock(name, _password(password_file, confirm=False))
    file = store.file_of(name)
    if not store.exists(name):
        fail(f"no wallet named {quote(name)} in {quote(store.directory)}")
    if not yes:
        if not sys.stdin.isatty():
            fail("refusing to delete without --yes (there is no terminal to confirm on)")
        what = f"{name} ({info.address})" if info else name
        if not confirm(f"Delete wallet {show(what)}? Its funds are lost without a backup"):
            fail("not deleted", EXIT_FAILED)
    store.delete(name)
    emit(as_json, {"deleted": name, "address": info.address if info else None,
                   "file": str(file)},
         lambda: say("deleted wallet ", show(name), " (", show(file), ")"))


delete.__doc__ = (delete.__doc__ or "") + examples(
    "daoli wallet delete alice", "daoli wallet delete broken --force --yes")


def _phrase_file(given: Path) -> Path:
    """The absolute --mnemonic-out path, checked before a password is asked for: it must
    not exist yet, and its directory must."""
    try:
        target = Path(os.path.abspath(given.expanduser()))
    except RuntimeError:  # "~user" of an unknown user
        fail(f"--mnemonic-out {quote(given)}: cannot expand '~'")
    if os.path.lexists(target):
        fail(f"--mnemonic-out {quote(target)} already exists (it is never overwritten)")
    try:
        parent = os.stat(target.parent)
    except OSError as exc:
        fail(f"--mnemonic-out {quote(target)}: its directory {os_error_text(exc)}")
    if not stat.S_ISDIR(parent.st_mode):
        fail(f"--mnemonic-out {quote(target)}: {quote(target.parent)} is not a directory")
    return target


def _may_exist(store: WalletStore, name: str) -> bool:
    """Whether a wallet file may hold the name (True when that cannot be told: then a
    phrase file is kept rather than risk losing the phrase of a written wallet)."""
    try:
        return store.exists(name)
    except DaoliError:
        return True


def _info_or_none(store: WalletStore, name: str) -> WalletInfo | None:
    """The wallet's details if its file parses (``--force`` deletes even a corrupt file)."""
    try:
        return store.info(name)
    except WalletError:
        return None


def _parse_key(text: str) -> bytes:
    hex_text = text[2:] if text.lower().startswith("0x") else text
    if len(hex_text) != 2 * SECRET_LEN:
        fail(f"key file must hold {2 * SECRET_LEN} hex characters, found {len(hex_text)}")
    if any(ch not in "0123456789abcdefABCDEF" for ch in hex_text):
        fail("key file holds a character that is not hex")
    return bytes.fromhex(hex_text)


# ----- talking to a node --------------------------------------------------------------------


def unlock_wallet(name: str, password_file: Path | None, home: Path | None
                  ) -> tuple[WalletInfo, bytes]:
    """The wallet's public details and secret, the password taken by this file's precedence
    (--password-file, $DAOLI_PASSWORD_FILE, $DAOLI_PASSWORD, a prompt on a terminal)."""
    check_name(name)
    store = _store(home)
    info = store.info(name)
    return info, store.unlock(name, _password(password_file, confirm=False))


def resolve_account(text: str, home: Path | None, what: str) -> tuple[str, str | None]:
    """``(address, wallet name or None)`` for a wallet name or a ``dlc1...`` address.

    An address wins; a name that is not a wallet here, but looks like an address, reports
    what is wrong with the address (a typo in one is more likely than a wallet so named).
    """
    from daoli.core.address import HRP, decode_address
    from daoli.errors import AddressError

    try:
        decode_address(text)
        return text, None
    except AddressError as exc:
        address_error = exc
    looks_like_address = text.lower().startswith(HRP + "1") and len(text) > 30
    try:
        check_name(text)
        store = _store(home)
        if store.exists(text):
            return store.info(text).address, text
    except WalletError:
        if looks_like_address:
            raise AddressError(f"{what}: {address_error}") from None
        raise
    if looks_like_address:
        raise AddressError(f"{what}: {address_error}")
    fail(f"{what} {quote(text)} is neither a wallet in {quote(_store(home).directory)} nor a "
         "dlc1... address")


def amount_text(li: int) -> str:
    """An amount as people read it, both ways: ``1.5 DLC (150,000,000 li)``."""
    from daoli.core.units import format_dlc

    return f"{format_dlc(li)} ({li:,} li)"


@app.command("balance")
def balance(
    account: Annotated[str, typer.Argument(metavar="NAME|ADDRESS",
                                           help="A wallet name or a dlc1... address.")],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Ask the node for an account's balance and nonces (no password needed).

    --json: {"address", "wallet" (name or null), "balance" (li), "balance_dlc", "nonce",
    "next_nonce"} ("next_nonce" also counts the node's pooled transactions of the account).
    """
    from daoli.cli.node import connect
    from daoli.core.units import format_dlc

    address, wallet = resolve_account(account, home, "account")
    with connect(home) as node:
        acc = node.account(address)
    d = {"address": acc.address, "wallet": wallet, "balance": acc.balance,
         "balance_dlc": format_dlc(acc.balance, grouping=False, unit=False),
         "nonce": acc.nonce, "next_nonce": acc.next_nonce}

    def human() -> None:
        label = f"{wallet} ({acc.address})" if wallet else acc.address
        say((show(label), "bold"), ": ", amount_text(acc.balance))
        if acc.next_nonce != acc.nonce:
            say(f"{acc.next_nonce - acc.nonce} transaction(s) pending (next nonce "
                f"{acc.next_nonce})")

    emit(as_json, d, human)


balance.__doc__ = (balance.__doc__ or "") + examples(
    "daoli wallet balance alice", "daoli wallet balance dlc1pf6kwectc2wy3uxv4ydfk9ttmspe98ntr96ngq",
    "daoli --json wallet balance alice | jq .balance")


@app.command("send")
def send(
    from_: Annotated[str, typer.Argument(metavar="FROM", help="The paying wallet's name.")],
    to: Annotated[str, typer.Argument(metavar="TO", help="A wallet name or a dlc1... "
                                      "address.")],
    amount: Annotated[str, typer.Argument(metavar="AMOUNT", help="li (150000000 or "
                                          "150000000li) or DLC with up to 8 decimals "
                                          "(1.5DLC).")],
    fee: Annotated[str | None, typer.Option(
        "--fee", help="Fee, written like AMOUNT.", show_default="the default min_fee, "
        "1000 li")] = None,
    memo: Annotated[str, typer.Option("--memo", help="A note carried by the transfer "
                                      "(UTF-8, at most 256 bytes), public.")] = "",
    wait: Annotated[bool, typer.Option("--wait", help="Return once the transfer is final "
                                       "(in a block); exit 4 after --timeout.")] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds --wait waits.")] = 60.0,
    password_file: PasswordFileOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Send AMOUNT from wallet FROM to TO, signed here and submitted to the node.

    The nonce is the node's next nonce for FROM (counting its pooled transactions); the
    balance is checked before the password is asked for. Prints the transaction id. A
    transfer the node rejects is exit 1 with its reason.

    --json: {"tx_id", "from", "from_wallet", "to", "to_wallet", "amount" (li),
    "amount_dlc", "fee", "fee_dlc", "nonce", "memo", "status" ("accepted", "known" or
    "final"), "height" (when final, else null)}.
    """
    from daoli.cli.node import check_seconds, connect
    from daoli.core.params import ChainParams
    from daoli.core.units import format_dlc, parse_amount

    li = parse_amount(amount)
    fee_li = parse_amount(fee) if fee is not None else ChainParams().min_fee
    memo_bytes = memo.encode("utf-8", "surrogateescape")
    if len(memo_bytes) > 256:
        fail(f"--memo is {len(memo_bytes)} bytes; at most 256")
    try:
        memo_bytes.decode("utf-8")
    except UnicodeDecodeError:
        fail("--memo is not valid UTF-8 text")
    check_seconds(timeout, "--timeout")
    check_name(from_)
    sender = _store(home).info(from_)
    to_address, to_wallet = resolve_account(to, home, "TO")
    if li == 0:
        fail("AMOUNT must be more than 0")
    with connect(home) as node:
        acc = node.account(sender.address)
        if acc.balance < li + fee_li:
            fail(f"{from_} holds {amount_text(acc.balance)}, less than the amount plus fee, "
                 f"{amount_text(li + fee_li)}", EXIT_FAILED)
        chain_id = node.chain_id()
        _, secret = unlock_wallet(from_, password_file, home)
        from daoli.client import sign_transaction, transfer_body

        tx = sign_transaction(chain_id, secret, transfer_body(to_address, li, memo_bytes),
                              fee_li, acc.next_nonce)
        result = node.submit(tx)
        if not result.ok:
            fail(f"the node rejected transaction {tx.id.hex()}: "
                 f"{one_line(result.reason or 'no reason given')}", EXIT_FAILED)
        status, height = result.status, None
        if wait:
            final = node.wait_for_tx(tx.id, timeout)
            status, height = final.status, final.height
    d = {"tx_id": tx.id.hex(), "from": sender.address, "from_wallet": from_,
         "to": to_address, "to_wallet": to_wallet, "amount": li,
         "amount_dlc": format_dlc(li, grouping=False, unit=False), "fee": fee_li,
         "fee_dlc": format_dlc(fee_li, grouping=False, unit=False), "nonce": tx.nonce,
         "memo": memo, "status": status, "height": height}

    def human() -> None:
        say(("sent ", "bold"), amount_text(li), " from ", show(from_), " to ",
            show(to_wallet or to_address), f" (fee {amount_text(fee_li)}, nonce {tx.nonce})")
        say(("tx ", "bold"), tx.id.hex(), "  ",
            (f"final at height {height}" if height is not None else status, "green"))

    emit(as_json, d, human)


send.__doc__ = (send.__doc__ or "") + examples(
    "daoli wallet send alice bob 1.5DLC",
    "daoli wallet send alice dlc1pf6kwectc2wy3uxv4ydfk9ttmspe98ntr96ngq 150000000 --fee 2000li "
    "--wait",
    "DAOLI_PASSWORD_FILE=pw.txt daoli --json wallet send alice bob 10DLC --memo rent",
)


__all__ = ["PASSWORD_ENV", "PASSWORD_FILE_ENV", "amount_text", "app", "resolve_account",
           "unlock_wallet"]
