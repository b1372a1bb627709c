"""A hostile-input campaign against the ``daoli`` CLI (issue 12, part 6).

Every case is one real ``python -m daoli.cli.app ...`` process, made up at random (seeded) from
the *live* click command tree, so commands and options added later are covered without editing
this file. A case mixes:

- the command path, every option of every level (placed before or after subcommands, repeated,
  misplaced), positional arguments, unknown options, ``--``, ``-`` and help flags;
- values: empty, 100 KB, control characters and ANSI escapes, rich markup, non-UTF-8 bytes,
  numbers at their edges, near-valid amounts, addresses, multiaddrs, host:port, URLs;
- files: missing, directories, ``/dev/zero`` (and a symlink to it), FIFOs with no writer,
  symlink loops, unreadable files, 1 GiB sparse files, deeply nested TOML/JSON, non-UTF-8 and
  binary content, mutated genesis/config/keystore files, costly scrypt parameters;
- homes: fresh, initialised, initialised with corrupt or hostile wallets, symlink loops, a file,
  a FIFO, unreadable, read-only, non-UTF-8 names, names too long;
- environment variables (DAOLI_*, NO_COLOR, COLUMNS, TERM, FORCE_COLOR, LC_ALL) and stdin
  (``/dev/null``, an empty pipe, a closed descriptor, data) and, rarely, stdout (``/dev/full``,
  a pipe nobody reads).

Each case runs in its own directory (cwd, ``HOME``, ``TMPDIR`` and ``DAOLI_HOME`` inside it)
under ``RLIMIT_AS`` (2 GiB) and ``RLIMIT_FSIZE`` (512 MiB), with a timeout, optionally as the
user ``nobody``. The checks are documented in ``docs/hostile-input.md`` and in :func:`check`.

Run the long (release) mode as::

    python -m tests.cli.hostile --cases 2000 --seed 7 --unprivileged --unprivileged-cases 700

and replay one case (keeping its directory) with the ``reproduce:`` line it prints.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import dataclasses
import json
import os
import pwd
import random
import re
import resource
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import tomllib
import types
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
ALLOWED_EXIT = frozenset({0, 1, 2, 3, 4})
DEFAULT_TIMEOUT = 20.0
MEMORY_LIMIT = 2 << 30
FILE_SIZE_LIMIT = 512 << 20
OUTPUT_CAP = 4 << 20
UNPRIVILEGED_USER = "nobody"
TEMPLATE_PASSWORD = "hunter2"
EXCLUDED_COMMANDS: frozenset[tuple[str, ...]] = frozenset({("node", "start"),
                                                          ("devnet", "up")})
"""Command paths the campaign must not run: they start node processes (the campaign has no
devnet or node, so every other devnet and node command fails fast); they have their own
harnesses with stop conditions (tests/node, tests/devnet)."""

KNOWN_INPUT_FILE_OPTIONS = frozenset({
    "--genesis", "--file", "--password-file", "--mnemonic-file", "--key-file", "--keystore",
})
"""Options known to only *read* the file they name: only these (and DAOLI_PASSWORD_FILE) get
paths outside the case directory (/dev/zero, /dev/urandom, /proc/self/mem, ...). Every other
path option, including ones added later, gets paths inside the case directory only, so no
bug can make a root-run case write over a device or a system file."""

# --- value pools ---------------------------------------------------------------------------------

Literal = str | bytes

BIG = "A" * 100_000
HOSTILE_TEXT: tuple[Literal, ...] = (
    "", " ", "-", "--", "---", "-x", "[/x]", "[bold red]hi", "[/]", "[link=https://x.example]y[/link]",
    ":thumbs_up:", "\x1b[31mred\x1b[0m", "\x1b]0;pwned\x07", "\x1b[2J\x1b[H", "\r", "\n", "a\nb",
    "\t", "\x7f", "\x08\x08", "\u202eevil", "\u200b", "\ufeff", "é", "名前", "😀", "'", '"', "\\",
    "%s%n%x", "{}", "{0}", "$(id)", "`id`", "a;b", "|", "*", "?", "~", "NaN", "null", "true", "0x",
    "a" * 64, "a" * 65, "a" * 300, BIG, "\u00a0", "e\u0301", "\u2028",
    b"\xff", b"\xfe\xfe", b"caf\xe9", b"\xc0\xaf", b"\xed\xa0\x80", b"a\x80b", b"\xff" * 1000,
)
HOSTILE_NUMBERS: tuple[str, ...] = (
    "inf", "-inf", "+inf", "nan", "NaN", "-nan", "Infinity", "-0", "0", "-0.0", "1e308", "-1e308",
    "1e309", "1e-308", "4.9e-324", "9" * 400, "-" + "9" * 400, "9" * 5000, "-1", str(2**31),
    str(2**63 - 1), str(2**63), str(2**64), str(-(2**63) - 1), "0x10", "0b1", "1_000", "1.5",
    " 1", "1 ", "+1", "١٢", "٠", "½", "1e3", "0.1", "1/2", "1e", ".", "-.", "0.", "00",
)
AMOUNTS: tuple[str, ...] = (
    "1DLC", "1.5 DLC", "1.5dlc", "150000000li", "0li", "0DLC", "0.00000001DLC", "0.000000001DLC",
    "92233720368.54775807DLC", "92233720368.54775808DLC", "9223372036854775807li",
    "9223372036854775808li", "9" * 5000 + "li", "9" * 400 + "DLC", "1e3DLC", "-1DLC", "-0li",
    "1_000DLC", "1__0li", "_1li", "1_li", "DLC", "li", "1", "1.DLC", ".5DLC", "١DLC", "1 li",
    "1\u00a0DLC", "1DLCli", "1 DLC DLC", "1.5li", "0x10li", "infDLC", "nanli", "1e-308DLC",
    "1" + "0" * 30 + "DLC", "0." + "0" * 5000 + "1DLC", "1." + "0" * 90_000 + "DLC",
    "1.000000000000000000000DLC", "  1DLC  ", "1dLc", "1LI",
)
MULTIADDRS: tuple[str, ...] = (
    "/ip4/127.0.0.1/tcp/26656", "/ip4/0.0.0.0/tcp/0", "/ip6/::1/tcp/1", "/dns4/localhost/tcp/1",
    "/ip4/999.1.1.1/tcp/1", "/ip4/1.1.1.1/tcp/99999", "/ip4/1.1.1.1/tcp/1/garbage",
    "/ip4/1.1.1.1", "ip4/1.1.1.1/tcp/1", "/", "/unknown/x", "/ip4/1.1.1.1/tcp/-1",
    "/ip4/1.1.1.1/tcp/1/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N",
    "/ip4/1.1.1.1/udp/1/quic-v1", "/ip4/1.1.1.1/tcp/1" + "/tcp/1" * 200, "/ip4/1.2.3/tcp/1",
    "/ip6/zz::1/tcp/1", "/ip4/1.1.1.1/tcp/١", "/ip4/[/x]/tcp/1",
)
HOSTPORTS: tuple[str, ...] = (
    "127.0.0.1:26657", "0.0.0.0:0", "999.999.999.999:0", "[::1]:80", "::1:80", "localhost:65535",
    "localhost:65536", "h:-1", ":80", "127.0.0.1:", "127.0.0.1", "a:b:c", "127.0.0.1:1e3",
    "127.0.0.1:١", "[::1", "[]:1", "127.0.0.1:+80", "127.0.0.1: 80", "x" * 300 + ":1",
)
NODE_URLS: tuple[str, ...] = (
    "http://127.0.0.1:1", "https://localhost:2", "127.0.0.1:3", "ftp://x", "http://", "http://[::1",
    "file:///etc/passwd", "http://user:pw@127.0.0.1:1", "http://127.0.0.1:99999", "HTTP://127.0.0.1:4",
    "http://127.0.0.1:5/path", "http:///", "//127.0.0.1:6", "http://:7", "localhost", "[::1]:8",
)
CHAIN_IDS: tuple[str, ...] = (
    "daoli-dev", "x", "my-chain_1", "a" * 64, "a" * 65, "a" * 1000, "", "UPPER", "with space",
    "ünï", "chain\n2", "[/x]", "-", ".",
)
PARTITIONS: tuple[str, ...] = (
    "5000:15000:2", "0:1:2", "1:0:2", "0:1:1", "::", "a:b:c", "0:1e308:2", "0:" + "9" * 400 + ":2",
    "-1:5:2", "0:5:" + str(2**63), "0:5:2:9", "0:5", "0:" + str(2**64) + ":3", "١:5:2", " 0:5:2",
)
UNITS: tuple[str, ...] = ("li", "dlc", "DLC", "Li", "wei", "", "li ", "dlc\n")
WALLET_NAMES: tuple[Literal, ...] = (
    "dev", "alpha", "rawkey", "new1", "w_2", "a" * 64, "a" * 65, "x y", "ünï", "../victim",
    "../../victim", "../../../victim", "../../../x/victim", "../../../../victim", ".", "..", "a/b",
    "victim", "CON", "dev.json", "DEV", "-", "-dev", b"w\xff", "costly", "mutant", "mutant2",
    "garbage", "fifo", "loop", "zero", "sparse", "deep", "deepobj", "huge", "empty", "dir",
    "unreadable", "nonutf8", "[bold red]x[link]",
)
PUBKEYS = (
    "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798", "02" + "00" * 32,
    "02" + "ff" * 32, "zz", "", "04" + "11" * 64,
    "0279BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798",
)
SIM_SANE: dict[str, tuple[str, ...]] = {
    "--trustees": ("1", "2", "3", "4", "7"), "--miners": ("1", "2", "5", "10"),
    "--heights": ("1", "2", "3", "5"), "--seed": ("0", "1", "42", str(2**64)),
    "--latency-ms": ("0", "1", "50", "100.5"), "--jitter-ms": ("0", "5", "20"),
    "--loss": ("0", "0.1", "0.5"), "--clock-skew-ms": ("0", "100", "2000"),
    "--byzantine": ("0", "1", "2"), "--offline-winner": ("0", "0.5", "1"),
    "--pow-difficulty": ("1", "4", "8"), "--hash-time-ms": ("0.5", "10"),
    "--epoch-blocks": ("1", "2", "32"), "--heavy-miner": ("0.5", "1", "10"),
    "--diameter": ("1", "4", "16"), "--relay-hold-ms": ("0", "5"),
    "--max-sim-ms": ("0", "1000", "60000"), "--tx-rate": ("0", "1", "20"),
    "--accounts": ("1", "10", "50"),
}
"""Small values for ``daoli sim`` so a case stays fast; its hostile values (2**63, inf, -1,
...) must be refused at once, so they are drawn as for any other command."""
SIM_CAPPED = ("--heights", "--miners", "--trustees", "--accounts")
"""Left to their defaults these are fine (20 heights, 100 miners); never drawn between the
small values and the clearly hostile ones."""

VALID_MNEMONIC_24 = " ".join(["abandon"] * 23 + ["art"])
VALID_MNEMONIC_12 = " ".join(["abandon"] * 11 + ["about"])
VALID_KEY = "11" * 32
SECP256K1_N = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"

STDIN_DATA: dict[str, bytes] = {
    "password": b"hunter2\n", "mnemonic": VALID_MNEMONIC_24.encode() + b"\n", "yes": b"y\n",
    "big": b"A" * (1 << 20), "nonutf8": b"\xff\xfe\n", "ctrl-d": b"\x04", "ctrl-c": b"\x03\n",
    "key": VALID_KEY.encode() + b"\n", "markup": b"[/x]\n",
}

# --- the command tree ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ParamSpec:
    """One click parameter, as much of it as the generator needs."""

    name: str
    kind: str  # "option" | "argument"
    opts: tuple[str, ...]
    secondary: tuple[str, ...]
    flag: bool
    base: str  # "int" | "float" | "bool" | "path" | "str" | "choice" | "other"
    choices: tuple[str, ...]
    minimum: float | None
    maximum: float | None
    nargs: int
    multiple: bool
    required: bool

    @property
    def takes_value(self) -> bool:
        return not self.flag


@dataclass(frozen=True)
class CommandSpec:
    path: tuple[str, ...]
    params: tuple[ParamSpec, ...]
    subcommands: tuple[str, ...]

    @property
    def is_group(self) -> bool:
        return bool(self.subcommands)

    def option(self, name: str) -> ParamSpec | None:
        for p in self.params:
            if p.kind == "option" and (name in p.opts or name in p.secondary):
                return p
        return None

    @property
    def options(self) -> tuple[ParamSpec, ...]:
        return tuple(p for p in self.params if p.kind == "option")

    @property
    def arguments(self) -> tuple[ParamSpec, ...]:
        return tuple(p for p in self.params if p.kind == "argument")


Tree = dict[tuple[str, ...], CommandSpec]


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(base annotation, is a list) with Optional/Annotated peeled off."""
    is_list = False
    for _ in range(5):
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0] if len(args) == 1 else str
        elif origin in (list, tuple, set, Sequence):
            is_list = True
            args = typing.get_args(annotation)
            annotation = args[0] if args else str
        else:
            break
    return annotation, is_list


