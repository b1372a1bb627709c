"""``daoli devnet export``: the Compose file against the Compose Specification's JSON schema,
every Kubernetes manifest against Kubernetes 1.37's schemas (offline), the meaning of both
(peers, peer ids, one genesis naming exactly the manifest's trustees, 0600 secrets,
loopback-only ports, /metrics probes), the containers' seed step, the Dockerfile, and the
exported homes running a real chain whose peers dial each other by DNS name."""

from __future__ import annotations

import contextlib
import importlib.resources
import json
import os
import re
import shlex
import signal
import socket
import stat
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import compose_spec
import jsonschema
import kubernetes_validate
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from daoli.core.peerid import peer_id_of_secret
from daoli.devnet import export as ex
from daoli.devnet.manifest import Manifest, load_manifest, parse_manifest
from daoli.errors import ConfigError
from daoli.node.config import load_genesis_file, parse_genesis_toml
from daoli.node.home import Home
from daoli.wallet.keystore import WalletStore

ROOT = Path(__file__).resolve().parents[2]
K8S_VERSION = "1.37.0"
"""The newest Kubernetes whose schemas kubernetes-validate ships (offline)."""


def follower_manifest() -> Manifest:
    return parse_manifest({
        "name": "mixed", "chain_id": "devnet-mixed",
        "nodes": [{"name": "alpha", "miners": 3}, {"name": "beta", "sponsor": False},
                  {"name": "gamma", "miners": 0},
                  {"name": "watcher", "trustee": False, "miners": 0}],
        "wallets": [{"name": "alice", "balance": "5DLC"}]}, "test")


MANIFESTS = {
    "local-4": lambda: load_manifest(ROOT / "devnet" / "local-4.toml"),
    "wan-7": lambda: load_manifest(ROOT / "devnet" / "wan-7.toml"),
    "follower": follower_manifest,
}


def compose_schema() -> dict[str, Any]:
    vendor = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    return dict(json.loads(vendor.joinpath("compose-spec.json").read_text()))


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def key_of(path: Path) -> bytes:
    return bytes.fromhex(path.read_text().split()[0])


def check_genesis(texts: list[str], m: Manifest, signer_keys: dict[str, bytes],
                  host: dict[str, str]) -> None:
    """One genesis everywhere, naming exactly the manifest's trustees at their DNS names."""
    assert len(set(texts)) == 1
    g = parse_genesis_toml(texts[0].encode(), "genesis")
    assert g.chain_id == m.chain_id and g.params == m.params
    from daoli.core.crypto import pubkey_from_secret

    want = [(pubkey_from_secret(signer_keys[n.name]), f"/dns/{host[n.name]}/tcp/26656")
            for n in m.nodes if n.trustee]
    assert [(t.pubkey, t.multiaddr) for t in g.trustees] == want
    assert len(g.allocations) == len(m.wallets) + 1  # and the faucet


# --- Compose ----------------------------------------------------------------------------------


