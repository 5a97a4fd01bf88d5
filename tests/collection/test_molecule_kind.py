"""The kind scenario (molecule/default), checked where there is no Docker and no kind.

This machine cannot run the scenario, so what can be read or computed without them is
checked here:

- the kind config create.yml feeds to `kind create cluster`, rendered from its vars: every
  node on the pinned node image, by digest, and kind's release asserted before the cluster
  is made;
- the pins agree with each other: the node image's Kubernetes minor release is the one of
  csi-driver-host-path's deployment, and external-snapshotter is the release whose CRDs
  the local scenario installs;
- the check create.yml runs first, that each pin is a published tag of its project
  (`git ls-remote`), run by the real ansible-playbook against local git repositories: a
  missing tag, a branch, a prefix of a tag, and an unreachable repository;
- the MetalLB pool computed from `docker network inspect kind` for /16, /20 and /24
  networks, a dual-stack one, and the refusal of an IPv6-only or tiny one;
- the capacity check against the profiles' requests;
- the image the scenario loads is the image the chart asks for: from an image archive (the
  local cluster's own OCI archive, or a `docker save` one) or from INFERNO_IMAGE, through the
  values file every profile takes, rendered by the real helm;
- files/image/Dockerfile: bases pinned by digest, the crate and version the chart runs,
  UID 1000, and the chart's command;
- the real `molecule test` with docker, kind and kubectl absent from PATH: one sentence that
  names them and points to `molecule test -s local`, after a destroy that tolerated them.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import json
import os
import re
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import jinja2
import pytest
import yaml
from ansible.errors import AnsibleFilterError

from tests.chart.rendering import render
from tools.local_cluster import build, images, inferno_binary

REPO = Path(__file__).resolve().parents[2]
SCENARIO = REPO / "molecule" / "default"
BIN = Path(sys.executable).parent
DIGEST_REF = re.compile(r"^[a-z0-9./-]+(:[\w.-]+)?@sha256:[0-9a-f]{64}$")


class ScenarioLoader(yaml.SafeLoader):
    """YAML as Ansible reads it, as far as the scenario uses it: `!unsafe` marks a literal string."""


ScenarioLoader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def load(path: Path):
    with path.open(encoding="utf-8") as stream:
        return yaml.load(stream, Loader=ScenarioLoader)  # a SafeLoader subclass


def filters():
    spec = importlib.util.spec_from_file_location("kind_scenario", SCENARIO / "filter_plugins" / "kind_scenario.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


KIND = filters()
CREATE = load(SCENARIO / "create.yml")[0]


def play_vars(play: dict, playbook_dir: Path = SCENARIO) -> dict:
    """The play's vars_files, then its vars, as Ansible layers them."""
    found = {}
    for name in play.get("vars_files", []):
        found.update(load(playbook_dir / name))
    found.update(play.get("vars", {}))
    return found


VARS = play_vars(CREATE)


def rendered(value, variables: dict):
    """``value`` with every string rendered as a Jinja template over ``variables`` (plain Jinja2: no Ansible filters)."""
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    if isinstance(value, str):
        return environment.from_string(value).render(variables) if "{{" in value else value
    if isinstance(value, list):
        return [rendered(item, variables) for item in value]
    if isinstance(value, dict):
        return {key: rendered(item, variables) for key, item in value.items()}
    return value


def task(play: dict, fragment: str) -> tuple[int, dict]:
    """The index and body of the one task whose name contains ``fragment``."""
    found = [(index, body) for index, body in enumerate(play["tasks"]) if fragment in body.get("name", "")]
    assert len(found) == 1, f"{len(found)} tasks named like {fragment!r} in create.yml"
    return found[0]


# --- The kind config and kind's release --------------------------------------------


def test_the_kind_config_puts_every_node_on_the_pinned_image_by_digest():
    config = rendered(VARS["kind_config"], VARS)
    image = VARS["kind_node_image"]
    assert DIGEST_REF.match(image), f"kind_node_image {image} is not pinned by an @sha256 digest"
    assert re.match(r"^kindest/node:v1\.34\.\d+@", image)
    assert config["kind"] == "Cluster" and config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert [node["role"] for node in config["nodes"]] == ["control-plane", "worker", "worker", "worker"]
    assert {node["image"] for node in config["nodes"]} == {image}
    assert sorted(node["labels"]["topology.kubernetes.io/zone"] for node in config["nodes"][1:]) == [
        "zone-a", "zone-b", "zone-c"]


