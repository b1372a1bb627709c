"""Devnet exports: the network a manifest describes, as a Docker Compose project or as
Kubernetes manifests, to run on other machines than this one.

Both exports make what ``Devnet.create`` makes (keys, wallets, one genesis in which every
trustee node is a genesis trustee) but address the nodes by DNS name instead of 127.0.0.1
ports, and run each node in a container of the image the repository's Dockerfile builds:

* ``export_compose`` writes ``docker-compose.yml`` with one service per node and, next to
  it, ``homes/<node>/`` (each node's home: config.toml, genesis.toml, node_key, signer_key,
  wallets/) and ``wallets.password``. A home is mounted read-only at ``/seed`` and copied
  into the node's named volume on its first start by the seed step of this module
  (``python -m daoli.devnet.export seed``), which then drops root for the image's ``daoli``
  user and execs the node. Seeding runs as root because the keys are mode 0600 on the host
  and owned by whoever exported them, a uid the container cannot know in advance.
* ``export_k8s`` writes a Namespace, a ConfigMap (genesis.toml, ``config-<i>.toml`` per
  ordinal), a Secret (node and signer keys per ordinal, wallet keystores), a headless
  Service and a StatefulSet whose init container runs the same seed step, picking its
  ordinal's files by ``$HOSTNAME``. The main container never mounts the Secret.

Keys are made at export time and the files holding them (and the Secret manifest) are
written with mode 0600. The genesis time is the export time; a network started later just
begins at a later clock cycle (cycles are counted from genesis time, see core.clock), so an
export can be kept and started any time.

YAML is written by a small emitter here (every string double-quoted or a literal block),
so exporting needs no YAML library at run time.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daoli.core.crypto import pubkey_from_secret
from daoli.core.genesis import Genesis
from daoli.core.peerid import peer_id_of_secret
from daoli.devnet.keys import make_genesis, make_keys
from daoli.devnet.manifest import SIGNER_WALLET, Manifest
from daoli.errors import ConfigError, DaoliError
from daoli.files import (
    MAX_CONFIG_FILE,
    MAX_GENESIS_FILE,
    MAX_KEYSTORE_FILE,
    MAX_SECRET_FILE,
    os_error_text,
    quote,
    read_bytes,
    show,
)
from daoli.node.config import (
    DEFAULT_API_PORT,
    DEFAULT_P2P_PORT,
    NodeConfig,
    check_multiaddr,
    dump_config_toml,
    dump_genesis_toml,
)
from daoli.node.home import (
    CONFIG_FILE,
    GENESIS_FILE,
    NODE_KEY_FILE,
    SIGNER_KEY_FILE,
    WALLETS_DIR,
    write_file,
)
from daoli.wallet.keystore import WalletStore

P2P_PORT = DEFAULT_P2P_PORT
API_PORT = DEFAULT_API_PORT
CONTAINER_HOME = "/home/daoli/node"
"""The node home inside the container (the Dockerfile makes it, owned by ``daoli``)."""
CONTAINER_USER = "daoli"
CONTAINER_UID = 10001
"""The image's ``daoli`` user and group id (Dockerfile); Kubernetes runs the pods as it."""
SEED_DIR = "/seed"
DEFAULT_IMAGE = "daoli:latest"
DEFAULT_NAMESPACE = "daoli-devnet"
HOMES_DIR = "homes"
PASSWORD_FILE = "wallets.password"
MARKER = ".daoli-export"
"""Left in every directory an export made, so ``force`` deletes only what an export made."""
K8S_FILES = ("00-namespace.yaml", "10-configmap.yaml", "20-secret.yaml", "30-service.yaml",
             "40-statefulset.yaml")
K8S_SECRET_FILE = "20-secret.yaml"
LISTEN = f"/ip4/0.0.0.0/tcp/{P2P_PORT}"
API_LISTEN = f"0.0.0.0:{API_PORT}"
NODE_COMMAND = ("daoli", "node", "start", "--home", CONTAINER_HOME, "--listen", LISTEN,
                "--api", API_LISTEN, "--json")
HEALTH_URL = f"http://127.0.0.1:{API_PORT}/metrics"
HEALTH_PY = f"import urllib.request; urllib.request.urlopen({HEALTH_URL!r}, timeout=3)"
"""The container health check: /metrics needs no token, and the image may lack curl."""

_DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
_SECRET_NAMES = (NODE_KEY_FILE, SIGNER_KEY_FILE)