@pytest.mark.parametrize("which", sorted(MANIFESTS))
def test_compose_export_is_valid_and_means_the_manifest(tmp_path: Path, which: str) -> None:
    m = MANIFESTS[which]()
    path = tmp_path / "deploy" / "docker-compose.yml"
    report = ex.export_compose(m, path, image="registry.example/daoli:0.1")
    text = path.read_text()
    doc = yaml.safe_load(text)
    jsonschema.Draft202012Validator(compose_schema()).validate(doc)
    compose_spec.PyCompose.from_yaml(text).validate()  # a second, stricter reader

    names = [n.name for n in m.nodes]
    assert list(doc["services"]) == names and list(doc["volumes"]) == [f"{n}-home"
                                                                        for n in names]
    homes = path.parent / "homes"
    node_keys = {n: key_of(homes / n / "node_key") for n in names}
    signer_keys = {n: key_of(homes / n / "signer_key") for n in names}
    published = set()
    for i, spec in enumerate(m.nodes):
        svc = doc["services"][spec.name]
        assert svc["image"] == "registry.example/daoli:0.1"
        assert svc["command"] == list(ex.NODE_COMMAND)
        assert svc["entrypoint"][:4] == ["python", "-m", "daoli.devnet.export", "seed"]
        (port,) = svc["ports"]
        host_ip, host_port, container_port = port.split(":")
        assert host_ip == "127.0.0.1" and container_port == "26657"
        published.add(int(host_port))
        assert "/metrics" in " ".join(svc["healthcheck"]["test"])
        assert {v["target"] for v in svc["volumes"]} == {"/seed", ex.CONTAINER_HOME}
        seed = next(v for v in svc["volumes"] if v["target"] == "/seed")
        assert seed["read_only"] and (path.parent / seed["source"]).resolve() == \
            (homes / spec.name).resolve()
        cfg = tomllib.loads((homes / spec.name / "config.toml").read_text())
        others = [n for n in names if n != spec.name]
        assert cfg["bootstrap_peers"] == [
            f"/dns/{o}/tcp/26656/p2p/{peer_id_of_secret(node_keys[o])}" for o in others]
        assert (cfg["trustee"], cfg["mine"], cfg["sponsor"]) == (spec.trustee, spec.miners,
                                                                 spec.sponsor)
        assert cfg["p2p_listen"] == "/ip4/0.0.0.0/tcp/26656"
        assert report.nodes[i].peer_id == peer_id_of_secret(node_keys[spec.name])
        assert report.nodes[i].api == f"http://127.0.0.1:{host_port}"
    assert len(published) == len(names)
    check_genesis([(homes / n / "genesis.toml").read_text() for n in names], m, signer_keys,
                  {n: n for n in names})
    assert report.genesis_id == load_genesis_file(homes / names[0] / "genesis.toml").id.hex()

    # secrets: 0600 files in 0700 directories, and the report lists every one of them
    secrets_on_disk = {p for n in names for p in (homes / n).rglob("*")
                       if p.is_file() and p.name not in ("config.toml", "genesis.toml")}
    secrets_on_disk.add(path.parent / "wallets.password")
    assert secrets_on_disk == set(report.secret_files)
    assert all(mode(p) == 0o600 for p in secrets_on_disk)
    assert all(mode(homes / n) == 0o700 and mode(homes / n / "wallets") == 0o700
               for n in names)
    assert set(report.secret_files) <= set(report.files)

    # the wallets unlock with the password and are the genesis allocations
    password = (path.parent / "wallets.password").read_text().strip()
    store = WalletStore(homes / names[-1] / "wallets")
    assert store.names() == sorted([*(w.name for w in m.wallets), "faucet", "signer"])
    g = load_genesis_file(homes / names[0] / "genesis.toml")
    allocated = {a.address for a in g.allocations}
    for w in m.wallets:
        store.unlock(w.name, password)
        from daoli.core.address import decode_address

        assert decode_address(str(store.info(w.name).address)) in allocated
    assert store.unlock("signer", password) == signer_keys[names[-1]]


def test_compose_refuses_to_overwrite_unless_forced(tmp_path: Path) -> None:
    m = MANIFESTS["follower"]()
    path = tmp_path / "docker-compose.yml"
    first = ex.export_compose(m, path)
    with pytest.raises(ConfigError) as info:
        ex.export_compose(m, path)
    assert "already exists" in str(info.value) and "\n" not in str(info.value)
    second = ex.export_compose(m, path, force=True)
    assert second.genesis_id != first.genesis_id  # new keys: a new chain
    assert {p.name for p in (tmp_path / "homes").iterdir()} == {".daoli-export",
                                                                *(n.name for n in m.nodes)}
    # a homes/ that no export made is never deleted, even with force
    other = tmp_path / "other"
    (other / "homes").mkdir(parents=True)
    (other / "homes" / "precious").write_text("x")
    with pytest.raises(ConfigError, match="not made by"):
        ex.export_compose(m, other / "docker-compose.yml", force=True)
    assert (other / "homes" / "precious").read_text() == "x"
    with pytest.raises(ConfigError, match="is a directory"):
        ex.export_compose(m, tmp_path)


def test_bad_inputs_are_one_line_errors(tmp_path: Path) -> None:
    m = MANIFESTS["follower"]()
    trailing = parse_manifest({"name": "net", "nodes": [{"name": "a-"}]}, "t")
    cases = [
        lambda: ex.export_compose(trailing, tmp_path / "a" / "c.yml"),
        lambda: ex.export_compose(m, tmp_path / "b" / "c.yml", image="bad image\n"),
        lambda: ex.export_k8s(m, tmp_path / "k", namespace="Not_OK"),
        lambda: ex.export_k8s(parse_manifest({"name": "net-", "nodes": 1}, "t"),
                              tmp_path / "k2"),
        lambda: ex.export_k8s(parse_manifest({"name": "n", "nodes": 1,
                                              "wallets": [{"name": "signer"}]}, "t"),
                              tmp_path / "k3"),
    ]
    for case in cases:
        with pytest.raises(ConfigError) as info:
            case()
        assert "\n" not in str(info.value) and "Traceback" not in str(info.value)
    assert not (tmp_path / "a").exists()  # nothing written before the manifest was checked