def _param_spec(p: Any) -> ParamSpec:
    desc = getattr(p, "type_descriptor", None)
    annotation = getattr(desc, "annotation", None)
    choices: tuple[str, ...] = ()
    base = "other"
    if annotation is not None:
        ann, _ = _unwrap(annotation)
        origin = typing.get_origin(ann)
        if origin is typing.Literal:
            choices = tuple(str(a) for a in typing.get_args(ann))
        elif isinstance(ann, type) and issubclass(ann, __import__("enum").Enum):
            choices = tuple(str(m.value) for m in ann)
        elif ann is bool:
            base = "bool"
        elif ann is int:
            base = "int"
        elif ann is float:
            base = "float"
        elif isinstance(ann, type) and issubclass(ann, os.PathLike):
            base = "path"
        elif ann is str:
            base = "str"
    else:  # a plain click parameter
        ptype = getattr(p, "type", None)
        tname = str(getattr(ptype, "name", "")).lower()
        choices = tuple(str(c) for c in getattr(ptype, "choices", ()) or ())
        base = ("int" if "integer" in tname else "float" if "float" in tname else
                "bool" if "bool" in tname else "path" if "path" in tname or "file" in tname
                else "str")
    extra = getattr(desc, "choices", None)
    if extra:
        choices = tuple(str(getattr(c, "value", c)) for c in extra)
    help_text = str(getattr(p, "help", "") or "")
    if not choices and re.fullmatch(r"[\w-]+(\|[\w-]+)+", help_text.strip()):
        choices = tuple(help_text.strip().split("|"))  # e.g. "fixed|uniform|normal|lognormal"
    if choices:
        base = "choice"
    kind = "argument" if getattr(p, "param_type_name", "") == "argument" else "option"
    flag = bool(getattr(p, "is_flag", False) or getattr(p, "count", False))
    return ParamSpec(
        name=str(p.name), kind=kind, opts=tuple(p.opts), secondary=tuple(p.secondary_opts or ()),
        flag=kind == "option" and flag, base=base, choices=choices,
        minimum=getattr(p, "min", None), maximum=getattr(p, "max", None),
        nargs=max(int(getattr(p, "nargs", 1) or 1), 1),
        multiple=bool(getattr(p, "multiple", False)),
        required=bool(getattr(p, "required", False)))


def load_tree() -> Tree:
    """The live command tree of ``daoli`` (imports the CLI in this process)."""
    from typer.main import get_command

    from daoli.cli.app import app

    tree: Tree = {}

    def walk(cmd: Any, path: tuple[str, ...]) -> None:
        subs = dict(getattr(cmd, "commands", {}) or {})
        params = tuple(_param_spec(p) for p in cmd.params)
        tree[path] = CommandSpec(path, params, tuple(sorted(subs)))
        for name, sub in subs.items():
            walk(sub, (*path, name))

    walk(get_command(app), ())
    return tree


# --- cases ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fixture:
    """A file system object the runner makes in the case directory (or names, for /dev/...)."""

    name: str
    kind: str
    semantic: str
    variant: int
    absolute: bool = False


@dataclass(frozen=True)
class Ref:
    """A value known only once the template home exists (``address``, ``pubkey``, ...), or a
    path in the case's sentinel directory (``x:NAME``)."""

    what: str


Token = Literal | Fixture | Ref | tuple  # a tuple concatenates its parts


@dataclass
class Case:
    seed: int
    index: int
    unprivileged: bool
    target: tuple[str, ...]
    argv: list[Token]
    env: dict[str, Token]
    home: Fixture
    stdin: str = "devnull"
    stdout: str = "pipe"
    dropped_args: frozenset[int] = frozenset()
    dropped_env: frozenset[str] = frozenset()
    original_stdin: str = ""
    mode: str = ""

    def effective_argv(self) -> list[Token]:
        return [t for i, t in enumerate(self.argv) if i not in self.dropped_args]

    def effective_env(self) -> dict[str, Token]:
        return {k: v for k, v in self.env.items() if k not in self.dropped_env}

    def reproduce(self) -> str:
        line = f"python -m tests.cli.hostile --seed {self.seed} --case {self.index}"
        if self.unprivileged:
            line += " --unprivileged"
        if self.dropped_args:
            line += " --drop-args " + ",".join(map(str, sorted(self.dropped_args)))
        if self.dropped_env:
            line += " --drop-env " + ",".join(sorted(self.dropped_env))
        if self.original_stdin and self.stdin != self.original_stdin:
            line += " --plain-stdin"
        return line


class Generator:
    """Makes case ``index`` of campaign ``seed`` from the live tree, deterministically."""

    def __init__(self, tree: Tree) -> None:
        self.tree = tree
        self.leaves = sorted(p for p, c in tree.items()
                             if p and not c.is_group and p not in EXCLUDED_COMMANDS)
        self.groups = sorted(p for p, c in tree.items() if c.is_group)

    def case(self, seed: int, index: int, unprivileged: bool) -> Case:
        rng = random.Random(f"daoli-hostile/{seed}/{index}/{'u' if unprivileged else 'r'}")
        b = _Builder(self.tree, rng)
        roll = rng.random()
        target = (rng.choice(self.groups) if roll < 0.07 else
                  rng.choice(self.leaves) if self.leaves else ())
        case = b.build(target)
        case.seed, case.index, case.unprivileged = seed, index, unprivileged
        case.original_stdin = case.stdin
        case.mode = b.mode
        return case


HOME_KINDS = (
    ("fresh", 10), ("empty", 4), ("init", 22), ("init-wallets-hostile", 12), ("init-corrupt", 10),
    ("init-readonly", 4), ("unreadable", 3), ("unreadable-wallets", 3), ("loop", 3), ("file", 2),
    ("fifo", 2), ("nonutf8", 3), ("nonutf8-init", 2), ("under-file", 2), ("long", 2), ("deep", 1),
    ("symlink-init", 3), ("dangling", 2), ("tilde", 2), ("trailing-slash", 2), ("dot", 1),
    ("dotdot", 2), ("shared-dir", 4), ("init-nonutf8-wallet", 2),
)
INPUT_KINDS = (
    ("valid", 30), ("variant", 30), ("missing", 3), ("dir", 2), ("empty", 3), ("devzero", 3),
    ("zero-link", 3), ("devnull", 1), ("devurandom", 2), ("devstdin", 2), ("procmem", 1),
    ("dash", 3), ("fifo", 3), ("loop", 2), ("dangling", 1), ("unreadable", 3),
    ("unreadable-parent", 1), ("sparse", 3), ("big-line", 2), ("deep-toml", 2),
    ("deep-inline", 1), ("deep-dotted", 1), ("deep-json", 2), ("deep-json-obj", 1),
    ("nonutf8", 2), ("binary", 2), ("bom", 2), ("crlf", 2), ("nonutf8-name", 2),
    ("long-name", 1), ("trailing-slash", 1), ("under-file", 1), ("symlink-valid", 2),
    ("markup-name", 2), ("dash-name", 1), ("just-over-limit", 2),
)
OUTSIDE_KINDS = frozenset({"devzero", "zero-link", "devnull", "devurandom", "devstdin", "procmem"})
OUTPUT_KINDS = (
    ("out-new", 30), ("out-existing", 8), ("out-dir", 4), ("out-fifo", 3), ("out-loop", 2),
    ("out-dangling", 2), ("out-under-file", 2), ("out-missing-parent", 3), ("out-readonly", 3),
    ("out-readonly-dir", 3), ("out-nonutf8", 2), ("out-long", 2), ("out-trailing-slash", 2),
    ("out-dot", 1), ("out-dash", 2), ("out-empty", 2), ("out-symlink", 2), ("out-markup", 2),
)


def _weighted(rng: random.Random, table: Sequence[tuple[str, int]]) -> str:
    names, weights = zip(*table, strict=True)
    return rng.choices(names, weights)[0]


CLEAN_HOMES = (("init", 60), ("fresh", 25), ("empty", 10), ("symlink-init", 5))
MODES = (("clean", 35), ("one", 40), ("chaos", 25))
"""How hostile a case is: 'clean' uses valid-looking values only (it reaches the commands'
success paths), 'one' is a clean case with exactly one hostile element (value, file, home,
argv mutation, environment variable, stdin or stdout), 'chaos' mixes hostility everywhere."""