@dataclass(frozen=True)
class ExportedNode:
    name: str
    """The node's name in the manifest."""
    workload: str
    """The Compose service or the Kubernetes pod that runs it."""
    host: str
    """The DNS name its peers dial."""
    peer_id: str
    signer_pubkey: str
    trustee: bool
    miners: int
    sponsor: bool
    p2p: str
    """Its bootstrap multiaddr, /dns/<host>/tcp/26656/p2p/<peer id>."""
    api: str | None
    """Its API as reachable from this machine (Compose: 127.0.0.1:<port>); None for pods."""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "workload": self.workload, "host": self.host,
                "peer_id": self.peer_id, "signer_pubkey": self.signer_pubkey,
                "trustee": self.trustee, "miners": self.miners, "sponsor": self.sponsor,
                "p2p": self.p2p, "api": self.api}


@dataclass(frozen=True)
class ExportReport:
    """What an export wrote, for the CLI to show (``to_dict`` is its --json schema)."""

    kind: str
    """``compose`` or ``k8s``."""
    path: Path
    """The compose file, or the Kubernetes manifests' directory."""
    files: tuple[Path, ...]
    """Every file written."""
    secret_files: tuple[Path, ...]
    """Those holding keys or the wallets' password: mode 0600."""
    chain_id: str
    genesis_id: str
    genesis_time_ms: int
    image: str
    namespace: str | None
    password_file: Path
    """The password of every exported wallet (mode 0600)."""
    nodes: tuple[ExportedNode, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": str(self.path),
                "files": [str(f) for f in self.files],
                "secret_files": [str(f) for f in self.secret_files],
                "chain_id": self.chain_id, "genesis_id": self.genesis_id,
                "genesis_time_ms": self.genesis_time_ms, "image": self.image,
                "namespace": self.namespace, "password_file": str(self.password_file),
                "nodes": [n.to_dict() for n in self.nodes]}


# --- the plan: keys, genesis and per-node settings (what Devnet.create makes) ---------------


@dataclass(frozen=True)
class _Plan:
    genesis: Genesis
    genesis_text: str
    node_keys: tuple[bytes, ...]
    signer_keys: tuple[bytes, ...]
    peer_ids: tuple[str, ...]
    hosts: tuple[str, ...]
    password: str
    wallets: dict[str, bytes]
    """Keystore file bytes of every shared wallet (the manifest's and the faucet)."""
    signer_wallets: tuple[bytes, ...]
    """Per node: a keystore of its signer key, ``signer`` (for ``trustee join``)."""

    def p2p(self, i: int) -> str:
        return f"/dns/{self.hosts[i]}/tcp/{P2P_PORT}/p2p/{self.peer_ids[i]}"

    def config(self, manifest: Manifest, i: int) -> NodeConfig:
        spec = manifest.nodes[i]
        return NodeConfig(p2p_listen=LISTEN, api_listen=API_LISTEN,
                          bootstrap_peers=tuple(self.p2p(j) for j in range(len(self.hosts))
                                                if j != i),
                          trustee=spec.trustee, mine=spec.miners, sponsor=spec.sponsor)


def _plan(manifest: Manifest, hosts: Sequence[str], genesis_time_ms: int | None) -> _Plan:
    if any(w.name == SIGNER_WALLET for w in manifest.wallets):
        raise ConfigError(f"wallet name {SIGNER_WALLET!r} is reserved: every node home holds "
                          "its own signer key under that name")
    for spec, host in zip(manifest.nodes, hosts, strict=True):
        try:
            check_multiaddr(f"/dns/{host}/tcp/{P2P_PORT}", "address")
        except ConfigError:
            raise ConfigError(f"node {show(spec.name)}: {show(host)} cannot be a DNS name "
                              "(node names for an export end with a letter or digit)") from None
    if genesis_time_ms is None:
        genesis_time_ms = int(time.time()) * 1000
    keys = make_keys(manifest)
    node_keys, signer_keys, wallet_keys = keys.node_keys, keys.signer_keys, keys.wallet_keys
    genesis = make_genesis(manifest, keys, [f"/dns/{h}/tcp/{P2P_PORT}" for h in hosts],
                           genesis_time_ms)
    password = secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="daoli-export-") as tmp:
        store = WalletStore(Path(tmp) / "w")
        wallets = {}
        for name, key in wallet_keys.items():
            store.import_secret(name, key, password, light_kdf=True)
            wallets[name] = store.file_of(name).read_bytes()
        signer_wallets = []
        for i, key in enumerate(signer_keys):
            own = WalletStore(Path(tmp) / f"s{i}")  # the name is inside the keystore
            own.import_secret(SIGNER_WALLET, key, password, light_kdf=True)
            signer_wallets.append(own.file_of(SIGNER_WALLET).read_bytes())
    return _Plan(genesis, dump_genesis_toml(genesis), node_keys, signer_keys,
                 tuple(peer_id_of_secret(k) for k in node_keys), tuple(hosts), password,
                 wallets, tuple(signer_wallets))