# --- Kubernetes -------------------------------------------------------------------------------


def load_k8s(directory: Path) -> dict[str, dict[str, Any]]:
    docs = {}
    for name in ex.K8S_FILES:
        doc = yaml.safe_load((directory / name).read_text())
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        docs[doc["kind"]] = doc
    return docs


def mount_like_kubelet(data: dict[str, str], directory: Path) -> Path:
    """A ConfigMap or Secret volume as kubelet lays it out: keys are symlinks into ..data."""
    real = directory / "..2026_01_01_00_00_00.000000000"
    real.mkdir(parents=True)
    for k, v in data.items():
        (real / k).write_text(v)
    (directory / "..data").symlink_to(real.name)
    for k in data:
        (directory / k).symlink_to(f"..data/{k}")
    return directory


@pytest.mark.parametrize("which", sorted(MANIFESTS))
def test_k8s_export_is_valid_and_means_the_manifest(tmp_path: Path, which: str) -> None:
    m = MANIFESTS[which]()
    d = tmp_path / "k8s"
    report = ex.export_k8s(m, d, namespace="chain-test")
    docs = load_k8s(d)
    sts, svc = docs["StatefulSet"], docs["Service"]
    cm, secret = docs["ConfigMap"]["data"], docs["Secret"]["stringData"]
    n = len(m.nodes)
    assert sts["spec"]["replicas"] == n and sts["spec"]["serviceName"] == svc["metadata"]["name"]
    assert svc["spec"]["clusterIP"] == "None" and svc["spec"]["publishNotReadyAddresses"]
    assert svc["spec"]["selector"] == sts["spec"]["selector"]["matchLabels"]
    assert docs["Namespace"]["metadata"]["name"] == "chain-test"
    assert all(doc["metadata"].get("namespace", "chain-test") == "chain-test"
               for doc in docs.values())
    pod = sts["spec"]["template"]["spec"]
    (node,) = pod["containers"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert node[probe]["httpGet"] == {"path": "/metrics", "port": "api"}
    assert node["resources"]["requests"] and node["resources"]["limits"]
    assert node["command"] == list(ex.NODE_COMMAND)
    assert pod["securityContext"]["runAsUser"] == ex.CONTAINER_UID
    assert "keys" not in {v["name"] for v in node["volumeMounts"]}  # only the init step
    assert pod["initContainers"][0]["command"][:4] == ["python", "-m", "daoli.devnet.export",
                                                       "seed"]
    assert sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"

    name = m.name
    host = {spec.name: f"{name}-{i}.{name}.chain-test.svc.cluster.local"
            for i, spec in enumerate(m.nodes)}
    node_keys = {spec.name: bytes.fromhex(secret[f"node_key-{i}"].strip())
                 for i, spec in enumerate(m.nodes)}
    signer_keys = {spec.name: bytes.fromhex(secret[f"signer_key-{i}"].strip())
                   for i, spec in enumerate(m.nodes)}
    assert set(cm) == {"genesis.toml", *(f"config-{i}.toml" for i in range(n))}
    for i, spec in enumerate(m.nodes):
        cfg = tomllib.loads(cm[f"config-{i}.toml"])
        assert cfg["bootstrap_peers"] == [
            f"/dns/{host[o.name]}/tcp/26656/p2p/{peer_id_of_secret(node_keys[o.name])}"
            for o in m.nodes if o is not spec]
        assert (cfg["trustee"], cfg["mine"], cfg["sponsor"]) == (spec.trustee, spec.miners,
                                                                 spec.sponsor)
        assert report.nodes[i].workload == f"{name}-{i}" and report.nodes[i].host == host[
            spec.name]
    check_genesis([cm["genesis.toml"]], m, signer_keys, host)
    assert {p.name for p in report.secret_files} == {"20-secret.yaml", "wallets.password"}
    assert all(mode(p) == 0o600 for p in report.secret_files)
    assert mode(d / "10-configmap.yaml") & 0o077 != 0o077  # not secret, merely written

    # every pod's init step, on mounts laid out as kubelet does, makes that node's home
    config = mount_like_kubelet(cm, tmp_path / "mnt" / "config")
    keys = mount_like_kubelet(secret, tmp_path / "mnt" / "keys")
    genesis_ids = set()
    for i, spec in enumerate(m.nodes):
        home = tmp_path / "pods" / f"{name}-{i}" / "node"
        assert ex.seed_home(ex.k8s_seed_files(config, keys, i), home)
        h = Home(home)
        genesis_ids.add(h.load_genesis().id.hex())
        assert h.node_secret() == node_keys[spec.name]
        assert h.signer_secret() == signer_keys[spec.name]
        assert h.load_config().trustee == spec.trustee
        assert mode(home / "node_key") == 0o600 and mode(home / "wallets" / "alice.json") \
            == 0o600
        assert WalletStore(home / "wallets").names() == sorted(
            [*(w.name for w in m.wallets), "faucet", "signer"])
    assert genesis_ids == {report.genesis_id}
    with pytest.raises(ConfigError, match="more replicas"):
        ex.k8s_seed_files(config, keys, n)


def test_k8s_refuses_a_non_empty_directory_unless_forced(tmp_path: Path) -> None:
    m = MANIFESTS["local-4"]()
    d = tmp_path / "k"
    d.mkdir()
    (d / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError) as info:
        ex.export_k8s(m, d)
    assert "not empty" in str(info.value) and "\n" not in str(info.value)
    report = ex.export_k8s(m, d, force=True)
    assert (d / "notes.txt").read_text() == "mine" and len(report.nodes) == 4
    again = ex.export_k8s(m, d, force=True)
    assert again.genesis_id != report.genesis_id
    load_k8s(d)


def test_ordinals_come_from_the_pod_host_name() -> None:
    assert ex.ordinal_of("local-4-0", "local-4") == 0
    assert ex.ordinal_of("local-4-12", "local-4") == 12
    for bad in ("local-4", "other-1", "local-4-01", "local-4-x", ""):
        with pytest.raises(ConfigError):
            ex.ordinal_of(bad, "local-4")


# --- the seed step ------------------------------------------------------------------------------


def test_seed_copies_once_keeps_the_volume_and_refuses_another_chain(tmp_path: Path) -> None:
    m = MANIFESTS["follower"]()
    ex.export_compose(m, tmp_path / "a" / "docker-compose.yml")
    seed = tmp_path / "a" / "homes" / "alpha"
    volume = tmp_path / "volume"
    assert ex.seed_home(ex.compose_seed_files(seed), volume)
    assert sorted(p.name for p in volume.iterdir()) == ["config.toml", "genesis.toml",
                                                       "node_key", "signer_key", "wallets"]
    (volume / "data").mkdir()
    (volume / "data" / "chain").write_text("blocks")
    assert not ex.seed_home(ex.compose_seed_files(seed), volume)  # a restart: kept
    assert (volume / "data" / "chain").read_text() == "blocks"

    ex.export_compose(m, tmp_path / "b" / "docker-compose.yml")
    with pytest.raises(ConfigError, match="another chain") as info:
        ex.seed_home(ex.compose_seed_files(tmp_path / "b" / "homes" / "alpha"), volume)
    assert "\n" not in str(info.value)


def seed_cmd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "daoli.devnet.export", "seed", *args],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_seed_entry_point_seeds_then_execs_the_command(tmp_path: Path) -> None:
    ex.export_compose(MANIFESTS["follower"](), tmp_path / "docker-compose.yml")
    home = tmp_path / "vol" / "node"
    r = seed_cmd("--from", str(tmp_path / "homes" / "beta"), "--home", str(home), "--",
                 sys.executable, "-c", "import os; print('ran in', os.getcwd())")
    assert r.returncode == 0, r.stderr
    assert "ran in" in r.stdout and "seeded" in r.stderr
    assert Home(home).load_config().sponsor is False

    r = seed_cmd("--from", str(tmp_path / "nothing"), "--home", str(tmp_path / "x"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert r.stderr.startswith("daoli seed: ") and "Traceback" not in r.stderr
    r = seed_cmd("--config", str(tmp_path), "--keys", str(tmp_path), "--statefulset", "net",
                 "--home", str(tmp_path / "y"))
    assert r.returncode == 2 and "not a pod of StatefulSet" in r.stderr


# --- YAML ----------------------------------------------------------------------------------------

_scalars = st.one_of(st.text(max_size=40), st.integers(-(2**63), 2**64), st.booleans(),
                     st.none(), st.sampled_from(["on", "no", "0755", "1:2", "~", "- x",
                                                 "a: b", "#c", "line\n", "a\nb\n", "x\n\n"]))
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=12), _values, max_size=6))
def test_yaml_reads_back_exactly(doc: dict[str, Any]) -> None:
    assert yaml.safe_load(ex.dump_yaml(doc, ["a comment"])) == (doc or None)