class _Builder:
    def __init__(self, tree: Tree, rng: random.Random) -> None:
        self.tree = tree
        self.rng = rng
        self.count = 0
        self.mode = _weighted(rng, MODES)
        self.home: Fixture = self.home_fixture()

    @property
    def chaos(self) -> bool:
        return self.mode == "chaos"

    # fixtures
    def fixture(self, kind: str, semantic: str) -> Fixture:
        self.count += 1
        return Fixture(f"f{self.count}", kind, semantic, self.rng.getrandbits(32),
                       absolute=self.rng.random() < 0.3)

    def file_fixture(self, semantic: str, *, hostile: bool | None = None) -> Fixture:
        hostile = self.chaos if hostile is None else hostile
        if semantic == "output":
            table = OUTPUT_KINDS if hostile else (("out-new", 1),)
        elif hostile:
            table = tuple(k for k in INPUT_KINDS
                          if semantic != "input-inside" or k[0] not in OUTSIDE_KINDS)
        else:
            table = (("valid", 75), ("variant", 25))
        return self.fixture(_weighted(self.rng, table), semantic)

    def home_fixture(self, *, hostile: bool | None = None) -> Fixture:
        hostile = self.chaos if hostile is None else hostile
        kind = _weighted(self.rng, HOME_KINDS if hostile else CLEAN_HOMES)
        self.count += 1
        name = "home" if self.count == 1 else f"h{self.count}"
        return Fixture(name, kind, "home", self.rng.getrandbits(32),
                       absolute=self.rng.random() < 0.5)

    def hostile(self) -> Literal:
        r = self.rng.random()
        return self.rng.choice(HOSTILE_NUMBERS if r < 0.35 else HOSTILE_TEXT)

    # values
    def semantic_of(self, cmd: CommandSpec, p: ParamSpec) -> str:
        name = p.name.lower()
        words = set(re.split(r"[_\-]", name))
        opt = p.opts[0] if p.opts else name
        if p.kind == "argument":
            if name == "name" or (cmd.path[:1] == ("wallet",) and "name" in name):
                return "wallet-name"
            if "amount" in name:
                return "amount"
        if "home" in words:
            return "home"
        if p.base == "path" or "file" in words or "keystore" in words:
            if words & {"out", "output", "dest", "save", "write"} or name.endswith("out"):
                return "output"
            if opt in KNOWN_INPUT_FILE_OPTIONS:
                for key in ("password", "mnemonic", "keystore", "key", "genesis"):
                    if key in words:
                        return key
                return "genesis" if opt == "--file" else "generic"
            return "input-inside"
        if name == "node":
            return "node-url"
        if "listen" in words:
            return "multiaddr" if "p2p" in words else "hostport"
        if name == "chain_id":
            return "chain-id"
        if name in ("trustee", "alloc", "partition", "to"):
            return name
        if p.base == "choice":
            return "choice"
        return p.base

    def value(self, cmd: CommandSpec, p: ParamSpec) -> Token:
        rng = self.rng
        sem = self.semantic_of(cmd, p)
        if sem in ("password", "mnemonic", "keystore", "key", "genesis", "generic",
                   "input-inside", "output"):
            return self.file_fixture(sem)
        if sem == "home":
            return self.home if rng.random() < 0.8 or not self.chaos else self.home_fixture()
        if self.chaos and rng.random() < 0.22:
            return self.hostile()
        # near-valid values (wrong but plausible): never in clean cases, often in 'one' cases
        near = self.chaos or (self.mode == "one" and rng.random() < 0.25)
        opt = p.opts[0] if p.opts else p.name
        if cmd.path == ("sim",) and opt in SIM_SANE:
            return rng.choice(SIM_SANE[opt])
        if sem == "wallet-name":
            if self.chaos and rng.random() < 0.08:
                return (Ref("x:"), "victim")
            return rng.choice(WALLET_NAMES if near else WALLET_NAMES[:5])
        pools: dict[str, Sequence[Literal]] = {
            "amount": AMOUNTS, "node-url": NODE_URLS, "multiaddr": MULTIADDRS,
            "hostport": HOSTPORTS, "chain-id": CHAIN_IDS, "partition": PARTITIONS, "to": UNITS}
        if sem in pools:
            pool = pools[sem]
            return rng.choice(pool if near else pool[:3])
        if sem == "trustee":
            pk: Token = Ref("pubkey") if rng.random() < 0.5 or not near else rng.choice(PUBKEYS)
            ma = rng.choice(MULTIADDRS if near else MULTIADDRS[:4])
            if not near:
                return (pk, "=", ma)
            return rng.choice([(pk, "=", ma), pk, "=", (pk, "==", ma), (pk, "= ", ma),
                               (pk, "=", ma, "=", ma)])
        if sem == "alloc":
            amount = rng.choice(AMOUNTS if near else AMOUNTS[:4])
            if not near:
                return (Ref("address"), "=", amount)
            addr: Token = (Ref("address") if rng.random() < 0.5 else
                           rng.choice(["dlc1" + "q" * 38, "dlc1xyz", "", Ref("address-upper"),
                                       Ref("address-badsum"), "[/x]"]))
            return rng.choice([(addr, "=", amount), addr, (addr, "=", "=", "1li"),
                               ("=", amount)])
        if sem == "choice":
            if not near:
                return rng.choice(p.choices)
            return rng.choice([*p.choices, *(c.upper() for c in p.choices), "",
                               " " + p.choices[0]])
        if sem == "int":
            lo = int(p.minimum) if p.minimum is not None else 0
            hi = int(p.maximum) if p.maximum is not None else lo + 10
            if not near:
                return str(rng.randint(lo, min(hi, lo + 10)))
            return rng.choice([str(lo), str(hi), str(hi + 1), str(lo - 1)])
        if sem == "float":
            return rng.choice(["0", "0.5", "1", "2.5", "10"])
        if sem == "bool":
            return rng.choice(["true", "false", "1", "0"] + (["yes", "maybe"] if near else []))
        return rng.choice((*HOSTILE_TEXT[:50], "plain")) if near else "plain-value"

    def option_tokens(self, cmd: CommandSpec, p: ParamSpec) -> list[Token]:
        rng = self.rng
        names = list(p.opts) + list(p.secondary)
        long_names = [n for n in names if n.startswith("--")] or names
        name = rng.choice(long_names) if rng.random() < 0.85 else rng.choice(names)
        if p.flag:
            return [name]
        values = [self.value(cmd, p) for _ in range(p.nargs)]
        if p.nargs == 1 and name.startswith("--") and rng.random() < 0.15:
            return [(name, "=", values[0])]
        return [name, *values]

    # the whole command line
    def build(self, target: tuple[str, ...]) -> Case:
        rng = self.rng
        argv: list[Token] = []
        for depth in range(len(target) + 1):
            cmd = self.tree[target[:depth]]
            leaf = depth == len(target)
            chunks: list[list[Token]] = []
            for p in cmd.options:
                if rng.random() >= self.option_probability(cmd, p, leaf):
                    continue
                times = 1 + (rng.random() < (0.35 if p.multiple else 0.04 if self.chaos else 0))
                times += p.multiple and rng.random() < 0.2
                chunks.extend(self.option_tokens(cmd, p) for _ in range(times))
            rng.shuffle(chunks)
            tail: list[Token] = []
            if leaf and not cmd.is_group:
                for p in cmd.arguments:
                    if p.required and self.chaos and rng.random() < 0.06:
                        continue  # a missing argument
                    vals = [self.value(cmd, p) for _ in range(p.nargs)]
                    if rng.random() < 0.05:
                        tail = ["--", *tail, *vals]  # '--' before positionals: legal
                    else:  # positionals keep their order, options go around them
                        pos = rng.randint(max((i for i, c in enumerate(chunks)
                                               if c and c[0] is _POSITIONAL), default=-1) + 1,
                                          len(chunks))
                        chunks.insert(pos, [_POSITIONAL, *vals])
            for chunk in chunks:
                argv.extend(t for t in chunk if t is not _POSITIONAL)
            argv.extend(tail)
            if not leaf:
                argv.append(target[depth])
        env = self.environment(target)
        stdin, stdout = "devnull", "pipe"
        if self.chaos:
            self.mutate(argv, target)
            stdin = rng.choices(["devnull", "empty", "closed", "data"], [70, 10, 5, 15])[0]
            if stdin == "data":
                stdin = "data:" + rng.choice(sorted(STDIN_DATA))
            stdout = rng.choices(["pipe", "full", "closed"], [96, 2, 2])[0]
        case = Case(0, 0, False, target, argv, env, self.home, stdin, stdout)
        if self.mode == "one":
            self.perturb(case)
        return case

    def option_probability(self, cmd: CommandSpec, p: ParamSpec, leaf: bool) -> float:
        opt = p.opts[0] if p.opts else p.name
        if not cmd.path:  # root: the global options
            return {"--json": 0.3, "--home": 0.12, "--no-color": 0.1, "--node": 0.1,
                    "--version": 0.02, "--install-completion": 0.004,
                    "--show-completion": 0.004}.get(opt, 0.1)
        if not leaf:  # a group on the way
            return 0.15 if opt == "--json" else 0.1
        if opt == "--json":
            return 0.3
        if opt == "--light-kdf":
            return 0.8
        if opt == "--home":
            return 0.15
        if p.required:
            return 0.97
        if cmd.path == ("sim",) and opt in SIM_CAPPED:
            return 0.9
        return 0.25 if p.flag else 0.35

    def perturb(self, case: Case) -> None:
        """Make exactly one thing of a clean case hostile."""
        rng = self.rng
        what = rng.choices(["value", "file", "home", "argv", "env", "stdio"],
                           [30, 20, 15, 15, 15, 5])[0]
        if what == "value":
            spots = [i for i, t in enumerate(case.argv)
                     if i > 0 and isinstance(case.argv[i - 1], str)
                     and case.argv[i - 1].startswith("-") and not isinstance(t, Fixture)
                     and t not in case.target and not (isinstance(t, str) and t.startswith("-"))]
            spots += [i for i, t in enumerate(case.argv)
                      if isinstance(t, tuple) and isinstance(t[0], str) and t[0].startswith("--")]
            if spots:
                i = rng.choice(spots)
                t = case.argv[i]
                case.argv[i] = ((t[0], "=", self.hostile()) if isinstance(t, tuple)
                                and isinstance(t[0], str) and t[0].startswith("--")
                                else self.hostile())
                return
            what = "file"
        if what == "file":
            spots = [i for i, t in enumerate(case.argv)
                     if isinstance(t, Fixture) and t.semantic != "home"]
            if spots:
                i = rng.choice(spots)
                fx = case.argv[i]
                assert isinstance(fx, Fixture)
                case.argv[i] = self.file_fixture(fx.semantic, hostile=True)
                return
            what = "home"
        if what == "home":
            old, new = case.home, self.home_fixture(hostile=True)
            case.home = new
            case.argv = [new if t == old else t for t in case.argv]
            case.env = {k: new if v == old else v for k, v in case.env.items()}
            return
        if what == "argv":
            self.mutate(case.argv, case.target, force=True)
            return
        if what == "env":
            key = rng.choice(["DAOLI_OUTPUT", "DAOLI_NODE", "DAOLI_PASSWORD", "DAOLI_HOME",
                              "DAOLI_PASSWORD_FILE", "NO_COLOR", "COLUMNS", "TERM", "LC_ALL"])
            case.env[key] = (self.file_fixture("password", hostile=True)
                             if key == "DAOLI_PASSWORD_FILE" else self.hostile())
            return
        if rng.random() < 0.7:
            case.stdin = rng.choice(["empty", "closed", *(f"data:{k}" for k in STDIN_DATA)])
        else:
            case.stdout = rng.choice(["full", "closed"])

    def mutate(self, argv: list[Token], target: tuple[str, ...], *, force: bool = False) -> None:
        rng = self.rng
        ops = ["unknown", "stray", "misplaced", "help", "drop", "command"]
        weights = [8, 4, 3, 2, 2, 2]
        chosen = ([rng.choices(ops, weights)[0]] if force else
                  [op for op, w in zip(ops, weights, strict=True) if rng.random() < w / 100])
        for op in chosen:
            if op == "unknown":  # an unknown option, somewhere
                argv.insert(rng.randint(0, len(argv)), rng.choice(
                    ["--bogus", "--bogus=1", "-z", "--jso", "--JSON", "--json=true", "--json=",
                     "-", "--", "---", "--home=", "--no-json", "-J", "--" + "x" * 5000]))
            elif op == "stray":  # a stray positional
                argv.insert(rng.randint(0, len(argv)), self.hostile())
            elif op == "misplaced":  # a root option where it does not belong
                argv.insert(rng.randint(0, len(argv)),
                            rng.choice(["--node", "--no-color", "--version"]))
            elif op == "help":
                argv.insert(rng.randint(0, len(argv)), rng.choice(["-h", "--help"]))
            elif op == "drop" and argv:
                del argv[rng.randrange(len(argv))]
            elif op == "command" and target:
                i = rng.randrange(len(target))
                if target[i] in argv:
                    argv[argv.index(target[i])] = rng.choice(
                        [target[i].upper(), target[i][:-1], target[i] + "x", ""])

    def environment(self, target: tuple[str, ...]) -> dict[str, Token]:
        rng = self.rng
        chaos = self.chaos
        env: dict[str, Token] = {}
        env["DAOLI_HOME"] = (self.home if not chaos or rng.random() < 0.9 else
                             rng.choice(["", self.hostile(), "~", "~/h"]))
        if rng.random() < 0.18:
            env["DAOLI_OUTPUT"] = rng.choice(
                ["json", "json", "text", "", "JSON", " json", "yaml", self.hostile()] if chaos
                else ["json", "json", "text", ""])
        if rng.random() < 0.1:
            env["DAOLI_NODE"] = (rng.choice(NODE_URLS[:3]) if not chaos else
                                 rng.choice(NODE_URLS) if rng.random() < 0.7 else self.hostile())
        wallet = target[:1] == ("wallet",)
        if rng.random() < (0.6 if wallet else 0.1):
            env["DAOLI_PASSWORD"] = rng.choice(
                [TEMPLATE_PASSWORD, TEMPLATE_PASSWORD, Ref("dev-password"), "wrong"]
                + (["", "[/x]", BIG, b"p\xe9w", "pw\nline2", " "] if chaos else []))
        if rng.random() < (0.15 if wallet else 0.03):
            env["DAOLI_PASSWORD_FILE"] = self.file_fixture("password")
        if rng.random() < 0.1:
            env["NO_COLOR"] = rng.choice(["1", "", "0"] + (["[/x]", b"\xff"] if chaos else []))
        if chaos and rng.random() < 0.08:
            env["COLUMNS"] = rng.choice(["0", "-1", "1", "100000000", "abc", "80", "9" * 400])
        if chaos and rng.random() < 0.05:
            env["LINES"] = rng.choice(["0", "-1", "abc"])
        if chaos and rng.random() < 0.06:
            env["TERM"] = rng.choice(["dumb", "xterm-256color", "", "[/x]"])
        if chaos and rng.random() < 0.04:
            env["FORCE_COLOR"] = rng.choice(["1", "0", "abc"])
        if chaos and rng.random() < 0.05:
            env["LC_ALL"] = rng.choice(["C", "POSIX", "en_US.ISO-8859-1", "xx_YY.bogus"])
        return env


_POSITIONAL = object()  # marks a chunk of positional arguments while a level is assembled


# --- template home and fixtures ------------------------------------------------------------------


@dataclass
class Template:
    """A home made once with ``daoli init`` plus two wallets, copied into cases."""

    path: Path | None
    refs: dict[str, str]
    genesis: bytes
    config: bytes
    keystore: dict[str, Any]
    problems: list[str] = field(default_factory=list)


def _daoli_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home.parent), "LANG": "C.UTF-8",
           "PYTHONPATH": str(REPO_ROOT), "PYTHONDONTWRITEBYTECODE": "1", "PYTHONSAFEPATH": "1",
           "PYTHONNOUSERSITE": "1", "DAOLI_HOME": str(home)}
    env.update(extra or {})
    return env


FALLBACK_KEYSTORE: dict[str, Any] = {
    "crypto": {"cipher": "aes-128-ctr", "cipherparams": {"iv": "00" * 16},
               "ciphertext": "00" * 32, "kdf": "scrypt",
               "kdfparams": {"dklen": 32, "n": 4096, "p": 1, "r": 8, "salt": "00" * 16},
               "mac": "00" * 32},
    "daoli": {"address": "dlc1invalid", "created": "2026-01-01T00:00:00+00:00", "format": 1,
              "name": "dev", "path": "m/44'/7771'/0'/0/0", "pubkey": "02" + "11" * 32},
    "id": "00000000-0000-0000-0000-000000000000", "version": 3,
}


def make_template(root: Path) -> Template:
    """``daoli init`` a home and import wallets 'alpha' (a phrase) and 'rawkey' (a raw key)."""
    home = root / "template" / "home"
    home.parent.mkdir(parents=True)
    problems: list[str] = []
    phrase = root / "template" / "phrase.txt"
    phrase.write_text(VALID_MNEMONIC_24 + "\n")
    keyfile = root / "template" / "key.txt"
    keyfile.write_text(VALID_KEY + "\n")
    password = {"DAOLI_PASSWORD": TEMPLATE_PASSWORD}
    steps = [
        (["init"], {}),
        (["wallet", "import", "alpha", "--mnemonic-file", str(phrase), "--light-kdf"], password),
        (["wallet", "import", "rawkey", "--key-file", str(keyfile), "--light-kdf"], password),
    ]
    for args, extra in steps:
        try:
            r = subprocess.run([sys.executable, "-m", "daoli.cli.app", "--json", *args],
                               env=_daoli_env(home, extra), cwd=home.parent, capture_output=True,
                               timeout=120, stdin=subprocess.DEVNULL, check=False)
        except subprocess.TimeoutExpired:
            problems.append(f"template: daoli {' '.join(args)} timed out")
            continue
        if r.returncode != 0:
            problems.append(f"template: daoli {' '.join(args)} exited {r.returncode}: "
                            + r.stderr.decode(errors="replace").strip()[-300:])
    refs = {"address": "dlc1" + "q" * 38, "pubkey": "02" + "11" * 32,
            "dev-password": TEMPLATE_PASSWORD}
    genesis, config = b'chain_id = "daoli-dev"\n', b'api_listen = "127.0.0.1:26657"\n'
    keystore = json.loads(json.dumps(FALLBACK_KEYSTORE))
    with contextlib.suppress(OSError, ValueError, KeyError, IndexError, TypeError):
        genesis = (home / "genesis.toml").read_bytes()
        config = (home / "config.toml").read_bytes()
        g = tomllib.loads(genesis.decode())
        refs["pubkey"] = g["trustees"][0]["pubkey"]
        refs["dev-password"] = (home / "dev.password").read_text().splitlines()[0]
        keystore = json.loads((home / "wallets" / "alpha.json").read_text())
        refs["address"] = keystore["daoli"]["address"]
    if not (home / "genesis.toml").is_file():
        problems.append("template: no initialised home; 'init' homes fall back to empty ones")
        return Template(None, refs, genesis, config, keystore, problems)
    return Template(home, refs, genesis, config, keystore, problems)