def _key_text(secret: bytes) -> bytes:
    return (secret.hex() + "\n").encode()


# --- writing -------------------------------------------------------------------------------


class _Writer:
    """Writes files and remembers which, and which are secret (mode 0600)."""

    def __init__(self) -> None:
        self.files: list[Path] = []
        self.secret: list[Path] = []

    def write(self, path: Path, data: bytes | str, *, secret: bool = False) -> None:
        write_file(path, data.encode() if isinstance(data, str) else data, secret=secret)
        self.files.append(path)
        if secret:
            self.secret.append(path)


def _make_dir(path: Path) -> None:
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path, 0o700)
    except OSError as exc:
        raise ConfigError(f"cannot create {quote(path)}: {os_error_text(exc)}") from None


def _non_empty_dir(path: Path) -> bool:
    try:
        return path.is_dir() and any(path.iterdir())
    except OSError as exc:
        raise ConfigError(f"cannot look into {quote(path)}: {os_error_text(exc)}") from None


def _remove_export_dir(path: Path, force_flag: str) -> None:
    """Delete a directory an earlier export made (it holds the marker), else refuse."""
    if not path.exists() and not path.is_symlink():
        return
    if path.is_symlink() or not path.is_dir() or not (path / MARKER).is_file():
        raise ConfigError(f"{quote(path)} exists and was not made by 'daoli devnet export'; "
                          f"move it away ({force_flag} replaces only an export's own files)")
    try:
        shutil.rmtree(path)
    except OSError as exc:
        raise ConfigError(f"cannot remove {quote(path)}: {os_error_text(exc)}") from None


def _check_image(image: str) -> str:
    if not image or len(image) > 255 or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/:@-]*",
                                                          image):
        raise ConfigError(f"image '{show(image)[:80]}' is not an image reference "
                          "(e.g. daoli:latest or registry.example/daoli:0.1)")
    return image


# --- Docker Compose ----------------------------------------------------------------------------