# --- the Dockerfile -----------------------------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) of the repository's Dockerfile, continuations joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), " ".join(rest.split())))
    return out


def test_dockerfile_builds_a_non_root_daoli_image() -> None:
    ins = dockerfile()
    stages = [a for i, a in ins if i == "FROM"]
    assert stages == ["python:3.11-slim AS builder", "python:3.11-slim"]
    last = max(k for k, (i, _) in enumerate(ins) if i == "FROM")
    builder, final = ins[:last], ins[last:]
    assert any(i == "RUN" and "build-essential" in a and "libgmp-dev" in a for i, a in builder)
    assert ("RUN", "pip install .") in builder
    assert not any("build-essential" in a for _, a in final)
    assert ("COPY", "--from=builder /opt/venv /opt/venv") in final
    user = [a for i, a in final if i == "USER"]
    assert user == [f"{ex.CONTAINER_UID}:{ex.CONTAINER_UID}"]
    assert any(i == "RUN" and f"--uid {ex.CONTAINER_UID}" in a and ex.CONTAINER_HOME in a
               and ex.CONTAINER_USER in a for i, a in final)
    assert ("EXPOSE", "26656 26657") in final
    assert ("ENTRYPOINT", '["daoli"]') in final
    (health,) = [a for i, a in final if i == "HEALTHCHECK"]
    assert ex.HEALTH_URL in health and "python" in health
    for i, a in ins:  # everything copied from the context exists
        if i == "COPY" and not a.startswith("--from"):
            for src in a.split()[:-1]:
                assert (ROOT / src).exists(), src