def _address_variants(refs: dict[str, str]) -> None:
    addr = refs["address"]
    refs["address-upper"] = addr.upper()
    last = "q" if addr[-1] != "q" else "p"
    refs["address-badsum"] = addr[:-1] + last


GENESIS_VALUES = (
    '"x"', "-1", "0", "1e308", "inf", "nan", "18446744073709551616", "9" * 400, "true", "[]",
    "{}", '"[/x]"', '"\\u001b[31m"', "1979-05-27T07:32:00Z", '""', '"' + "a" * 300 + '"',
    "-9223372036854775809", "0.5", "[1, 2]", '{a = 1}', "9223372036854775807",
)


def mutate_toml(base: bytes, rng: random.Random) -> bytes:
    """A near-valid TOML: one of a dozen ways a genesis or config file goes wrong."""
    text = base.decode("utf-8", "replace")
    lines = text.splitlines()
    assigns = [i for i, line in enumerate(lines) if re.match(r"^\s*\w+\s*=", line)]
    op = rng.randrange(16)
    if op == 0:
        return base[: rng.randrange(max(len(base), 1))]
    if op == 1 and "[params]" in text:
        cut = text.index("[params]") + len("[params]\n")
        return text[: cut + rng.randrange(200)].encode()
    if op in (2, 3, 4) and assigns:
        i = rng.choice(assigns)
        key = lines[i].split("=", 1)[0]
        lines[i] = f"{key}= {rng.choice(GENESIS_VALUES)}"
        return "\n".join(lines).encode()
    if op == 5 and lines:
        del lines[rng.randrange(len(lines))]
        return "\n".join(lines).encode()
    if op == 6 and assigns:
        i = rng.choice(assigns)
        lines.insert(i, lines[i])
        return "\n".join(lines).encode()
    if op == 7:
        chain_id = "chain_id = " + json.dumps(
            rng.choice(["[/x]", "\x1b[31m", "a" * 10_000, "", "名前", "\u202e"]))
        return re.sub(r'chain_id = "[^"]*"', lambda _: chain_id, text).encode()
    if op == 8 and "[[allocations]]" in text:
        block = text[text.index("[[allocations]]"):].split("[[trustees]]")[0]
        return (text + "\n" + block * rng.choice([2, 50, 3000])).encode()
    if op == 9 and "[[trustees]]" in text:
        block = "[[trustees]]" + text.split("[[trustees]]", 1)[1]
        return (text + "\n" + block * rng.choice([2, 101, 1001])).encode()
    if op == 10:
        return (text + "\n" + rng.choice(["allocations = 5", "params = 'x'", "trustees = [1,2]",
                                           "[params.sub]\nx = 1", "bootstrap_peers = [5, {}]",
                                           "log_level = 5", "bogus_key = 1"])).encode()
    if op == 11:
        return rng.choice([b"", b"# only a comment\n", b"\n\n", b"[params]\n"])
    if op == 12:
        return json.dumps({"chain_id": "x", "params": {}}).encode()
    if op == 13:
        return b"\xef\xbb\xbf" + base
    if op == 14:
        return base.replace(b'"daoli-dev"', b'"dao\xffli"').replace(b"127.0.0.1", b"127.\xff.0.1")
    return (text + "\n[params]\nbogus = 1\n").encode()


def mutate_keystore(base: dict[str, Any], rng: random.Random, *, costly: bool) -> bytes:
    ks = json.loads(json.dumps(base))
    crypto = ks.get("crypto", {})
    kdf = crypto.get("kdfparams", {})
    op = rng.randrange(24 if costly else 21)
    hostile_values: list[Any] = [None, "", "x", -1, 0, 1.5, 2**64, [], {}, "[/x]", True,
                                 10**400 if rng.random() < 0.2 else 7]
    if op == 0:
        kdf["n"] = rng.choice([0, 1, 3, 2**31, 2**64, -4096, "4096", 4096.0])
    elif op == 1:
        kdf["r"] = rng.choice([0, -1, 2**40, "8"])
    elif op == 2:
        kdf["p"] = rng.choice([0, -1, 2**40, "1"])
    elif op == 3:
        kdf["dklen"] = rng.choice([0, 1, 16, 1_000_000, 2**40])
    elif op == 4:
        kdf["salt"] = rng.choice(["", "0", "zz", "00" * 10_000])
    elif op == 5:
        crypto["cipher"] = rng.choice(["aes-256-gcm", "", "none", "[/x]"])
    elif op == 6:
        crypto["cipherparams"] = {"iv": rng.choice(["", "00", "zz", "00" * 64])}
    elif op == 7:
        crypto["ciphertext"] = rng.choice(["", "00", "zz", "00" * 31, "00" * 5000])
    elif op == 8:
        crypto["mac"] = rng.choice(["", "00" * 32, "zz"])
    elif op == 9:
        crypto["kdf"] = rng.choice(["pbkdf2", "argon2", "", "SCRYPT"])
    elif op == 10:
        ks["version"] = rng.choice([4, "3", None, 2**64])
    elif op == 11:
        ks["crypto"] = rng.choice([[], "x", None, {}])
    elif op == 12:
        ks.pop(rng.choice(sorted(ks)), None)
    elif op == 13 and crypto:
        crypto.pop(rng.choice(sorted(crypto)), None)
    elif op == 14 and kdf:
        kdf.pop(rng.choice(sorted(kdf)), None)
    elif op == 15:
        ks["daoli"] = rng.choice([None, [], "x", {}])
    elif op == 16 and isinstance(ks.get("daoli"), dict):
        key = rng.choice(["address", "name", "pubkey", "path", "created", "format"])
        ks["daoli"][key] = rng.choice(hostile_values)
    elif op == 17:
        return json.dumps(ks).encode()[: rng.randrange(400)]
    elif op == 18:
        return json.dumps([ks]).encode()
    elif op == 19:
        return json.dumps(ks).encode() + b" " * (70 << 10)  # just over a 64 KiB cap
    elif op == 20:
        return json.dumps(ks).replace('"crypto"', '"Crypto"').encode()
    elif op == 21:
        kdf["n"] = rng.choice([2**20, 2**22])  # costs a lot of memory or time, legal-looking
        kdf["p"] = rng.choice([1, 4])
    elif op == 22:
        return b'{"version": 3, "version": 3, "crypto": ' + json.dumps(crypto).encode() + b"}"
    elif op == 23:
        kdf.update(n=2**23, p=16)  # the attacker-set cost of issue 12
    return json.dumps(ks).encode()


SEMANTIC_LIMITS = {"password": 4096, "mnemonic": 4096, "key": 4096, "keystore": 64 << 10,
                   "genesis": 64 << 20, "generic": 1 << 20, "input-inside": 1 << 20,
                   "config": 1 << 20}