def export_compose(manifest: Manifest, path: Path, *, image: str = DEFAULT_IMAGE,
                   force: bool = False, genesis_time_ms: int | None = None) -> ExportReport:
    """Write ``path`` (a Compose file) for ``manifest``, with ``homes/`` and
    ``wallets.password`` next to it. An existing ``path`` (or ``homes/``) is refused unless
    ``force``, which replaces them; new keys mean a new chain, so old volumes must go too
    (``docker compose down -v``); the seed step refuses a volume of another chain."""
    _check_image(image)
    out = path.parent
    homes = out / HOMES_DIR
    password_file = out / PASSWORD_FILE
    if path.is_dir():
        raise ConfigError(f"{quote(path)} is a directory; give the compose file's path, "
                          "e.g. deploy/docker-compose.yml")
    if not force:
        for p in (path, homes, password_file):
            if p.exists() or p.is_symlink():
                raise ConfigError(f"{quote(p)} already exists; choose another path or "
                                  "--force to replace the export (new keys: a new chain)")
    hosts = [spec.name for spec in manifest.nodes]
    plan = _plan(manifest, hosts, genesis_time_ms)
    _make_dir(out)
    _remove_export_dir(homes, "--force")
    w = _Writer()
    _make_dir(homes)
    w.write(homes / MARKER, "made by daoli devnet export --compose; --force deletes it\n")
    base = manifest.base_port or P2P_PORT
    nodes: list[ExportedNode] = []
    services: dict[str, Any] = {}
    volumes: dict[str, Any] = {}
    for i, spec in enumerate(manifest.nodes):
        home = homes / spec.name
        _make_dir(home)
        _write_home(w, home, plan, manifest, i)
        host_port = base + 2 * i + 1
        volume = f"{spec.name}-home"
        volumes[volume] = {}
        services[spec.name] = {
            "image": image,
            "hostname": spec.name,
            "user": "0:0",
            "entrypoint": ["python", "-m", "daoli.devnet.export", "seed", "--from", SEED_DIR,
                           "--home", CONTAINER_HOME, "--user", CONTAINER_USER, "--"],
            "command": list(NODE_COMMAND),
            "environment": {"DAOLI_HOME": CONTAINER_HOME,
                            "DAOLI_NODE": f"http://127.0.0.1:{API_PORT}"},
            "volumes": [
                {"type": "bind", "source": f"./{HOMES_DIR}/{spec.name}", "target": SEED_DIR,
                 "read_only": True},
                {"type": "volume", "source": volume, "target": CONTAINER_HOME},
            ],
            "ports": [f"127.0.0.1:{host_port}:{API_PORT}"],
            "healthcheck": {"test": ["CMD", "python", "-c", HEALTH_PY], "interval": "10s",
                            "timeout": "5s", "retries": 3, "start_period": "30s"},
            "restart": "unless-stopped",
            "stop_grace_period": "10s",
            "labels": {"org.daoli.devnet": manifest.name, "org.daoli.node": spec.name,
                       "org.daoli.peer-id": plan.peer_ids[i]},
        }
        nodes.append(ExportedNode(
            spec.name, spec.name, spec.name, plan.peer_ids[i],
            pubkey_from_secret(plan.signer_keys[i]).hex(), spec.trustee, spec.miners,
            spec.sponsor, plan.p2p(i), f"http://127.0.0.1:{host_port}"))
    doc = {"name": manifest.name, "services": services, "volumes": volumes}
    header = [f"Devnet {manifest.name}: {len(manifest.nodes)} nodes, chain {manifest.chain_id}, "
              f"genesis {plan.genesis.id.hex()}.",
              "Made by 'daoli devnet export --compose'. The node homes (keys: mode 0600) are in "
              f"./{HOMES_DIR}/, copied",
              "into each node's volume on its first start. Build the image first: "
              f"docker build -t {image} .",
              "Then: docker compose up -d; docker compose ps; docker compose down -v."]
    w.write(password_file, plan.password + "\n", secret=True)
    w.write(path, dump_yaml(doc, header))
    return _report("compose", path, w, plan, image, None, password_file, nodes)


def _write_home(w: _Writer, home: Path, plan: _Plan, manifest: Manifest, i: int) -> None:
    """A node home as Devnet.create makes it; genesis.toml last, as the seed step does."""
    w.write(home / CONFIG_FILE, dump_config_toml(plan.config(manifest, i)))
    w.write(home / NODE_KEY_FILE, _key_text(plan.node_keys[i]), secret=True)
    w.write(home / SIGNER_KEY_FILE, _key_text(plan.signer_keys[i]), secret=True)
    wallets = home / WALLETS_DIR
    _make_dir(wallets)
    for name, data in plan.wallets.items():
        w.write(wallets / f"{name}.json", data, secret=True)
    w.write(wallets / f"{SIGNER_WALLET}.json", plan.signer_wallets[i], secret=True)
    w.write(home / GENESIS_FILE, plan.genesis_text)


def _report(kind: str, path: Path, w: _Writer, plan: _Plan, image: str,
            namespace: str | None, password_file: Path,
            nodes: list[ExportedNode]) -> ExportReport:
    return ExportReport(kind, path, tuple(w.files), tuple(w.secret), plan.genesis.chain_id,
                        plan.genesis.id.hex(), plan.genesis.genesis_time_ms, image, namespace,
                        password_file, tuple(nodes))


# --- Kubernetes --------------------------------------------------------------------------------