def test_create_feeds_that_config_to_kind_after_checking_kinds_release():
    check_index, check = task(CREATE, "Check that kind is the release the node image was built for")
    assert "kind_version_problem(kind_version, kind_node_image)" in check["vars"]["__problem"]
    create_index, create = task(CREATE, "Create the kind cluster")
    argv = create["ansible.builtin.command"]["argv"]
    assert argv[:3] == ["kind", "create", "cluster"] and "--image" not in argv and argv[-2:] == ["--config", "-"]
    assert create["ansible.builtin.command"]["stdin"] == "{{ kind_config | to_nice_yaml }}"
    # Looked for with `kind get clusters`, not guarded by the kubeconfig `kind delete` keeps.
    assert "creates" not in create["ansible.builtin.command"]
    assert create["when"] == "kind_cluster_name not in __inferno_kind_clusters.stdout_lines"
    assert check_index < create_index


@pytest.mark.parametrize(("output", "ok"), [
    ("kind v0.30.0 go1.24.6 linux/amd64", True),
    ("kind v0.30.2 go1.25.1 darwin/arm64", True),
    ("kind v0.29.0 go1.24.2 linux/amd64", False),
    ("kind v0.31.0 go1.25.5 linux/amd64", False),
    ("", False),
])
def test_the_kind_version_check(output, ok):
    problem = KIND.kind_version_problem(output, VARS["kind_version"], VARS["kind_node_image"])
    assert (problem == "") == ok
    if not ok:
        assert f"install kind {VARS['kind_version']}" in problem and "molecule test -s local" in problem


def test_the_pins_agree_with_each_other():
    minor = re.match(r"^kindest/node:v(1\.\d+)\.", VARS["kind_node_image"]).group(1)
    assert VARS["csi_hostpath_deploy"] == f"kubernetes-{minor}"
    # The VolumeSnapshot CRDs of both scenarios come from the same external-snapshotter release.
    assert VARS["external_snapshotter_version"] == build.EXTERNAL_SNAPSHOTTER_CLIENT_VERSION
    assert VARS["kind_version"] == "v0.30.0"
    for name in ("external_snapshotter_version", "csi_hostpath_version", "metallb_version", "kind_version"):
        assert re.match(r"^v\d+\.\d+\.\d+$", VARS[name]), f"{name} is not a release tag: {VARS[name]}"


def test_every_pin_is_a_published_tag_of_its_project():
    pins = rendered(VARS["kind_release_pins"], VARS)
    assert {pin["variable"]: pin["tag"] for pin in pins} == {
        name: VARS[name] for name in ("external_snapshotter_version", "csi_hostpath_version", "metallb_version")}
    assert all(pin["repo"].startswith("https://github.com/") and pin["repo"].endswith(".git") for pin in pins)


def test_create_checks_the_pins_and_the_hostpath_deployment_before_it_makes_the_cluster():
    pins_index, pins = task(CREATE, "Check the pinned releases against their projects' published tags")
    assert pins["ansible.builtin.import_tasks"] == "tasks/check_release_pins.yml"
    fetch_index, fetch = task(CREATE, "Fetch external-snapshotter and csi-driver-host-path")
    assert fetch["ansible.builtin.git"]["version"] == "{{ item.tag }}"
    deploy_index, deploy = task(CREATE, "has a deploy.sh for the node image's Kubernetes")
    assert "csi_hostpath_deploy" in deploy["ansible.builtin.assert"]["fail_msg"]
    create_index, _ = task(CREATE, "Create the kind cluster")
    assert pins_index < fetch_index < deploy_index < create_index


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
                               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}).stdout


def project_repo(tmp_path: Path, name: str, tags: dict[str, bool]) -> str:
    """A git repository with one commit and ``tags`` (name: annotated?), and a branch named v9.9.9; its file:// URL."""
    repo = tmp_path / name
    repo.mkdir()
    git("init", "-q", "-b", "main", cwd=repo)
    (repo / "README").write_text(name)
    git("add", "README", cwd=repo)
    git("commit", "-q", "-m", "first", cwd=repo)
    git("branch", "v9.9.9", cwd=repo)
    for tag, annotated in tags.items():
        git("tag", *(["-a", "-m", tag] if annotated else []), tag, cwd=repo)
    return repo.as_uri()