class Workspace:
    """The directory of one case: ``w`` (cwd, HOME, TMPDIR, the fixtures) and ``x`` (a
    sentinel no argument names: any change there is a write outside what the case owns)."""

    def __init__(self, root: Path, case: Case, template: Template) -> None:
        self.dir = root / f"c{case.index:06d}{'u' if case.unprivileged else ''}"
        self.case = case
        self.w = self.dir / "w"
        self.x = self.dir / "x"
        self.template = template
        self.made: dict[str, bytes] = {}
        self.watch: list[tuple[bytes, int, bytes]] = []  # (path, mode, content of 'keep')
        self.dir.mkdir()
        self.w.mkdir()
        (self.w / "u").mkdir()
        self.x.mkdir()
        (self.x / "keep.txt").write_text("sentinel\n")
        (self.x / "sub").mkdir()
        (self.x / "victim.json").write_text(json.dumps(template.keystore))
        os.chmod(self.x, 0o755)

    # tokens to bytes
    def token(self, token: Token) -> bytes:
        if isinstance(token, tuple):
            return b"".join(self.token(t) for t in token)
        if isinstance(token, bytes):
            return token
        if isinstance(token, str):
            return os.fsencode(token)
        if isinstance(token, Ref):
            if token.what.startswith("x:"):
                return os.fsencode(self.x) + b"/" + os.fsencode(token.what[2:])
            return os.fsencode(self.template.refs.get(token.what, ""))
        return self.fixture(token)

    def fixture(self, fx: Fixture) -> bytes:
        if fx.name not in self.made:
            rel = self._make(fx)
            if rel.startswith((b"/", b"~")) or fx.kind in ("dash", "out-dash", "out-empty"):
                self.made[fx.name] = rel
            elif fx.absolute:
                self.made[fx.name] = os.fsencode(self.w) + b"/" + rel
            else:
                self.made[fx.name] = rel
        return self.made[fx.name]

    def _content(self, semantic: str, rng: random.Random, valid: bool) -> bytes:
        t = self.template
        if semantic == "password":
            if valid:
                return rng.choice([TEMPLATE_PASSWORD, t.refs["dev-password"]]).encode() + b"\n"
            return rng.choice([b"\n", b"x" * 5000, b"\xff\xfe\n", b"pw\r\n", b"  \n", b"wrong\n",
                               b"[/x]\n", b"\x1b[31m\n", b"a" * 4096, b"line1\nline2\n"])
        if semantic == "mnemonic":
            if valid:
                return rng.choice([VALID_MNEMONIC_24, VALID_MNEMONIC_12]).encode() + b"\n"
            return rng.choice([
                " ".join(["abandon"] * 24), "foo " * 24, " ".join(["abandon"] * 25),
                VALID_MNEMONIC_24.upper(), "  " + VALID_MNEMONIC_24.replace(" ", "   \t"),
                VALID_MNEMONIC_24.replace("abandon", "abandön"), "[/x] " * 24,
                VALID_MNEMONIC_24 + "\n" + VALID_MNEMONIC_24, "", "abandon",
                " ".join(["abandon"] * 100_000)]).encode()
        if semantic == "key":
            if valid:
                return rng.choice([VALID_KEY, "0x" + VALID_KEY, VALID_KEY.upper()]).encode() + b"\n"
            return rng.choice(["00" * 32, SECP256K1_N, "ff" * 32, "11" * 31, "zz" * 32,
                               "11" * 33, "0x", "", " " + VALID_KEY, VALID_KEY + "\n" + "zz",
                               "١" * 64]).encode()
        if semantic == "keystore":
            if valid:
                return json.dumps(t.keystore).encode()
            return mutate_keystore(t.keystore, rng, costly=not self.case_has_costly_flag())
        if semantic in ("genesis", "config"):
            base = t.genesis if semantic == "genesis" else t.config
            return base if valid else mutate_toml(base, rng)
        return rng.choice([b"hello\n", b"{}", b"a = 1\n", json.dumps(t.keystore).encode(),
                           t.genesis, b"[/x]\n"]) if valid else mutate_toml(t.genesis, rng)

    def case_has_costly_flag(self) -> bool:
        return any(isinstance(a, str) and "costly" in a for a in self.case.argv)

    def _write(self, rel: bytes, data: bytes, mode: int = 0o644) -> None:
        path = os.fsencode(self.w) + b"/" + rel
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, mode)

    def _path(self, rel: bytes) -> bytes:
        return os.fsencode(self.w) + b"/" + rel

    def _make(self, fx: Fixture) -> bytes:
        rng = random.Random(fx.variant)
        n = fx.name.encode()
        ext = {"genesis": b".toml", "config": b".toml", "keystore": b".json"}.get(
            fx.semantic, b".txt")
        kind = fx.kind
        if fx.semantic == "home":
            return self._home(fx, rng)
        valid = self._content(fx.semantic, rng, True)
        if kind == "valid":
            self._write(n + ext, valid)
            return n + ext
        if kind == "variant":
            self._write(n + ext, self._content(fx.semantic, rng, False))
            return n + ext
        if kind == "missing":
            return n + b".missing" + ext
        if kind == "dir":
            os.mkdir(self._path(n + ext))
            return n + ext
        if kind == "empty":
            self._write(n + ext, b"")
            return n + ext
        devices = {"devzero": b"/dev/zero", "devnull": b"/dev/null", "devurandom": b"/dev/urandom",
                   "devstdin": b"/dev/stdin", "procmem": b"/proc/self/mem", "dash": b"-"}
        if kind in devices:
            return devices[kind]
        if kind == "zero-link":
            os.symlink(b"/dev/zero", self._path(n + ext))
            return n + ext
        if kind in ("fifo", "out-fifo"):
            os.mkfifo(self._path(n + ext))
            return n + ext
        if kind in ("loop", "out-loop"):
            os.symlink(n + b".b", self._path(n + ext))
            os.symlink(n + ext, self._path(n + b".b"))
            return n + ext
        if kind == "dangling":
            os.symlink(b"nowhere/" + n, self._path(n + ext))
            return n + ext
        if kind == "unreadable":
            self._write(n + ext, valid, 0o000)
            return n + ext
        if kind == "unreadable-parent":
            os.mkdir(self._path(n))
            self._write(n + b"/" + n + ext, valid)
            os.chmod(self._path(n), 0o000)
            return n + b"/" + n + ext
        if kind == "sparse":
            self._write(n + ext, b"")
            os.truncate(self._path(n + ext), 1 << 30)
            return n + ext
        if kind == "big-line":
            self._write(n + ext, b"A" * (300 << 10))
            return n + ext
        if kind == "just-over-limit":
            limit = SEMANTIC_LIMITS.get(fx.semantic, 1 << 20)
            self._write(n + ext, (valid * (limit // max(len(valid), 1) + 2))[: limit + 1])
            return n + ext
        deep = {"deep-toml": b"a=" + b"[" * 100_000,
                "deep-inline": b"a=" + b"{b=" * 30_000,
                "deep-dotted": b"[" + b".".join([b"a"] * 5000) + b"]\nx = 1\n",
                "deep-json": b"[" * 100_000,
                "deep-json-obj": b'{"a":' * 50_000,
                "nonutf8": b"\xff\xfe\x80bad\n" + valid,
                "binary": rng.randbytes(4096),
                "bom": b"\xef\xbb\xbf" + valid,
                "crlf": valid.replace(b"\n", b"\r\n")}
        if kind in deep:
            self._write(n + ext, deep[kind])
            return n + ext
        if kind == "nonutf8-name":
            self._write(n + b"\xff" + ext, valid)
            return n + b"\xff" + ext
        if kind == "long-name":
            return b"n" * 300 + ext
        if kind == "trailing-slash":
            self._write(n + ext, valid)
            return n + ext + b"/"
        if kind in ("under-file", "out-under-file"):
            self._write(n, b"a file\n")
            return n + b"/child" + ext
        if kind == "symlink-valid":
            self._write(n + b".target" + ext, valid)
            os.symlink(n + b".target" + ext, self._path(n + ext))
            return n + ext
        if kind in ("markup-name", "out-markup"):
            # '[/x]f2.txt': the file 'x]f2.txt' in the directory '[' (a closing markup tag)
            os.makedirs(self._path(b"["), exist_ok=True)
            name = b"[/x]" + n + ext
            if kind == "markup-name":
                self._write(name, valid)
            return name
        if kind == "dash-name":
            self._write(b"-" + n + ext, valid)
            return b"-" + n + ext
        # outputs
        if kind == "out-new":
            return n + rng.choice([b".toml", b".txt", b""])
        if kind == "out-existing":
            self._write(n + b".toml", b"keep me\n")
            return n + b".toml"
        if kind == "out-dir":
            os.mkdir(self._path(n))
            (Path(os.fsdecode(self._path(n))) / "keep").write_text("keep\n")
            return n
        if kind == "out-dangling":
            os.symlink(n + b".target", self._path(n + b".toml"))
            return n + b".toml"
        if kind == "out-missing-parent":
            return b"nodir/" + n + b".toml"
        if kind == "out-readonly":
            self._write(n + b".toml", b"keep me\n", 0o444)
            return n + b".toml"
        if kind == "out-readonly-dir":
            os.mkdir(self._path(n))
            os.chmod(self._path(n), 0o555)
            return n + b"/g.toml"
        if kind == "out-nonutf8":
            return n + b"\xff.toml"
        if kind == "out-long":
            return b"o" * 300
        if kind == "out-trailing-slash":
            return n + b"dir/"
        if kind == "out-dot":
            return b"."
        if kind == "out-dash":
            return b"-"
        if kind == "out-empty":
            return b""
        if kind == "out-symlink":
            self._write(n + b".target", b"keep me\n")
            os.symlink(n + b".target", self._path(n + b".toml"))
            return n + b".toml"
        raise ValueError(f"unknown fixture kind {kind!r}")

    def _copy_template(self, rel: bytes) -> bool:
        if self.template.path is None:
            os.makedirs(self._path(rel), exist_ok=True)
            return False
        shutil.copytree(self.template.path, os.fsdecode(self._path(rel)), symlinks=True)
        return True

    def _home(self, fx: Fixture, rng: random.Random) -> bytes:
        kind = fx.kind
        home = fx.name.encode()  # "home", or "h7" for a second home in one case
        if kind == "fresh":
            return home
        if kind == "empty":
            os.mkdir(self._path(home))
            return home
        if kind in ("init", "init-readonly", "init-wallets-hostile", "init-corrupt",
                    "unreadable", "unreadable-wallets", "init-nonutf8-wallet"):
            self._copy_template(home)
            wallets = self._path(home + b"/wallets")
            os.makedirs(wallets, exist_ok=True)
            if kind == "init-wallets-hostile":
                self._hostile_wallets(wallets, rng)
            elif kind == "init-corrupt":
                self._corrupt_home(home, rng)
            elif kind == "init-nonutf8-wallet":
                with open(wallets + b"/w\xff.json", "w") as f:
                    f.write(json.dumps(self.template.keystore))
            elif kind == "init-readonly":
                for dirpath, dirnames, filenames in os.walk(self._path(home), topdown=False):
                    for name in filenames:
                        os.chmod(os.path.join(dirpath, name), 0o444)
                    os.chmod(dirpath, 0o555)
                    del dirnames
            elif kind == "unreadable":
                os.chmod(self._path(home), 0o000)
            elif kind == "unreadable-wallets":
                os.chmod(wallets, rng.choice([0o000, 0o300, 0o500]))
            return home
        if kind == "loop":
            os.symlink(home + b"2", self._path(home))
            os.symlink(home, self._path(home + b"2"))
            return home
        if kind == "file":
            self._write(home, b"not a directory\n")
            return home
        if kind == "fifo":
            os.mkfifo(self._path(home))
            return home
        if kind in ("nonutf8", "nonutf8-init"):
            home = home + b"\xff"
            if kind == "nonutf8-init":
                self._copy_template(home)
            return home
        if kind == "under-file":
            self._write(home + b".blocker", b"a file\n")
            return home + b".blocker/home"
        if kind == "long":
            return home + b"h" * 300
        if kind == "deep":
            return b"d/" * 60 + home
        if kind == "symlink-init":
            self._copy_template(home + b".real")
            os.symlink(home + b".real", self._path(home))
            return home
        if kind == "dangling":
            os.symlink(b"missing/" + home, self._path(home))
            return home
        if kind == "tilde":
            return b"~/" + home
        if kind == "trailing-slash":
            self._copy_template(home)
            return home + b"/"
        if kind == "dot":
            return b"."
        if kind == "dotdot":
            return b"../w/" + home
        if kind == "shared-dir":
            os.mkdir(self._path(home))
            os.chmod(self._path(home), 0o755)
            self._write(home + b"/keep", b"shared\n")
            self.watch.append((self._path(home), 0o755, b"shared\n"))
            return home
        raise ValueError(f"unknown home kind {kind!r}")

    def _hostile_wallets(self, wallets: bytes, rng: random.Random) -> None:
        ks = self.template.keystore
        entries: list[tuple[bytes, Callable[[bytes], None]]] = [
            (b"garbage.json", lambda p: _write_bytes(p, rng.randbytes(2048))),
            (b"deep.json", lambda p: _write_bytes(p, b"[" * 100_000)),
            (b"deepobj.json", lambda p: _write_bytes(p, b'{"a":' * 50_000)),
            (b"sparse.json", lambda p: (_write_bytes(p, b""), os.truncate(p, 1 << 30))),
            (b"fifo.json", os.mkfifo),
            (b"loop.json", lambda p: os.symlink(p, p)),
            (b"zero.json", lambda p: os.symlink(b"/dev/zero", p)),
            (b"dir.json", os.mkdir),
            (b"unreadable.json", lambda p: (_write_bytes(p, json.dumps(ks).encode()),
                                            os.chmod(p, 0))),
            (b"\xff.json", lambda p: _write_bytes(p, json.dumps(ks).encode())),
            (b"costly.json", lambda p: _write_bytes(p, _costly(ks))),
            (b"[bold red]x[link].json", lambda p: _write_bytes(p, json.dumps(ks).encode())),
            (b"empty.json", lambda p: _write_bytes(p, b"")),
            (b"huge.json", lambda p: _write_bytes(p, json.dumps(ks).encode() + b" " * (70 << 10))),
            (b"mutant.json", lambda p: _write_bytes(p, mutate_keystore(ks, rng, costly=False))),
            (b"mutant2.json", lambda p: _write_bytes(p, mutate_keystore(ks, rng, costly=False))),
            (b"nonutf8.json", lambda p: _write_bytes(p, b'{"version": 3, "x": "\xff"}')),
            (b"notes.txt", lambda p: _write_bytes(p, b"not a wallet\n")),
        ]
        if self.case_has_costly_flag():  # then a costly keystore is a legitimately slow case
            entries = [e for e in entries if e[0] != b"costly.json"]
        for name, make in rng.sample(entries, rng.randint(1, 6)):
            make(wallets + b"/" + name)

    def _corrupt_home(self, home: bytes, rng: random.Random) -> None:
        target = rng.choice([b"genesis.toml", b"config.toml", b"node_key", b"signer_key",
                             b"dev.password", b"wallets/dev.json", b"wallets/alpha.json"])
        path = self._path(home + b"/" + target)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        how = rng.randrange(12)
        if how == 0:
            os.mkfifo(path)
        elif how == 1:
            os.symlink(b"/dev/zero", path)
        elif how == 2:
            os.symlink(path, path)
        elif how == 3:
            _write_bytes(path, b"")
            os.truncate(path, 1 << 30)
        elif how == 4:
            os.mkdir(path)
        elif how == 5:
            _write_bytes(path, rng.randbytes(512))
        elif how == 6:
            _write_bytes(path, b"a=" + b"[" * 100_000)
        elif how == 7:
            _write_bytes(path, b"")
        elif how == 8 and target.endswith(b".json"):
            _write_bytes(path, mutate_keystore(self.template.keystore, rng, costly=False))
        elif how in (8, 9) and target.endswith(b".toml"):
            base = self.template.genesis if target == b"genesis.toml" else self.template.config
            _write_bytes(path, mutate_toml(base, rng))
        elif how == 10:
            _write_bytes(path, b"zz" * 32 + b"\n")
        else:
            _write_bytes(path, b"\xff\xfe" * 40)
            os.chmod(path, 0)

    def chown(self, uid: int, gid: int) -> None:
        for dirpath, dirnames, filenames in os.walk(os.fsencode(self.dir)):
            for name in dirnames + filenames:
                os.lchown(os.path.join(dirpath, name), uid, gid)
        os.lchown(self.dir, uid, gid)

    def fingerprint(self) -> list[tuple[str, int, int, bytes]]:
        """What the sentinel directory ``x`` holds (names, modes, sizes, contents)."""
        out: list[tuple[str, int, int, bytes]] = []
        for dirpath, dirnames, filenames in os.walk(self.x):
            dirnames.sort()
            for name in sorted(dirnames + filenames):
                p = os.path.join(dirpath, name)
                st = os.lstat(p)
                data = b""
                if stat.S_ISREG(st.st_mode) and st.st_size < (1 << 20):
                    with open(p, "rb") as f:
                        data = f.read()
                out.append((os.path.relpath(p, self.x), st.st_mode, st.st_size, data))
        st = os.lstat(self.x)
        out.append((".", st.st_mode, 0, b""))
        return out

    def remove(self) -> None:
        _force_rmtree(self.dir)


def _write_bytes(path: bytes, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


def _costly(ks: dict[str, Any]) -> bytes:
    bad = json.loads(json.dumps(ks))
    bad["crypto"]["kdfparams"].update(n=2**23, p=16)
    return json.dumps(bad).encode()


# --- running -------------------------------------------------------------------------------------


@dataclass
class Outcome:
    case: Case
    argv: list[bytes]
    env: dict[bytes, bytes]
    rc: int | None
    stdout: bytes
    stderr: bytes
    seconds: float
    timed_out: bool = False
    flooded: bool = False
    leftover: bool = False
    outside: list[str] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    setup_error: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    shrunk: bool = False


@dataclass(frozen=True)
class Failure:
    check: str  # short class name: traceback, hang, exit-code, stderr, json, leak, outside, ...
    signature: str  # what makes two failures the same bug
    detail: str
    suspect: str  # the source file believed at fault


def _preexec(close_stdin: bool) -> Callable[[], None]:
    def run() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
        resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if close_stdin:
            os.close(0)
    return run


def _communicate(proc: subprocess.Popen[bytes], data: bytes | None, deadline: float
                 ) -> tuple[bytes, bytes, bool, bool]:
    """(stdout, stderr, timed out, flooded): like Popen.communicate, but each stream is kept
    only up to OUTPUT_CAP (the rest is read and dropped, so a flood cannot fill memory)."""
    sel = selectors.DefaultSelector()
    bufs: dict[int, bytearray] = {}
    sizes: dict[int, int] = {}
    streams = [s for s in (proc.stdout, proc.stderr) if s is not None]
    for s in streams:
        os.set_blocking(s.fileno(), False)
        sel.register(s, selectors.EVENT_READ)
        bufs[s.fileno()] = bytearray()
        sizes[s.fileno()] = 0
    view = memoryview(data or b"")
    if proc.stdin is not None:
        if data:
            os.set_blocking(proc.stdin.fileno(), False)
            sel.register(proc.stdin, selectors.EVENT_WRITE)
        else:
            proc.stdin.close()
    timed_out = False
    while sel.get_map():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
            break
        for key, _ in sel.select(min(remaining, 1.0)):
            f = key.fileobj
            if f is proc.stdin:
                try:
                    n = os.write(proc.stdin.fileno(), view[:65536])  # type: ignore[union-attr]
                    view = view[n:]
                except (BrokenPipeError, BlockingIOError, OSError):
                    view = view[:0]
                if not view:
                    sel.unregister(f)
                    with contextlib.suppress(OSError):
                        proc.stdin.close()  # type: ignore[union-attr]
                continue
            fd = f.fileno()  # type: ignore[union-attr]
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:
                continue
            if not chunk:
                sel.unregister(f)
                continue
            sizes[fd] += len(chunk)
            if len(bufs[fd]) < OUTPUT_CAP:
                bufs[fd] += chunk[: OUTPUT_CAP - len(bufs[fd])]
    sel.close()
    out = bytes(bufs.get(proc.stdout.fileno(), b"")) if proc.stdout else b""
    err = bytes(bufs.get(proc.stderr.fileno(), b"")) if proc.stderr else b""
    flooded = any(v > OUTPUT_CAP for v in sizes.values())
    return out, err, timed_out, flooded


class Runner:
    def __init__(self, tree: Tree, template: Template, root: Path, *, timeout: float,
                 keep: bool = False) -> None:
        self.tree = tree
        self.template = template
        self.root = root
        self.timeout = timeout
        self.keep = keep
        self.interpreter = Interpreter((sys.executable,))
        self.unprivileged_interpreter: Interpreter | None = None
        self.nobody = pwd.getpwnam(UNPRIVILEGED_USER) if _has_user(UNPRIVILEGED_USER) else None

    def run(self, case: Case, *, keep: bool | None = None) -> Outcome:
        keep = self.keep if keep is None else keep
        ws = Workspace(self.root, case, self.template)
        try:
            return self._run(case, ws)
        finally:
            if not keep:
                ws.remove()

    def _run(self, case: Case, ws: Workspace) -> Outcome:
        try:
            argv = [ws.token(t) for t in case.effective_argv()]
            extra = {k: ws.token(v) for k, v in case.effective_env().items()}
        except (OSError, ValueError) as exc:
            o = Outcome(case, [], {}, None, b"", b"", 0.0, setup_error=f"fixture: {exc!r}")
            o.failures = check(o, self.tree)
            return o
        w = os.fsencode(ws.w)
        env: dict[bytes, bytes] = {
            b"PATH": b"/usr/local/bin:/usr/bin:/bin", b"HOME": w + b"/u", b"TMPDIR": w,
            b"LANG": b"C.UTF-8", b"PYTHONPATH": os.fsencode(REPO_ROOT),
            b"PYTHONDONTWRITEBYTECODE": b"1", b"PYTHONSAFEPATH": b"1", b"PYTHONNOUSERSITE": b"1",
            b"PYTHONHASHSEED": b"0", b"PYTHONFAULTHANDLER": b"1",
        }
        for k, v in extra.items():
            env[k.encode()] = v
        kwargs: dict[str, Any] = {}
        interp = self.interpreter
        if case.unprivileged:
            assert self.nobody is not None and self.unprivileged_interpreter is not None
            interp = self.unprivileged_interpreter
            ws.chown(self.nobody.pw_uid, self.nobody.pw_gid)
        if interp.pythonpath:
            env[b"PYTHONPATH"] = os.fsencode(os.pathsep.join((str(REPO_ROOT),
                                                              *interp.pythonpath)))
            kwargs.update(user=self.nobody.pw_uid, group=self.nobody.pw_gid, extra_groups=[])
        before = ws.fingerprint()
        stdin_data: bytes | None = None
        stdin: Any = subprocess.DEVNULL
        if case.stdin in ("empty",) or case.stdin.startswith("data:"):
            stdin = subprocess.PIPE
            stdin_data = STDIN_DATA.get(case.stdin[5:], b"") if case.stdin != "empty" else b""
        stdout: Any = subprocess.PIPE
        if case.stdout == "full":
            stdout = os.open("/dev/full", os.O_WRONLY)
        elif case.stdout == "closed":
            closed_reader, stdout = os.pipe()
            os.close(closed_reader)
        cmd = [*map(os.fsencode, interp.prefix), b"-m", b"daoli.cli.app", *argv]
        t0 = time.monotonic()
        try:
            proc = subprocess.Popen(
                cmd, cwd=ws.w, env=env, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE,
                start_new_session=True, preexec_fn=_preexec(case.stdin == "closed"), **kwargs)
        finally:
            if case.stdout != "pipe":
                os.close(stdout)
        out, err, timed_out, flooded = _communicate(proc, stdin_data, t0 + self.timeout)
        if timed_out:
            # PYTHONFAULTHANDLER=1: SIGABRT makes the process print where it is stuck
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGABRT)
            more_out, more_err, _, _ = _communicate(proc, None, time.monotonic() + 2.0)
            out, err = out + more_out, err + more_err
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        try:
            rc = proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            rc = proc.wait()
        seconds = time.monotonic() - t0
        for s in (proc.stdout, proc.stderr, proc.stdin):
            if s is not None:
                with contextlib.suppress(OSError):
                    s.close()
        leftover = False
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, 0)
            leftover = True
            os.killpg(proc.pid, signal.SIGKILL)
        outcome = Outcome(case, argv, env, None if timed_out else rc, out, err, seconds,
                          timed_out=timed_out, flooded=flooded, leftover=leftover,
                          timeout=self.timeout)
        outcome.outside = self._outside_changes(ws, before)
        outcome.failures = check(outcome, self.tree)
        return outcome

    def _outside_changes(self, ws: Workspace, before: list[Any]) -> list[str]:
        found = []
        if ws.fingerprint() != before:
            found.append("the sentinel directory next to the case's own was changed")
        extra = set(os.listdir(ws.dir)) - {"w", "x"}
        if extra:
            found.append(f"new entries beside the case directory: {sorted(extra)!r}")
        stray = [n for n in os.listdir(self.root)
                 if not re.fullmatch(r"c\d{6}u?|template|nobody-probe", n)]
        if stray:
            found.append(f"new entries in the campaign directory: {sorted(stray)!r}")
        for path, mode, content in ws.watch:
            try:
                st = os.lstat(path)
                with open(path + b"/keep", "rb") as f:
                    kept = f.read()
            except OSError as exc:
                found.append(f"a directory it did not create is gone or unreadable ({exc})")
                continue
            if stat.S_IMODE(st.st_mode) != mode:
                found.append(f"changed the mode of a directory it did not create "
                             f"({mode:o} -> {stat.S_IMODE(st.st_mode):o})")
            if kept != content:
                found.append("changed a file in a directory it did not create")
        return found


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


# --- checking ------------------------------------------------------------------------------------

HELPISH = frozenset({"-h", "--help", "--show-completion", "--install-completion"})
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
LEAKS: tuple[tuple[str, re.Pattern[str]], ...] = tuple((label, re.compile(rx)) for label, rx in (
    ("errno", r"\[Errno -?\d+\]"),
    ("python exception name", r"\b(?:Key|Value|Type|Attribute|Index|Recursion|Overflow|"
     r"ZeroDivision|Unicode(?:De|En)code|Runtime|Assertion|Memory|Lookup|NotImplemented|"
     r"FileNotFound|IsADirectory|NotADirectory|Permission|BlockingIO|BrokenPipe)Error\b"),
    ("python internals", r"object has no attribute|not subscriptable|string indices must be "
     r"integers|unsupported operand type|NoneType|<class '|object is not iterable|invalid "
     r"literal for int\(\)|could not convert string to float|codec can't (?:de|en)code|list "
     r"index out of range|maximum recursion depth|Exceeds the limit \(\d+ digits\)|"
     r"decimal\.|InvalidOperation|<built-in|<function |Traceback"),
))


def _text(b: bytes) -> str:
    return b.decode("utf-8", "replace")


def reached_command(tree: Tree, tokens: Sequence[str]) -> tuple[str, ...]:
    """The command path click would dispatch to (as far as the argv says)."""
    cmd = tree[()]
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if t == "--" and cmd.is_group:
            i += 1
            continue
        if t.startswith("-") and t != "-":
            spec = cmd.option(t.split("=", 1)[0])
            i += 1 + (spec.nargs if spec and spec.takes_value and "=" not in t else 0)
            continue
        if cmd.is_group and t in cmd.subcommands:
            cmd = tree[(*cmd.path, t)]
        elif cmd.is_group:
            break
        i += 1
    return cmd.path


def json_expectation(tree: Tree, tokens: Sequence[str], env: dict[bytes, bytes]) -> str:
    """'json' if --json is in effect for sure, 'text' if surely not, else 'maybe'.

    --json is in effect when DAOLI_OUTPUT=json, or when click's parser would read a ``--json``
    token as that option: not as the value of another option, and not after a token that
    stops click first (an unknown option, a missing value, ``--``, an unknown command, a
    ``--version`` that exits before the subcommand). Help and completion requests are
    exempt (they print help text), so they make it 'maybe'.
    """
    if any(t in HELPISH or re.match(r"^-[^-].*h", t) for t in tokens):
        return "maybe"
    if env.get(b"DAOLI_OUTPUT") == b"json":
        return "json"
    if not any(t == "--json" or t.startswith("--json=") for t in tokens):
        return "text"
    cmd = tree[()]
    version = False
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if t == "--":
            break
        if t.startswith("-") and t != "-":
            name, eq, _ = t.partition("=") if t.startswith("--") else (t, "", "")
            spec = cmd.option(name)
            if spec is None:
                break
            if spec.takes_value:
                if eq:
                    i += 1
                    continue
                if i + spec.nargs >= len(tokens):
                    break
                i += 1 + spec.nargs
                continue
            if eq:
                break
            if name == "--json":
                return "json"
            if name == "--version":
                version = True
            i += 1
            continue
        if cmd.is_group:
            if t not in cmd.subcommands or version:
                break
            cmd = tree[(*cmd.path, t)]
        i += 1
    return "maybe"


def _one_object(out: bytes) -> tuple[Any, str | None]:
    """(the object, None) if stdout is exactly one JSON object, else (None, the problem)."""
    try:
        text = out.decode("utf-8")
    except UnicodeDecodeError:
        return None, "stdout is not UTF-8"
    if not text.strip():
        return None, "stdout is empty"

    def refuse(name: str) -> Any:
        raise ValueError(f"non-standard JSON constant {name}")

    try:
        obj = json.loads(text, parse_constant=refuse)
    except ValueError as exc:
        if "non-standard" in str(exc):
            return None, "stdout has NaN or Infinity (not JSON)"
        try:
            json.JSONDecoder().raw_decode(text.lstrip())
        except ValueError:
            return None, "stdout is not JSON"
        return None, "stdout has more than one JSON value, or text around it"
    if not isinstance(obj, dict):
        return None, f"stdout is JSON but not an object ({type(obj).__name__})"
    return obj, None


def _traceback_signature(err: str) -> tuple[str, str]:
    """(exception name, deepest daoli frame 'file:function') of a traceback or of a
    faulthandler dump (which lists the most recent call first)."""
    frames = re.findall(r'File "([^"]+)", line (\d+),? in (\S+)', err)
    if "most recent call first" in err:
        frames.reverse()
    exc_lines = [m.group(1) for ln in err.splitlines()
                 if (m := re.match(r"^([A-Za-z_][\w.]*)(?::|$)", ln))
                 and m.group(1) not in ("Traceback", "During", "The", "Current", "Thread")]
    exc = exc_lines[-1] if exc_lines else "?"
    root = str(REPO_ROOT) + os.sep
    own = [(f, ln, fn) for f, ln, fn in frames if f.startswith(root) and "/daoli/" in f]
    if own:
        f, _, fn = own[-1]
        return exc, f"{os.path.relpath(f, REPO_ROOT)}:{fn}"
    if frames:
        f, _, fn = frames[-1]
        return exc, f"{os.path.basename(f)}:{fn}"
    return exc, "?"


def _module_of(path: tuple[str, ...]) -> str:
    if not path:
        return "daoli/cli/app.py"
    return f"daoli/cli/{path[0].replace('-', '_')}.py"


def check(o: Outcome, tree: Tree) -> list[Failure]:
    """The contract of daoli/cli/common.py, applied to one outcome."""
    fails: list[Failure] = []
    tokens = [os.fsdecode(a) for a in o.argv]
    path = reached_command(tree, tokens)
    if any(t in ("--show-completion", "--install-completion") for t in tokens):
        path = ()  # typer's completion options act at the root, whatever follows them
    where = "daoli " + " ".join(path) if path else "daoli"
    module = _module_of(path)
    out, err = _text(o.stdout), _text(o.stderr)

    def fail(check_: str, what: str, detail: str = "", suspect: str = module) -> None:
        # a traceback is identified by where it happened; anything else by the command too
        signature = what if check_ == "traceback" else f"{what} [{where}]"
        fails.append(Failure(check_, signature, detail or what, suspect))

    if o.setup_error:
        return [Failure("setup", "harness: " + o.setup_error, o.setup_error,
                        "tests/cli/hostile.py")]
    if o.timed_out:
        exc, frame = _traceback_signature(err)
        fail("hang", f"no exit within {o.timeout:g} s"
             + (f", stuck in {frame}" if frame != "?" else ""), err[-2000:],
             frame.split(":")[0] if frame.startswith("daoli/") else module)
        return fails
    # A traceback (or Python's "Exception ignored" / "Fatal Python error") is the primary
    # failure; the exit code and the shape of stderr and stdout that follow from it are not
    # reported again, so one bug is one failure class.
    crashed = False
    for text, marker, label in ((err, "Traceback (most recent call last)", "traceback"),
                                (out, "Traceback (most recent call last)", "traceback"),
                                (err, "Exception ignored", "ignored exception"),
                                (err, "Fatal Python error", "fatal error")):
        if marker in text:
            exc, frame = _traceback_signature(text[text.index(marker):])
            fail("traceback", f"{label} {exc} in {frame}", text[-3000:],
                 frame.split(":")[0] if frame.startswith("daoli/") else module)
            crashed = True
            break
    rc = o.rc
    assert rc is not None
    if rc < 0 and not crashed:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = f"signal {-rc}"
        fail("signal", f"killed by {name}", err[-2000:])
        crashed = True
    elif rc not in ALLOWED_EXIT and not crashed:
        fail("exit-code", f"exit code {rc}", err[-2000:])
        crashed = True
    if o.flooded:
        fail("flood", f"more than {OUTPUT_CAP >> 20} MiB of output")
    if o.leftover:
        fail("leftover", "left processes running after it exited")
    for what in o.outside:
        fail("outside", what)
    plain_err = [ANSI.sub("", ln).rstrip() for ln in err.splitlines()]
    plain_err = [ln for ln in plain_err if ln.strip()]
    error_lines = [ln for ln in plain_err if ln.startswith("error:")]
    if rc != 0 and o.case.stdout != "closed" and not crashed:
        others = [ln for ln in plain_err
                  if not ln.startswith("error:") and not ln.startswith("warning:")]
        if not error_lines:
            fail("stderr", "failed without an 'error:' line on stderr", err[-2000:])
        elif len(error_lines) > 1:
            fail("stderr", "several 'error:' lines on stderr", err[-2000:])
        elif others:
            fail("stderr", "stderr has lines that are neither 'error:' nor 'warning:'",
                 err[-2000:])
    if rc == 0 and error_lines:
        fail("stderr", "exit 0 with an 'error:' line on stderr", err[-2000:])
    for line in error_lines + [ln for ln in plain_err if ln.startswith("warning:")]:
        for label, rx in LEAKS:
            if rx.search(line):
                fail("leak", f"message leaks internals ({label})", line[:500])
                break
    expect = json_expectation(tree, tokens, o.env)
    if o.case.stdout != "pipe" or crashed:
        return fails
    if expect == "json" or (expect == "maybe" and out.lstrip().startswith("{")):
        obj, problem = _one_object(o.stdout)
        if problem:
            fail("json", f"--json: {problem} (exit {rc})", (out[:1000] + "\n--\n" + err[-1000:]))
        elif rc != 0:
            e = obj.get("error") if isinstance(obj, dict) else None
            if set(obj) != {"error"} or not isinstance(e, dict) or set(e) != {"message",
                                                                               "exit_code"}:
                fail("json", "--json: the error object is not {\"error\": {\"message\", "
                     "\"exit_code\"}}", out[:1000])
            elif not isinstance(e["message"], str) or type(e["exit_code"]) is not int:
                fail("json", "--json: error message or exit_code has the wrong type", out[:1000])
            elif e["exit_code"] != rc:
                fail("json", f"--json: exit_code {e['exit_code']} but the process exited {rc}",
                     out[:1000])
            else:
                for label, rx in LEAKS:
                    if rx.search(e["message"]):
                        fail("leak", f"message leaks internals ({label})", e["message"][:500])
                        break
        elif "error" in obj and isinstance(obj.get("error"), dict):
            fail("json", "--json: an error object with exit code 0", out[:1000])
    return fails



# --- the campaign --------------------------------------------------------------------------------


@dataclass
class Report:
    cases: int = 0
    unprivileged_cases: int = 0
    seconds: float = 0.0
    outcomes: list[Outcome] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    shrunk: dict[str, Outcome] = field(default_factory=dict)

    @property
    def failing(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.failures]

    def classes(self) -> dict[str, list[tuple[Failure, Outcome]]]:
        """Failures grouped by signature, each group's shortest reproducer first."""
        groups: dict[str, list[tuple[Failure, Outcome]]] = {}
        for o in self.failing:
            seen = set()
            for f in o.failures:
                if f.signature in seen:
                    continue
                seen.add(f.signature)
                groups.setdefault(f.signature, []).append((f, o))
        for sig, items in groups.items():
            items.sort(key=lambda fo: _argv_size(fo[1]))
            if sig in self.shrunk:
                small = self.shrunk[sig]
                items.insert(0, (next(f for f in small.failures if f.signature == sig), small))
        return dict(sorted(groups.items(), key=lambda kv: (kv[1][0][0].suspect, kv[0])))

    def exit_codes(self) -> str:
        counts: dict[str, int] = {}
        for o in self.outcomes:
            key = "hang" if o.timed_out else "setup" if o.setup_error else str(o.rc)
            counts[key] = counts.get(key, 0) + 1
        return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))

    def commands(self) -> str:
        counts: dict[str, int] = {}
        for o in self.outcomes:
            key = " ".join(o.case.target) or "(none)"
            counts[key] = counts.get(key, 0) + 1
        return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))

    def render(self, *, verbose: bool = False) -> str:
        lines = [f"hostile campaign: {self.cases} cases as root, {self.unprivileged_cases} as "
                 f"'{UNPRIVILEGED_USER}', {self.seconds:.0f} s, "
                 f"{len(self.failing)} failing cases, {len(self.classes())} failure classes"]
        lines += [f"exit codes: {self.exit_codes()}", f"commands: {self.commands()}"]
        lines += [f"skipped: {s}" for s in self.skipped]
        lines += [f"note: {s}" for s in self.notes]
        lines += [f"problem: {p}" for p in self.problems]
        current = None
        for sig, items in self.classes().items():
            f, o = items[0]
            if f.suspect != current:
                current = f.suspect
                lines.append(f"\n== {current}")
            count = len({(x.case.index, x.case.unprivileged) for _, x in items})
            lines.append(f"- [{f.check}] {sig}  ({count} case{'s' if count > 1 else ''})")
            lines.append(f"    reproduce: {o.case.reproduce()}")
            lines.append(f"    command:   {command_line(o)}")
            if verbose:
                lines.extend("      | " + ln for ln in f.detail.splitlines()[-12:])
        return "\n".join(lines)