def export_k8s(manifest: Manifest, directory: Path, *, image: str = DEFAULT_IMAGE,
               namespace: str = DEFAULT_NAMESPACE, force: bool = False,
               genesis_time_ms: int | None = None) -> ExportReport:
    """Write Kubernetes manifests for ``manifest`` into ``directory`` (``kubectl apply -f``):
    a StatefulSet named after the manifest whose pod ``<name>-<i>`` runs node i. A
    non-empty ``directory`` is refused unless ``force``, which rewrites the export's files
    (others are left alone)."""
    _check_image(image)
    if not _DNS_LABEL.match(namespace):
        raise ConfigError(f"namespace '{show(namespace)[:80]}' must be 1-63 of a-z, 0-9 and "
                          "'-', starting and ending with a letter or digit")
    name = manifest.name
    if not _DNS_LABEL.match(name):
        raise ConfigError(f"the manifest's name '{show(name)}' must end with a letter or digit "
                          "to name a StatefulSet")
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"{quote(directory)} is not a directory")
    if not force and _non_empty_dir(directory):
        raise ConfigError(f"{quote(directory)} is not empty; choose another directory or "
                          "--force to replace the export (new keys: a new chain)")
    pods = [f"{name}-{i}" for i in range(len(manifest.nodes))]
    hosts = [f"{pod}.{name}.{namespace}.svc.cluster.local" for pod in pods]
    plan = _plan(manifest, hosts, genesis_time_ms)
    _make_dir(directory)
    w = _Writer()
    labels = {"app.kubernetes.io/name": "daoli", "app.kubernetes.io/instance": name,
              "app.kubernetes.io/component": "node",
              "app.kubernetes.io/managed-by": "daoli-devnet-export"}
    selector = {k: labels[k] for k in ("app.kubernetes.io/name", "app.kubernetes.io/instance")}
    meta = {"name": name, "namespace": namespace, "labels": labels}
    config_name, secret_name = f"{name}-config", f"{name}-keys"
    ordinals = [f"{name}-{i} is node {spec.name}"
                + (" (trustee)" if spec.trustee else " (follower)")
                for i, spec in enumerate(manifest.nodes)]
    header = [f"Devnet {name}: {len(pods)} nodes, chain {manifest.chain_id}, genesis "
              f"{plan.genesis.id.hex()}.",
              "Made by 'daoli devnet export --k8s'; apply with: kubectl apply -f <this "
              "directory>", *ordinals]
    config_data = {GENESIS_FILE: plan.genesis_text}
    for i in range(len(pods)):
        config_data[f"config-{i}.toml"] = dump_config_toml(plan.config(manifest, i))
    secret_data: dict[str, str] = {}
    for i in range(len(pods)):
        secret_data[f"{NODE_KEY_FILE}-{i}"] = _key_text(plan.node_keys[i]).decode()
        secret_data[f"{SIGNER_KEY_FILE}-{i}"] = _key_text(plan.signer_keys[i]).decode()
        secret_data[f"{SIGNER_WALLET}-{i}.json"] = plan.signer_wallets[i].decode()
    for wname, data in plan.wallets.items():
        secret_data[f"wallet-{wname}.json"] = data.decode()
    docs: dict[str, Any] = {
        "00-namespace.yaml": {"apiVersion": "v1", "kind": "Namespace",
                              "metadata": {"name": namespace, "labels": {
                                  "app.kubernetes.io/managed-by": "daoli-devnet-export"}}},
        "10-configmap.yaml": {"apiVersion": "v1", "kind": "ConfigMap",
                              "metadata": {**meta, "name": config_name},
                              "data": config_data},
        K8S_SECRET_FILE: {"apiVersion": "v1", "kind": "Secret",
                          "metadata": {**meta, "name": secret_name}, "type": "Opaque",
                          "stringData": secret_data},
        "30-service.yaml": {
            "apiVersion": "v1", "kind": "Service", "metadata": meta,
            "spec": {"clusterIP": "None", "publishNotReadyAddresses": True,
                     "selector": selector,
                     "ports": [{"name": "p2p", "port": P2P_PORT, "targetPort": "p2p"},
                               {"name": "api", "port": API_PORT, "targetPort": "api"}]}},
        "40-statefulset.yaml": _statefulset(meta, selector, labels, len(pods), image,
                                            config_name, secret_name),
    }
    for fname in K8S_FILES:
        w.write(directory / fname, dump_yaml(docs[fname], header),
                secret=fname == K8S_SECRET_FILE)
    password_file = directory / PASSWORD_FILE
    w.write(password_file, plan.password + "\n", secret=True)
    w.write(directory / MARKER, "made by daoli devnet export --k8s\n")
    nodes = [ExportedNode(spec.name, pods[i], hosts[i], plan.peer_ids[i],
                          pubkey_from_secret(plan.signer_keys[i]).hex(), spec.trustee,
                          spec.miners, spec.sponsor, plan.p2p(i), None)
             for i, spec in enumerate(manifest.nodes)]
    return _report("k8s", directory, w, plan, image, namespace, password_file, nodes)