def test_dockerfile_passes_hadolint() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    r = subprocess.run([str(hadolint), "--no-color", str(ROOT / "Dockerfile")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def ignored(path: str, rules: list[str]) -> bool:
    """Whether .dockerignore ``rules`` leave ``path`` out (last match wins, ! re-includes,
    a directory's rule covers what is under it)."""
    import fnmatch

    result = False
    parts = path.split("/")
    for rule in rules:
        negate = rule.startswith("!")
        pattern = rule.lstrip("!").rstrip("/")
        for k in range(1, len(parts) + 1):
            prefix = "/".join(parts[:k])
            glob = pattern.replace("**/", "")
            if fnmatch.fnmatchcase(prefix, pattern) or (
                    pattern.startswith("**/") and fnmatch.fnmatchcase(parts[k - 1], glob)):
                result = not negate
                break
    return result


def test_dockerignore_keeps_keys_and_caches_out_of_the_build_context() -> None:
    rules = [r.strip() for r in (ROOT / ".dockerignore").read_text().splitlines()
             if r.strip() and not r.startswith("#")]
    for path in (".venv/bin/python", ".git/config", ".devnet/n0/node_key", "tests/x.py",
                 "deploy/homes/n0/signer_key", "k8s/20-secret.yaml", "wallets.password",
                 "daoli/__pycache__/app.cpython-311.pyc", ".pytest_cache/v"):
        assert ignored(path, rules), path
    for path in ("pyproject.toml", "README.md", "daoli/cli/app.py",
                 "daoli/node/explorer/index.html"):
        assert not ignored(path, rules), path


# --- the exported homes run a chain -----------------------------------------------------------


class TinyDns:
    """A DNS server on 127.0.0.1:53 answering A queries for ``names``, as Docker's embedded
    DNS answers service names (py-libp2p resolves /dns/ by DNS queries, not /etc/hosts)."""

    def __init__(self, names: dict[str, str]) -> None:
        import threading

        self.names = names
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 53))
        self.sock.settimeout(0.2)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.serve)
        self.queries = 0

    def serve(self) -> None:
        import dns.message
        import dns.rcode
        import dns.rdatatype
        import dns.rrset

        while not self.done.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(data)
            reply = dns.message.make_response(query)
            for q in query.question:
                name = q.name.to_text().rstrip(".")
                if name not in self.names:
                    reply.set_rcode(dns.rcode.NXDOMAIN)
                elif q.rdtype == dns.rdatatype.A:
                    self.queries += 1
                    reply.answer.append(dns.rrset.from_text(q.name, 5, "IN", "A",
                                                            self.names[name]))
            self.sock.sendto(reply.to_wire(), peer)

    def __enter__(self) -> TinyDns:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join(timeout=5)
        self.sock.close()