def _argv_size(o: Outcome) -> int:
    return sum(len(a) for a in o.argv) + 10 * len(o.argv) + sum(len(v) for v in o.env.values())


def _shell_quote(b: bytes) -> str:
    if len(b) > 200:
        if len(set(b)) == 1:
            return f"\"$(printf '%{len(b)}s' '' | tr ' ' {chr(b[0])!r})\""
        return _shell_quote(b[:60]) + f"'...[{len(b)} bytes]'"
    try:
        s = b.decode("ascii")
        if s.isprintable():
            return _posix_quote(s)
    except UnicodeDecodeError:
        pass
    out = "".join(chr(c) if 32 <= c < 127 and chr(c) not in "'\\" else f"\\x{c:02x}" for c in b)
    return f"$'{out}'"


def _posix_quote(s: str) -> str:
    if s and re.fullmatch(r"[\w@%+=:,./-]+", s):
        return s
    return "'" + s.replace("'", "'\"'\"'") + "'"


def command_line(o: Outcome) -> str:
    """A shell line for a human (the fixtures it names are described by the replay mode)."""
    base = {b"PATH", b"HOME", b"TMPDIR", b"LANG", b"PYTHONPATH", b"PYTHONDONTWRITEBYTECODE",
            b"PYTHONSAFEPATH", b"PYTHONNOUSERSITE", b"PYTHONHASHSEED", b"PYTHONFAULTHANDLER"}
    env = " ".join(f"{k.decode()}={_shell_quote(v)}" for k, v in o.env.items() if k not in base)
    redirect = {"devnull": " </dev/null", "empty": " <<<''", "closed": " <&-"}.get(
        o.case.stdin, f" <({o.case.stdin})" if o.case.stdin.startswith("data:") else "")
    redirect += {"full": " >/dev/full", "closed": " | true"}.get(o.case.stdout, "")
    who = "[as nobody] " if o.case.unprivileged else ""
    return (f"{who}{env + ' ' if env else ''}daoli "
            + " ".join(_shell_quote(a) for a in o.argv) + redirect).strip()