def _statefulset(meta: dict[str, Any], selector: dict[str, str], labels: dict[str, str],
                 replicas: int, image: str, config_name: str,
                 secret_name: str) -> dict[str, Any]:
    probe = {"httpGet": {"path": "/metrics", "port": "api"}, "periodSeconds": 10,
             "timeoutSeconds": 5}
    mount = {"name": "data", "mountPath": str(Path(CONTAINER_HOME).parent)}
    security = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    name = str(meta["name"])
    return {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta,
        "spec": {
            "serviceName": name, "replicas": replicas, "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "securityContext": {"runAsUser": CONTAINER_UID,
                                        "runAsGroup": CONTAINER_UID,
                                        "fsGroup": CONTAINER_UID, "runAsNonRoot": True},
                    "terminationGracePeriodSeconds": 15,
                    "initContainers": [{
                        "name": "seed", "image": image,
                        "command": ["python", "-m", "daoli.devnet.export", "seed",
                                    "--config", f"{SEED_DIR}/config", "--keys",
                                    f"{SEED_DIR}/keys", "--statefulset", name,
                                    "--home", CONTAINER_HOME],
                        "volumeMounts": [
                            mount,
                            {"name": "config", "mountPath": f"{SEED_DIR}/config",
                             "readOnly": True},
                            {"name": "keys", "mountPath": f"{SEED_DIR}/keys",
                             "readOnly": True}],
                        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"},
                                      "limits": {"cpu": "500m", "memory": "256Mi"}},
                        "securityContext": security,
                    }],
                    "containers": [{
                        "name": "node", "image": image, "command": list(NODE_COMMAND),
                        "env": [{"name": "DAOLI_HOME", "value": CONTAINER_HOME},
                                {"name": "DAOLI_NODE",
                                 "value": f"http://127.0.0.1:{API_PORT}"}],
                        "ports": [{"name": "p2p", "containerPort": P2P_PORT},
                                  {"name": "api", "containerPort": API_PORT}],
                        "volumeMounts": [mount],
                        "startupProbe": {**probe, "failureThreshold": 30},
                        "readinessProbe": {**probe, "failureThreshold": 3},
                        "livenessProbe": {**probe, "failureThreshold": 6},
                        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"},
                                      "limits": {"cpu": "1", "memory": "1Gi"}},
                        "securityContext": security,
                    }],
                    "volumes": [
                        {"name": "config", "configMap": {"name": config_name}},
                        {"name": "keys", "secret": {"secretName": secret_name,
                                                    "defaultMode": 0o440}}],
                },
            },
            "volumeClaimTemplates": [{
                "metadata": {"name": "data", "labels": selector},
                "spec": {"accessModes": ["ReadWriteOnce"],
                         "resources": {"requests": {"storage": "1Gi"}}}}],
        },
    }


# --- the seed step (runs inside the container) ---------------------------------------------


def compose_seed_files(seed: Path) -> dict[str, Path]:
    """Home-relative name -> file, for a home exported by ``export_compose``."""
    files = {name: seed / name for name in (CONFIG_FILE, NODE_KEY_FILE, SIGNER_KEY_FILE,
                                            GENESIS_FILE)}
    wallets = seed / WALLETS_DIR
    try:
        entries = sorted(wallets.iterdir()) if wallets.is_dir() else []
    except OSError as exc:
        raise ConfigError(f"cannot list {quote(wallets)}: {os_error_text(exc)}") from None
    for f in entries:
        if f.name.endswith(".json") and not f.name.startswith("."):
            files[f"{WALLETS_DIR}/{f.name}"] = f
    return files


def k8s_seed_files(config: Path, keys: Path, ordinal: int) -> dict[str, Path]:
    """Home-relative name -> file for pod ``ordinal``, from the mounted ConfigMap and Secret.
    Kubernetes shows their keys as files (behind symlinks, which are followed)."""
    own = config / f"config-{ordinal}.toml"
    if not own.exists():
        raise ConfigError(f"no config-{ordinal}.toml in {quote(config)}: this StatefulSet "
                          "has more replicas than the export made nodes")
    files = {CONFIG_FILE: own,
             NODE_KEY_FILE: keys / f"{NODE_KEY_FILE}-{ordinal}",
             SIGNER_KEY_FILE: keys / f"{SIGNER_KEY_FILE}-{ordinal}",
             f"{WALLETS_DIR}/{SIGNER_WALLET}.json": keys / f"{SIGNER_WALLET}-{ordinal}.json"}
    try:
        entries = sorted(p.name for p in keys.iterdir())
    except OSError as exc:
        raise ConfigError(f"cannot list {quote(keys)}: {os_error_text(exc)}") from None
    for entry in entries:
        if entry.startswith("wallet-") and entry.endswith(".json"):
            files[f"{WALLETS_DIR}/{entry.removeprefix('wallet-')}"] = keys / entry
    files[GENESIS_FILE] = config / GENESIS_FILE
    return files