def check_pins(tmp_path: Path, pins: list[dict]) -> subprocess.CompletedProcess:
    """tasks/check_release_pins.yml, run alone by the real ansible-playbook over ``pins``."""
    playbook = tmp_path / "check_pins.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "check the pins", "hosts": "localhost", "connection": "local", "gather_facts": False,
        "vars": {"kind_release_pins": pins},
        "tasks": [{"ansible.builtin.import_tasks": str(SCENARIO / "tasks" / "check_release_pins.yml")}]}]))
    env = {**os.environ, "ANSIBLE_FILTER_PLUGINS": str(SCENARIO / "filter_plugins"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_LOCALHOST_WARNING": "0", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0"}
    return subprocess.run([str(BIN / "ansible-playbook"), str(playbook)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_pin_check_asks_each_repository_for_its_tag_and_names_the_variable_to_change(tmp_path):
    snapshotter = project_repo(tmp_path, "external-snapshotter", {"v8.7.0": True})
    hostpath = project_repo(tmp_path, "csi-driver-host-path", {"v1.18.0": False, "v1.18.0-rc.1": True})
    metallb = project_repo(tmp_path, "metallb", {"v0.15.3": True, "v0.15.30": True})
    pins = [
        {"project": "external-snapshotter", "variable": "external_snapshotter_version", "tag": "v8.7.0",
         "repo": snapshotter},
        {"project": "csi-driver-host-path", "variable": "csi_hostpath_version", "tag": "v1.18.0", "repo": hostpath},
        {"project": "MetalLB", "variable": "metallb_version", "tag": "v0.15.3", "repo": metallb},
    ]
    published = check_pins(tmp_path, pins)
    assert published.returncode == 0, published.stdout + published.stderr
    assert "failed=0" in published.stdout

    # A release that was never tagged, a branch that is not a tag, and a prefix of a real tag:
    # one sentence each, in one run.
    wrong_tags = ("v0.15.4", "v9.9.9", "v0.15")
    result = check_pins(tmp_path, [*pins[:2], *({**pins[2], "tag": tag} for tag in wrong_tags)])
    flat = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, flat
    for tag in wrong_tags:
        assert (f"MetalLB has no release tag {tag} at {metallb}: set metallb_version in "
                "molecule/default/vars/kind.yml to one of its published releases") in flat, flat
    assert "external-snapshotter has no" not in flat and "csi-driver-host-path has no" not in flat

    unreachable = [{**pins[0], "repo": (tmp_path / "nowhere").as_uri()}, *pins[1:]]
    result = check_pins(tmp_path, unreachable)
    flat = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0
    assert re.search(r"could not ask \S+/nowhere for its tag v8\.7\.0 \(git ls-remote exited 128: .+\): the kind "
                     r"scenario needs network access to GitHub", flat), flat


# --- The MetalLB pool ---------------------------------------------------------------


def network(*subnets: str, gateway: str | None = None) -> list[dict]:
    """What `docker network inspect kind` prints, with these subnets."""
    configs = [{"Subnet": subnet} for subnet in subnets]
    if gateway:
        configs[0]["Gateway"] = gateway
    return [{"Name": "kind", "EnableIPv6": any(":" in s for s in subnets), "IPAM": {"Driver": "default", "Config": configs}}]


@pytest.mark.parametrize(("subnets", "pool"), [
    (["172.18.0.0/16"], "172.18.255.200-172.18.255.250"),
    (["172.18.0.0/20"], "172.18.15.200-172.18.15.250"),
    (["192.168.100.0/24"], "192.168.100.200-192.168.100.250"),
    # kind's default network: dual-stack, the IPv6 subnet first or last.
    (["fc00:f853:ccd:e793::/64", "172.19.0.0/16"], "172.19.255.200-172.19.255.250"),
    (["172.20.0.0/16", "fc00:f853:ccd:e793::/64"], "172.20.255.200-172.20.255.250"),
])
def test_the_metallb_pool_is_at_the_top_of_the_ipv4_subnet(subnets, pool):
    assert KIND.kind_metallb_pool(network(*subnets)) == pool
    # The same from the JSON text the playbook registers.
    assert KIND.kind_metallb_pool(json.dumps(network(*subnets))) == pool
    first, last = (ipaddress.ip_address(part) for part in pool.split("-"))
    subnet = ipaddress.ip_network(next(s for s in subnets if "." in s))
    assert first in subnet and last in subnet and int(last) - int(first) + 1 == KIND.POOL_SIZE
    # Clear of the gateway and the nodes, which Docker numbers from the bottom.
    assert int(first) - int(subnet.network_address) > 16


def test_an_ipv6_only_or_tiny_network_is_refused_with_the_reason():
    with pytest.raises(AnsibleFilterError, match="has no IPv4 subnet"):
        KIND.kind_metallb_pool(network("fc00:f853:ccd:e793::/64"))
    with pytest.raises(AnsibleFilterError, match="at least 128"):
        KIND.kind_metallb_pool(network("172.18.0.0/26"))
    with pytest.raises(AnsibleFilterError, match="gateway"):
        KIND.kind_metallb_pool(network("172.18.0.0/24", gateway="172.18.0.220"))


# --- Capacity -----------------------------------------------------------------------


def test_the_capacity_check_sums_every_profile_on_one_worker():
    profiles = VARS["inferno_molecule_profiles"]
    overhead = VARS["kind_node_overhead"]
    small = KIND.kind_capacity_problem({"NCPU": 4, "MemTotal": 8 * 2 ** 30}, profiles, overhead)
    assert "request 4.1 CPUs and 8.5 GiB" in small
    assert "at least 5 CPUs and 9.0 GiB" in small and "molecule test -s local" in small
    assert KIND.kind_capacity_problem({"NCPU": 5, "MemTotal": 9 * 2 ** 30}, profiles, overhead) == ""
    # Enough CPUs but too little memory is refused too.
    assert "9.0 GiB" in KIND.kind_capacity_problem({"NCPU": 8, "MemTotal": 8 * 2 ** 30}, profiles, overhead)


# --- The image: what is loaded is what the chart asks for ---------------------------


def local_cluster_archive(tmp_path: Path) -> Path:
    """An archive written by the local cluster's own image writer, named as its Inferno image is."""
    name = f"{images.INFERNO_IMAGE_REPOSITORY}:{inferno_binary.INFERNO_VERSION}"
    image = images.Image(name, (images.Entry("/usr/local/bin/inferno", data=b"#!/bin/sh\n", mode=0o755),),
                         entrypoint=("inferno",), user="1000:1000")
    path = tmp_path / "inferno.oci.tar"
    path.write_bytes(images.oci_archive(image))
    return path


def docker_save_archive(tmp_path: Path, tag: str) -> Path:
    """The shape of a `docker save` archive from a Docker without an OCI index: manifest.json with RepoTags."""
    manifest = tmp_path / "manifest.json"
    manifest.write_text(f'[{{"Config": "c.json", "RepoTags": ["{tag}"], "Layers": []}}]', encoding="utf-8")
    path = tmp_path / "saved.tar"
    with tarfile.open(path, "w") as archive:
        archive.add(manifest, arcname="manifest.json")
    return path


def chart_image(values: dict, tmp_path: Path) -> tuple[str, str]:
    """The image and pull policy of the dev Deployment, rendered by helm with these values."""
    values_file = tmp_path / "inferno-image-values.yaml"
    values_file.write_text(yaml.safe_dump(values), encoding="utf-8")
    container = render("dev", "-f", str(values_file)).container
    return container["image"], container["imagePullPolicy"]


def test_the_local_clusters_archive_loads_as_the_image_the_pods_ask_for(tmp_path):
    image = KIND.kind_archive_image(str(local_cluster_archive(tmp_path)))
    assert image["ref"] == "docker.io/library/inferno:0.10.3" and image["archive"].endswith("inferno.oci.tar")
    assert chart_image(KIND.kind_chart_image_values(image), tmp_path) == (image["ref"], "Never")


def test_the_image_command_prints_the_archive_to_give_as_inferno_image_archive(tmp_path):
    """`scripts/cluster image` finds the cached archive (here a stand-in, so nothing is built) and names it."""
    cache = tmp_path / "cache"
    name = f"inferno-{inferno_binary.INFERNO_VERSION}.r{images.RECIPE_VERSION}.oci.tar"
    cached = cache / "inferno-ops" / "cluster" / "images" / name
    cached.parent.mkdir(parents=True)
    local_cluster_archive(tmp_path).rename(cached)
    result = subprocess.run([sys.executable, "-m", "tools.local_cluster", "image"], cwd=REPO, capture_output=True,
                            text=True, timeout=60, check=False, env={**os.environ, "XDG_CACHE_HOME": str(cache)})
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed == {"image": KIND.kind_archive_image(str(cached))["ref"], "archive": str(cached)}
    # The README gives the same path to kind users.
    assert f"~/.cache/inferno-ops/cluster/images/{name}" in (REPO / "README.md").read_text(encoding="utf-8")


def test_a_docker_save_archive_and_inferno_image_give_the_chart_their_names(tmp_path):
    saved = KIND.kind_archive_image(str(docker_save_archive(tmp_path, "registry.example:5000/team/inferno:1.2")))
    assert chart_image(KIND.kind_chart_image_values(saved), tmp_path) == ("registry.example:5000/team/inferno:1.2", "Never")
    default = KIND.kind_image_reference(VARS["kind_default_inferno_image"])
    assert chart_image(KIND.kind_chart_image_values(default), tmp_path) == ("inferno:0.10.3", "Never")
    assert default["archive"] == ""
    for bad in ("inferno", "inferno@sha256:" + "0" * 64, "host:5000/inferno"):
        with pytest.raises(AnsibleFilterError, match="needs a name with a tag"):
            KIND.kind_image_reference(bad)


def test_an_unreadable_or_ambiguous_archive_is_refused(tmp_path):
    (tmp_path / "not-a-tar").write_text("x", encoding="utf-8")
    with pytest.raises(AnsibleFilterError, match="not a readable image archive"):
        KIND.kind_archive_image(str(tmp_path / "not-a-tar"))
    empty = tmp_path / "empty.tar"
    with tarfile.open(empty, "w"):
        pass
    with pytest.raises(AnsibleFilterError, match="names 0 images"):
        KIND.kind_archive_image(str(empty))


def test_the_default_image_is_the_one_the_local_cluster_and_the_dockerfile_make():
    default = KIND.kind_image_reference(VARS["kind_default_inferno_image"])
    assert f"docker.io/library/{default['ref']}" == f"{images.INFERNO_IMAGE_REPOSITORY}:{inferno_binary.INFERNO_VERSION}"
    local_values = yaml.safe_load((REPO / "inventories" / "values" / "local-cluster.yaml").read_text(encoding="utf-8"))
    assert default["tag"] == local_values["image"]["tag"] == dockerfile_arg("INFERNO_VERSION")


def test_the_loaded_image_flows_to_every_profile():
    """create.yml loads __inferno_kind_image and writes its values to the file every profile's deploy takes."""
    _index, choose = task(CREATE, "Choose the Inferno image")
    chosen = choose["ansible.builtin.set_fact"]["__inferno_kind_image"]
    assert "inferno_image_archive | kind_archive_image" in chosen and "inferno_image | kind_image_reference" in chosen
    _index, load_task = task(CREATE, "Load the Inferno image into the nodes")
    argv = load_task["ansible.builtin.command"]["argv"]
    assert "'image-archive', __inferno_kind_image.archive" in argv and "'docker-image', __inferno_kind_image.ref" in argv
    _index, values_task = task(CREATE, "Make every profile ask for the loaded image")
    copy = values_task["ansible.builtin.copy"]
    assert copy["content"] == "{{ __inferno_kind_image | kind_chart_image_values | to_nice_yaml }}"
    assert copy["dest"] == "{{ image_values_file }}"
    assert VARS["image_values_file"] == "{{ lookup('ansible.builtin.env', 'INFERNO_KIND_IMAGE_VALUES') }}"
    molecule = load(SCENARIO / "molecule.yml")
    assert molecule["provisioner"]["env"]["INFERNO_KIND_IMAGE_VALUES"].startswith("${MOLECULE_EPHEMERAL_DIRECTORY}/")
    host = molecule["provisioner"]["inventory"]["hosts"]["all"]["hosts"]["localhost"]
    assert host["inferno_molecule_values_files"] == ["{{ lookup('ansible.builtin.env', 'INFERNO_KIND_IMAGE_VALUES') }}"]
    deploy_profile = (REPO / "molecule" / "shared" / "tasks" / "deploy_profile.yml").read_text(encoding="utf-8")
    assert "(inferno_molecule_values_files | default([]))" in deploy_profile


# --- files/image/Dockerfile -----------------------------------------------------------

DOCKERFILE = REPO / "files" / "image" / "Dockerfile"


def dockerfile_lines() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    lines, current = [], ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if not current and (not raw.strip() or raw.lstrip().startswith("#")):
            continue
        current += raw.rstrip("\\").strip() + " " if raw.endswith("\\") else raw.strip()
        if not raw.endswith("\\"):
            lines.append(current.strip())
            current = ""
    return lines


def dockerfile_arg(name: str) -> str:
    values = {line.split("=", 1)[1] for line in dockerfile_lines() if line.startswith(f"ARG {name}=")}
    assert len(values) == 1, f"ARG {name} has defaults {values} in {DOCKERFILE}"
    return values.pop()


def test_the_dockerfile_pins_its_bases_and_builds_the_crate_the_chart_runs():
    lines = dockerfile_lines()
    bases = [line.split()[1] for line in lines if line.startswith("FROM ")]
    assert len(bases) == 2 and all(DIGEST_REF.match(base) for base in bases), bases
    assert dockerfile_arg("INFERNO_VERSION") == inferno_binary.INFERNO_VERSION
    install = next(line for line in lines if "cargo install" in line)
    assert (f'cargo install {inferno_binary.INFERNO_CRATE} --version "${{INFERNO_VERSION}}" --locked '
            f"--no-default-features --features {inferno_binary.FEATURES}") in install
    assert "--bin inferno" in install
    # The build's environment (profile, portable llama.cpp) is the local cluster's, named once in inferno_binary.
    text = " ".join(lines)
    assert all(f"{name}={value}" in text for name, value in inferno_binary.BUILD_ENV.items()), inferno_binary.BUILD_ENV


def test_the_dockerfile_runs_as_uid_1000_with_the_charts_command():
    lines = dockerfile_lines()
    users = [line for line in lines if line.startswith("USER ")]
    assert users == ["USER 1000:1000"]
    assert any("useradd --uid 1000 --gid 1000 --home-dir /home/inferno" in line for line in lines)
    assert "COPY --from=build /opt/inferno/bin/inferno /usr/local/bin/inferno" in lines
    container = render("dev").container
    assert f"ENTRYPOINT {json.dumps(container['command'])}" in lines
    assert f"CMD {json.dumps(container['args'])}" in lines


# --- The real `molecule test` without docker, kind or kubectl ------------------------------

ABSENT = ("docker", "kind", "kubectl")


def path_without(tmp_path: Path, absent: tuple[str, ...]) -> str:
    """.venv/bin, then a folder linking every other program on PATH except ``absent``."""
    shims = tmp_path / "bin"
    shims.mkdir()
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        if not folder or not os.path.isdir(folder):
            continue
        for entry in os.scandir(folder):
            target = shims / entry.name
            if entry.name in absent or target.exists() or not os.access(entry.path, os.X_OK) or entry.is_dir():
                continue
            target.symlink_to(entry.path)
    return f"{BIN}{os.pathsep}{shims}"


def test_molecule_test_without_docker_kind_and_kubectl_says_what_is_missing(tmp_path):
    path = path_without(tmp_path, ABSENT)
    assert all(KIND.kind_missing_tools([name], path=path) == [name] for name in ABSENT)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MOLECULE_", "INFERNO_"))}
    env.update(PATH=path, XDG_CACHE_HOME=str(tmp_path / "cache"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               NO_COLOR="1")
    started = time.monotonic()
    result = subprocess.run([str(BIN / "molecule"), "test"], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=180, check=False)
    seconds = time.monotonic() - started
    output = result.stdout + result.stderr
    flat = " ".join(output.split())  # however the callback wraps a long message
    assert result.returncode != 0, output
    # destroy ran first and tolerated the missing kind, then create stopped before changing anything.
    assert "No kind cluster to delete: this machine lacks kind and docker" in flat, output
    sentence = re.search(r"The kind scenario needs [^\"]*? on PATH, and this machine lacks ([^:]*): install them "
                         r"\(see the README's Molecule section\), or run `molecule test -s local`, the scenario for "
                         r"machines without Docker, here\.", flat)
    assert sentence, output
    assert set(ABSENT) <= {name.strip() for name in sentence.group(1).split(",")}
    assert "Traceback" not in output and "Read kind's version" not in output
    assert seconds < 120, f"molecule test took {seconds:.0f} s"


def test_dev_leaves_the_namespace_of_the_privileged_csi_driver_alone():
    """csi-driver-host-path's script deploys into default, where dev goes: only other namespaces get Pod Security labels."""
    host = load(SCENARIO / "molecule.yml")["provisioner"]["inventory"]["hosts"]["all"]["hosts"]["localhost"]
    manage = host["inferno_deploy_manage_namespace"]
    assert rendered(manage, {"inferno_deploy_namespace": "default"}) == "False"
    assert rendered(manage, {"inferno_deploy_namespace": "inferno-prod"}) == "True"
    assert {profile["environment"]: profile["namespace"] for profile in VARS["inferno_molecule_profiles"]}["dev"] == "default"