@dataclass(frozen=True)
class Interpreter:
    """How the unprivileged cases start Python: the command prefix and extra import paths."""

    prefix: tuple[str, ...]
    pythonpath: tuple[str, ...] = ()
    note: str = ""


def _blocked_dirs(path: Path, uid: int) -> list[str]:
    """Directories on the way to ``path`` that ``uid`` (not root) cannot traverse."""
    blocked = []
    for p in [*reversed(path.parents), path]:
        with contextlib.suppress(OSError):
            st = os.stat(p)
            if stat.S_ISDIR(st.st_mode) and not st.st_mode & 0o001 and st.st_uid != uid:
                blocked.append(f"{p} (mode {stat.S_IMODE(st.st_mode):o})")
    return blocked


def _probe(interp: Interpreter, root: Path, nobody: pwd.struct_passwd) -> str | None:
    probe = root / "nobody-probe"
    probe.mkdir(exist_ok=True)
    os.chown(probe, nobody.pw_uid, nobody.pw_gid)
    try:
        r = subprocess.run(
            [*interp.prefix, "-c", "import daoli.cli.app"], cwd=probe, capture_output=True,
            timeout=60, check=False, stdin=subprocess.DEVNULL,
            env={"PATH": "/usr/bin:/bin", "HOME": str(probe), "PYTHONDONTWRITEBYTECODE": "1",
                 "PYTHONSAFEPATH": "1",
                 "PYTHONPATH": os.pathsep.join((str(REPO_ROOT), *interp.pythonpath))},
            user=nobody.pw_uid, group=nobody.pw_gid, extra_groups=[])
    except (OSError, subprocess.SubprocessError) as exc:
        return f"cannot start {interp.prefix[0]}: {exc}"
    finally:
        shutil.rmtree(probe, ignore_errors=True)
    if r.returncode != 0:
        lines = r.stderr.decode(errors="replace").strip().splitlines()
        return f"cannot import daoli: {lines[-1] if lines else f'exit {r.returncode}'}"
    return None