def ordinal_of(hostname: str, statefulset: str) -> int:
    """The pod's ordinal from its host name ``<statefulset>-<i>``."""
    prefix, _, number = hostname.rpartition("-")
    if prefix != statefulset or not number.isdigit() or number != str(int(number)):
        raise ConfigError(f"host name '{show(hostname)}' is not a pod of StatefulSet "
                          f"'{show(statefulset)}' ({statefulset}-0, {statefulset}-1, ...)")
    return int(number)


def _is_secret(rel: str) -> bool:
    return rel in _SECRET_NAMES or rel.startswith(f"{WALLETS_DIR}/")


def seed_home(files: dict[str, Path], home: Path) -> bool:
    """Copy ``files`` into ``home`` unless it already holds that chain; whether it copied.

    genesis.toml is written last, so its presence means an earlier seeding finished. A home
    that holds another genesis is refused: its volume belongs to an older export (keys and
    data of another chain), and starting on it would silently run that chain instead.
    """
    if GENESIS_FILE not in files:
        raise ConfigError("the seed has no genesis.toml")
    genesis = read_bytes(files[GENESIS_FILE], "seed genesis", max_bytes=MAX_GENESIS_FILE)
    existing = home / GENESIS_FILE
    if existing.exists():
        if read_bytes(existing, "genesis", max_bytes=MAX_GENESIS_FILE) == genesis:
            return False
        raise ConfigError(f"{quote(home)} holds another chain than this export (its "
                          "genesis.toml differs): remove the node's volume (docker compose "
                          "down -v, or delete the pod's PersistentVolumeClaim) or restore "
                          "the export that made it")
    _make_dir(home)
    for rel, src in files.items():
        if rel == GENESIS_FILE:
            continue
        limit = MAX_KEYSTORE_FILE if rel.startswith(f"{WALLETS_DIR}/") else (
            MAX_SECRET_FILE if rel in _SECRET_NAMES else MAX_CONFIG_FILE)
        data = read_bytes(src, f"seed file {rel}", max_bytes=limit)
        target = home / rel
        if target.parent != home:
            _make_dir(target.parent)
        write_file(target, data, secret=_is_secret(rel))
    write_file(existing, genesis)
    return True


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    for root, dirs, names in os.walk(path):
        for entry in [root, *(os.path.join(root, d) for d in dirs),
                      *(os.path.join(root, n) for n in names)]:
            os.chown(entry, uid, gid, follow_symlinks=False)


def _drop_to(user: str, home: Path) -> None:
    """As root: give ``home`` to ``user`` and become that user (no groups kept)."""
    import pwd

    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        raise ConfigError(f"no user '{show(user)}' in this container") from None
    try:
        _chown_tree(home, pw.pw_uid, pw.pw_gid)
        os.setgroups([])
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
    except OSError as exc:
        raise ConfigError(f"cannot switch to user '{show(user)}': "
                          f"{os_error_text(exc)}") from None
    os.environ["HOME"] = pw.pw_dir
    os.environ["USER"] = user