def can_fake_dns() -> str | None:
    """Why the DNS test cannot run here, or None: it needs root (port 53, a private
    /etc/resolv.conf through a mount namespace) and unshare."""
    if os.geteuid() != 0 or not Path("/usr/bin/unshare").exists():
        return "needs root and unshare"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", 53))
        except OSError:
            return "127.0.0.1:53 is taken"
    r = subprocess.run(["unshare", "-m", "sh", "-c", "mount --bind /dev/null /etc/resolv.conf"],
                       capture_output=True, timeout=10)
    return None if r.returncode == 0 else "mount namespaces are not allowed here"


@pytest.mark.slow
def test_exported_homes_finalize_blocks_with_peers_dialled_by_dns_name(tmp_path: Path) -> None:
    """Docker is not here, so each container is played by a process: the seed step fills a
    "volume" from the exported home, and the node runs the container's command on its own
    loopback address (127.0.0.2, .3, ...) with the exported config.toml unchanged: peers
    dialled as /dns/<service>/tcp/26656/p2p/<id>, the service names answered by a DNS
    server the nodes reach through their own /etc/resolv.conf. The genesis is a minute old:
    a chain started after its genesis time simply begins at a later cycle."""
    why = can_fake_dns()
    if why:
        pytest.skip(why)
    m = parse_manifest({"name": "dnsnet", "nodes": [{"name": "a"}, {"name": "b"},
                                                    {"name": "c", "trustee": False}],
                        "wallets": [{"name": "alice"}]}, "test")
    ex.export_compose(m, tmp_path / "docker-compose.yml",
                      genesis_time_ms=int(time.time() - 60) * 1000)
    ip = {spec.name: f"127.0.0.{i + 2}" for i, spec in enumerate(m.nodes)}
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\n")
    procs: list[subprocess.Popen[bytes]] = []
    with TinyDns(ip) as dns_server:
        try:
            for spec in m.nodes:
                home = tmp_path / "volumes" / spec.name
                r = seed_cmd("--from", str(tmp_path / "homes" / spec.name), "--home",
                             str(home))
                assert r.returncode == 0, r.stderr
                cmd = [*ex.NODE_COMMAND]
                cmd[cmd.index("--home") + 1] = str(home)
                cmd[cmd.index("--listen") + 1] = f"/ip4/{ip[spec.name]}/tcp/26656"
                cmd[cmd.index("--api") + 1] = f"{ip[spec.name]}:26657"
                env = {k: v for k, v in os.environ.items() if not k.startswith("DAOLI_")}
                procs.append(subprocess.Popen(
                    ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/resolv.conf && '
                     'exec "$@"', str(resolv), sys.executable, "-m", "daoli.cli.app",
                     *cmd[1:]], env=env, stdout=subprocess.DEVNULL,
                    stderr=open(home / "stderr", "wb"),  # noqa: SIM115
                    start_new_session=True))
            from daoli.client import Client

            def heights() -> list[int]:
                out = []
                for spec in m.nodes:
                    home = tmp_path / "volumes" / spec.name
                    tok = (home / "api_token").read_text().split()[0]
                    s = Client(f"http://{ip[spec.name]}:26657", tok, timeout=2).status()
                    out.append(s.height if s.peers >= 1 else 0)
                return out

            deadline = time.monotonic() + 90
            last: Any = None
            while time.monotonic() < deadline:
                with contextlib.suppress(Exception):
                    last = heights()
                    if min(last) >= 2:
                        break
                for p in procs:
                    assert p.poll() is None, "a node exited: " + shlex.join(map(str, p.args))
                time.sleep(0.3)
            assert last is not None and min(last) >= 2, f"heights {last}"
            assert dns_server.queries >= len(m.nodes)  # the peers were found by name
        finally:
            for p in procs:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait(timeout=10)