def unprivileged_interpreter(root: Path) -> Interpreter | str:
    """How 'nobody' can run the CLI from this checkout, or why it cannot (nothing is copied).

    First this interpreter; if 'nobody' cannot execute it (a virtualenv whose base Python
    lives under a private /root, say), a system interpreter of the same minor version with
    this environment's site-packages on PYTHONPATH (``-S``: no other site directories).
    """
    if os.geteuid() != 0:
        return "not running as root, so cannot switch to the user 'nobody'"
    if not _has_user(UNPRIVILEGED_USER):
        return f"there is no user {UNPRIVILEGED_USER!r}"
    nobody = pwd.getpwnam(UNPRIVILEGED_USER)
    blocked = _blocked_dirs(REPO_ROOT, nobody.pw_uid)
    if blocked:
        return ("the checkout is not traversable by 'nobody': " + ", ".join(blocked)
                + " (nothing copied; give o+x to run the unprivileged part)")
    first = Interpreter((sys.executable,))
    why = _probe(first, root, nobody)
    if why is None:
        return first
    reasons = [f"{sys.executable}: {why}"]
    real = Path(os.path.realpath(sys.executable))
    if _blocked_dirs(real.parent, nobody.pw_uid):
        reasons[0] += " (its interpreter " + str(real) + " is under " + ", ".join(
            _blocked_dirs(real.parent, nobody.pw_uid)) + ")"
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site_dirs = tuple(dict.fromkeys(
        p for p in (sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"])
        if not _blocked_dirs(Path(p), nobody.pw_uid)))
    for candidate in (f"/usr/bin/{version}", f"/usr/local/bin/{version}"):
        if not os.access(candidate, os.X_OK) or os.path.realpath(candidate) == str(real):
            continue
        interp = Interpreter((candidate, "-S"), site_dirs,
                             f"as 'nobody' the CLI runs on {candidate} -S with this "
                             f"environment's site-packages, because " + reasons[0])
        why = _probe(interp, root, nobody)
        if why is None:
            return interp
        reasons.append(f"{candidate}: {why}")
    return "'nobody' cannot run the CLI: " + "; ".join(reasons)


def run_campaign(*, seed: int, cases: int, unprivileged_cases: int = 0,
                 unprivileged_seed: int | None = None, workers: int = 3,
                 timeout: float = DEFAULT_TIMEOUT, budget: float | None = None,
                 unprivileged_budget: float | None = None, shrink: bool = False,
                 shrink_budget: float | None = None,
                 progress: Callable[[str], None] | None = None,
                 root: Path | None = None) -> Report:
    """Run ``cases`` cases as the current user and ``unprivileged_cases`` as 'nobody'.

    ``budget`` (seconds) stops starting new cases once spent: the cases run are then cases
    0..k-1 of the seed, all reproducible. Failures are grouped by signature.
    """
    report = Report()
    t0 = time.monotonic()
    try:
        tree = load_tree()
    except Exception as exc:  # noqa: BLE001 - any import failure is the finding
        report.problems.append(f"the CLI does not import: {type(exc).__name__}: {exc}")
        return report
    own_root = root is None
    root = root or Path(tempfile.mkdtemp(prefix="daoli-hostile-"))
    os.chmod(root, 0o755)
    watched = _global_watch()
    try:
        template = make_template(root)
        _address_variants(template.refs)
        report.problems += template.problems
        gen = Generator(tree)
        runner = Runner(tree, template, root, timeout=timeout)
        parts = [(False, seed, cases, budget)]
        if unprivileged_cases:
            interp = unprivileged_interpreter(root)
            if isinstance(interp, Interpreter):
                runner.unprivileged_interpreter = interp
                if interp.note:
                    report.notes.append(interp.note)
                parts.append((True, seed if unprivileged_seed is None else unprivileged_seed,
                              unprivileged_cases, unprivileged_budget))
            else:
                report.skipped.append(f"unprivileged part: {interp}")
        for unpriv, part_seed, count, part_budget in parts:
            if count <= 0:
                continue
            done = _run_part(gen, runner, part_seed, count, unpriv, workers, part_budget,
                             progress)
            report.outcomes.extend(done)
            if unpriv:
                report.unprivileged_cases += len(done)
            else:
                report.cases += len(done)
        if shrink:
            _shrink_all(report, runner, shrink_budget, progress)
        changed = _global_watch()
        if changed != watched:
            report.problems.append("files outside the campaign changed during the run: "
                                   + _diff(watched, changed))
    finally:
        if own_root:
            _force_rmtree(root)
    report.seconds = time.monotonic() - t0
    return report


def _force_rmtree(path: Path) -> None:
    """rmtree that first makes mode-000 directories (left by cases) enterable again."""
    with contextlib.suppress(OSError):
        os.chmod(path, 0o700)
    for dirpath, dirnames, _ in os.walk(os.fsencode(path)):
        for name in dirnames:
            child = os.path.join(dirpath, name)
            if not os.path.islink(child):
                with contextlib.suppress(OSError):
                    os.chmod(child, 0o700)
    shutil.rmtree(path, ignore_errors=True)


def _global_watch() -> dict[str, Any]:
    """A cheap picture of places no case may touch: / and /dev, and the real ~/.daoli."""
    snap: dict[str, Any] = {}
    for d in ("/", "/dev"):
        with contextlib.suppress(OSError):
            snap[d] = sorted(os.listdir(d))
    for dev in ("/dev/null", "/dev/zero", "/dev/full", "/dev/urandom"):
        with contextlib.suppress(OSError):
            st = os.lstat(dev)
            snap[dev] = (st.st_mode, st.st_rdev)
    real_home = Path(pwd.getpwuid(os.getuid()).pw_dir) / ".daoli"
    with contextlib.suppress(OSError):
        st = os.lstat(real_home)
        snap[str(real_home)] = (st.st_mode, st.st_mtime_ns, sorted(os.listdir(real_home))
                                if stat.S_ISDIR(st.st_mode) else None)
    return snap


def _diff(a: dict[str, Any], b: dict[str, Any]) -> str:
    keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    return ", ".join(keys)


def _run_part(gen: Generator, runner: Runner, seed: int, count: int, unpriv: bool,
              workers: int, budget: float | None,
              progress: Callable[[str], None] | None) -> list[Outcome]:
    start = time.monotonic()
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    next_index = 0

    def one(index: int) -> Outcome:
        return runner.run(gen.case(seed, index, unpriv))

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        pending: set[concurrent.futures.Future[Outcome]] = set()
        while True:
            while (len(pending) < workers and next_index < count
                   and (budget is None or time.monotonic() - start < budget)):
                pending.add(pool.submit(one, next_index))
                next_index += 1
            if not pending:
                break
            done, pending = concurrent.futures.wait(
                pending, return_when=concurrent.futures.FIRST_COMPLETED)
            for fut in done:
                o = fut.result()
                with lock:
                    outcomes.append(o)
                if progress and o.failures:
                    progress(f"case {o.case.index}{' (nobody)' if unpriv else ''}: "
                             + "; ".join(f.signature for f in o.failures))
                if progress and len(outcomes) % 100 == 0:
                    progress(f"{len(outcomes)} cases{' as nobody' if unpriv else ''}, "
                             f"{time.monotonic() - start:.0f} s")
    outcomes.sort(key=lambda o: o.case.index)
    return outcomes


def _shrink_all(report: Report, runner: Runner, budget: float | None,
                progress: Callable[[str], None] | None) -> None:
    """Make each class's reproducer smaller: drop argv tokens and environment variables, and
    use /dev/null for stdin, as long as the case still fails with the same signature."""
    start = time.monotonic()
    for sig, items in report.classes().items():
        f, o = items[0]
        if f.check in ("hang", "setup"):
            continue  # each try would cost the whole timeout
        case = dataclasses.replace(o.case)
        best: Outcome | None = None
        attempts: list[Any] = ["stdin", *(("arg", i) for i in range(len(case.argv) - 1, -1, -1)),
                               *(("env", k) for k in sorted(case.env) if k != "DAOLI_HOME")]
        for attempt in attempts[:40]:
            if budget is not None and time.monotonic() - start > budget:
                return
            if attempt == "stdin":
                if case.stdin == "devnull":
                    continue
                trial = dataclasses.replace(case, stdin="devnull")
            elif attempt[0] == "arg":
                trial = dataclasses.replace(case, dropped_args=case.dropped_args | {attempt[1]})
            else:
                trial = dataclasses.replace(case, dropped_env=case.dropped_env | {attempt[1]})
            r = runner.run(trial)
            if any(x.signature == sig for x in r.failures):
                case, best = trial, r
        if best is not None:
            best.shrunk = True
            report.shrunk[sig] = best
            if progress:
                progress(f"shrunk: {sig}: {command_line(best)}")


def replay(seed: int, index: int, unprivileged: bool, *, drop_args: Iterable[int] = (),
           drop_env: Iterable[str] = (), plain_stdin: bool = False,
           timeout: float = DEFAULT_TIMEOUT) -> int:
    """Run one case verbosely and keep its directory; returns 1 if it fails a check."""
    tree = load_tree()
    root = Path(tempfile.mkdtemp(prefix="daoli-hostile-replay-"))
    os.chmod(root, 0o755)
    template = make_template(root)
    _address_variants(template.refs)
    for p in template.problems:
        print("problem:", p)
    interp = unprivileged_interpreter(root) if unprivileged else None
    if isinstance(interp, str):
        print("cannot run as nobody:", interp)
        return 2
    if interp is not None and interp.note:
        print("note:", interp.note)
    case = Generator(tree).case(seed, index, unprivileged)
    case.dropped_args = frozenset(drop_args)
    case.dropped_env = frozenset(drop_env)
    if plain_stdin:
        case.stdin = "devnull"
    runner = Runner(tree, template, root, timeout=timeout, keep=True)
    runner.unprivileged_interpreter = interp
    o = runner.run(case)
    print(f"case directory: {root}/c{index:06d}{'u' if unprivileged else ''}/w (kept)")
    print("target:", " ".join(case.target) or "(root)")
    print("argv:", [os.fsdecode(a)[:300] for a in o.argv])
    print("env:", {k.decode(): os.fsdecode(v)[:300] for k, v in o.env.items()})
    print("mode:", case.mode, "| home:", case.home.kind, "| stdin:", case.stdin,
          "| stdout:", case.stdout)
    fixtures = [t for t in [*case.argv, *case.env.values()] if isinstance(t, Fixture)]
    for fx in fixtures:
        print(f"fixture {fx.name}: {fx.kind} ({fx.semantic})")
    print("command:", command_line(o))
    print(f"exit: {o.rc}  timed out: {o.timed_out}  {o.seconds:.2f} s")
    print("--- stdout ---\n" + _text(o.stdout)[:4000])
    print("--- stderr ---\n" + _text(o.stderr)[-6000:])
    for f in o.failures:
        print(f"FAIL [{f.check}] {f.signature} (suspect {f.suspect})")
    if o.setup_error:
        print("setup error:", o.setup_error)
    return 1 if o.failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.cli.hostile",
                                 description="Hostile-input campaign for the daoli CLI.")
    ap.add_argument("--cases", type=int, default=2000, help="cases to run (default 2000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--unprivileged", action="store_true",
                    help="with --case: replay as 'nobody'; without: also run the unprivileged "
                    "part (--unprivileged-cases, default a third of --cases)")
    ap.add_argument("--unprivileged-cases", type=int, default=None)
    ap.add_argument("--workers", type=int, default=min(4, (os.cpu_count() or 2) + 1))
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per case")
    ap.add_argument("--budget", type=float, default=None,
                    help="stop starting cases after this many seconds (per part)")
    ap.add_argument("--no-shrink", action="store_true", help="do not minimise reproducers")
    ap.add_argument("--shrink-budget", type=float, default=300.0,
                    help="seconds spent minimising reproducers (default 300)")
    ap.add_argument("--json", action="store_true", help="print the report as one JSON object")
    ap.add_argument("--verbose", action="store_true", help="show each class's stderr tail")
    ap.add_argument("--case", type=int, default=None, help="replay one case, keep its directory")
    ap.add_argument("--drop-args", default="", help="with --case: argv indices to drop")
    ap.add_argument("--drop-env", default="", help="with --case: env variables to drop")
    ap.add_argument("--plain-stdin", action="store_true", help="with --case: stdin /dev/null")
    ap.add_argument("--list-commands", action="store_true",
                    help="print the command tree the generator sees, and exit")
    args = ap.parse_args(argv)
    if args.list_commands:
        for path, spec in sorted(load_tree().items()):
            print("daoli", " ".join(path))
            for p in spec.params:
                print(f"    {p.kind:8} {'/'.join(p.opts + p.secondary) or p.name:28} {p.base:7}"
                      f"{' flag' if p.flag else ''}{' multiple' if p.multiple else ''}"
                      f"{' required' if p.required else ''}"
                      f"{' choices=' + '|'.join(p.choices) if p.choices else ''}")
        return 0
    if args.case is not None:
        return replay(args.seed, args.case, args.unprivileged,
                      drop_args=[int(x) for x in args.drop_args.split(",") if x],
                      drop_env=[x for x in args.drop_env.split(",") if x],
                      plain_stdin=args.plain_stdin, timeout=args.timeout)
    unpriv = 0
    if args.unprivileged:
        unpriv = (args.unprivileged_cases if args.unprivileged_cases is not None
                  else max(args.cases // 3, 1))

    # a plain `kill` still removes the campaign's directory (cases in flight finish first)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    def progress(msg: str) -> None:
        if not args.json:
            print(msg, file=sys.stderr, flush=True)

    report = run_campaign(seed=args.seed, cases=args.cases, unprivileged_cases=unpriv,
                          workers=args.workers, timeout=args.timeout, budget=args.budget,
                          unprivileged_budget=args.budget, shrink=not args.no_shrink,
                          shrink_budget=args.shrink_budget,
                          progress=progress)
    if args.json:
        print(json.dumps(report_json(report), sort_keys=True))
    else:
        print(report.render(verbose=args.verbose))
    return 1 if report.failing or report.problems else 0


def report_json(report: Report) -> dict[str, Any]:
    return {
        "cases": report.cases, "unprivileged_cases": report.unprivileged_cases,
        "seconds": round(report.seconds, 1), "failing_cases": len(report.failing),
        "skipped": report.skipped, "problems": report.problems, "notes": report.notes,
        "exit_codes": report.exit_codes(), "commands": report.commands(),
        "classes": [{"signature": sig, "check": items[0][0].check,
                     "suspect": items[0][0].suspect, "cases": len(items),
                     "reproduce": items[0][1].case.reproduce(),
                     "command": command_line(items[0][1])}
                    for sig, items in report.classes().items()],
    }


if __name__ == "__main__":
    raise SystemExit(main())