def _seed_main(argv: Sequence[str]) -> int:
    """``seed`` [--from DIR | --config DIR --keys DIR --statefulset NAME] --home DIR
    [--user NAME] [-- COMMAND...]: seed the home, then (as ``--user`` when root) exec
    COMMAND."""
    args = list(argv)
    command: list[str] = []
    if "--" in args:
        cut = args.index("--")
        args, command = args[:cut], args[cut + 1:]
    parser = argparse.ArgumentParser(prog="python -m daoli.devnet.export seed")
    parser.add_argument("--from", dest="source", type=Path)
    parser.add_argument("--config", type=Path)
    parser.add_argument("--keys", type=Path)
    parser.add_argument("--statefulset")
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--user")
    opts = parser.parse_args(args)
    try:
        if opts.source is not None:
            files = compose_seed_files(opts.source)
        elif opts.config and opts.keys and opts.statefulset:
            ordinal = ordinal_of(os.environ.get("HOSTNAME", ""), opts.statefulset)
            files = k8s_seed_files(opts.config, opts.keys, ordinal)
        else:
            raise ConfigError("give --from DIR, or --config, --keys and --statefulset")
        copied = seed_home(files, opts.home)
        print(f"daoli seed: {'seeded' if copied else 'kept'} {opts.home}", file=sys.stderr)
        if opts.user and os.geteuid() == 0:
            _drop_to(opts.user, opts.home)
    except DaoliError as exc:
        print(f"daoli seed: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    if command:
        try:
            os.execvp(command[0], command)
        except OSError as exc:
            print(f"daoli seed: cannot run {show(command[0])}: {os_error_text(exc)}",
                  file=sys.stderr)
            return 127
    return 0


# --- YAML ----------------------------------------------------------------------------------

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*\Z")
_YAML_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"})


def _quoted(text: str) -> str:
    """A YAML double-quoted scalar: printable ASCII as is, everything else escaped."""
    out = ['"']
    for ch in text:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= o < 0x7F:
            out.append(ch)
        elif o <= 0xFF:
            out.append(f"\\x{o:02x}")
        elif o <= 0xFFFF:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


def _key(key: object) -> str:
    if type(key) is not str:
        raise TypeError(f"YAML keys here are strings, not {type(key).__name__}")
    if _PLAIN_KEY.match(key) and key.lower() not in _YAML_WORDS:
        return key
    return _quoted(key)


def _scalar(value: object) -> str:
    if value is None:
        return "null"
    if type(value) is bool:
        return "true" if value else "false"
    if type(value) is int:
        return str(value)
    if type(value) is str:
        return _quoted(value)
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    raise TypeError(f"cannot write a {type(value).__name__} as YAML here")


def _literal(value: object) -> list[str] | None:
    """The lines of ``value`` as a literal block (``|``), if it is text that reads back
    exactly that way: one final newline, printable ASCII, no leading blank or space."""
    if type(value) is not str or "\n" not in value.rstrip("\n"):
        return None
    if not value.endswith("\n") or value.endswith("\n\n") or value[0] in " \n":
        return None
    if not all(0x20 <= ord(c) < 0x7F or c == "\n" for c in value):
        return None
    return value[:-1].split("\n")


def _emit(value: Any, indent: int, out: list[str]) -> None:
    pad = " " * indent
    if isinstance(value, dict):
        for k, v in value.items():
            head = f"{pad}{_key(k)}:"
            _emit_item(head, v, indent, out)
    elif isinstance(value, list):
        for v in value:
            _emit_item(f"{pad}-", v, indent, out, in_list=True)
    else:
        out.append(pad + _scalar(value))


def _emit_item(head: str, value: Any, indent: int, out: list[str], *,
               in_list: bool = False) -> None:
    lines = _literal(value)
    if lines is not None:
        out.append(f"{head} |")
        out.extend((" " * (indent + 2) + line) if line else "" for line in lines)
    elif isinstance(value, (dict, list)) and value:
        if in_list:
            sub: list[str] = []
            _emit(value, indent + 2, sub)
            sub[0] = head + " " + sub[0][indent + 2:]
            out.extend(sub)
        else:
            out.append(head)
            _emit(value, indent + 2, out)
    else:
        out.append(f"{head} {_scalar(value)}")


def dump_yaml(doc: dict[str, Any], comments: Sequence[str] = ()) -> str:
    """``doc`` (dicts, lists, str, int, bool, None) as a YAML document, comment lines
    first. Strings are double-quoted or literal blocks, so no value is read back as
    another type (YAML 1.1's ``on``, ``0755``, ``1:2``)."""
    out = [("# " + c).rstrip() for c in comments]
    _emit(doc, 0, out)
    return "\n".join(out) + "\n"


__all__ = ["API_PORT", "CONTAINER_HOME", "CONTAINER_UID", "CONTAINER_USER", "DEFAULT_IMAGE",
           "DEFAULT_NAMESPACE", "HEALTH_URL", "K8S_FILES", "P2P_PORT", "ExportReport",
           "ExportedNode", "compose_seed_files", "dump_yaml", "export_compose", "export_k8s",
           "k8s_seed_files", "ordinal_of", "seed_home"]


if __name__ == "__main__":
    if sys.argv[1:2] != ["seed"]:
        print("usage: python -m daoli.devnet.export seed ... (the containers' seed step)",
              file=sys.stderr)
        raise SystemExit(2)
    with contextlib.suppress(KeyboardInterrupt):
        raise SystemExit(_seed_main(sys.argv[2:]))
    raise SystemExit(130)
