# -*- coding: utf-8 -*-
# Copyright: (c) 2026, inferno.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the kind scenario decides before it changes anything, and its MetalLB pool.

Ansible finds these filters because they sit beside the scenario's playbooks
(molecule/default/filter_plugins). They belong to the scenario, not to the collection:
no role or playbook of inferno.ops needs kind, so they are not in plugins/filter.

- ``kind_missing_tools``: which of the named programs are not on PATH;
- ``kind_version_problem``: whether ``kind version`` is the release the node image was built for;
- ``kind_release_pin_problem``: whether every pinned release is a published tag of its project;
- ``kind_capacity_problem``: whether Docker can hold every profile's requests on one worker;
- ``kind_metallb_pool``: a MetalLB address range at the top of the kind network's IPv4 subnet;
- ``kind_image_reference`` / ``kind_archive_image``: the Inferno image to load, from a name
  (INFERNO_IMAGE) or from an image archive (INFERNO_IMAGE_ARCHIVE);
- ``kind_chart_image_values``: the chart values that make the pods ask for that same image.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json
import math
import re
import shutil
import tarfile

from ansible.errors import AnsibleFilterError

VERSION = re.compile(r"\bv(\d+)\.(\d+)\.(\d+)")
CPU = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m?)$")
MEMORY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti)?$")
MEMORY_UNITS = {None: 1, "Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40}
GIB = 2 ** 30
# The pool: POOL_SIZE addresses ending POOL_GAP below the broadcast address. Docker hands
# container addresses out from the bottom of the subnet, so the top stays free; in Docker's
# default /16 for kind this is x.y.255.200-x.y.255.250.
POOL_SIZE = 51
POOL_GAP = 5
# The smallest subnet that leaves the pool clear of the gateway and the four nodes.
MIN_ADDRESSES = 128
LOCAL_SCENARIO = "run `molecule test -s local`, the scenario for machines without Docker, here"


def kind_missing_tools(names, path=None):
    """The names in ``names`` that are not programs on PATH (or on ``path``)."""
    return [name for name in names if shutil.which(name, path=path) is None]


def parse_version(text):
    match = VERSION.search(text or "")
    return tuple(int(part) for part in match.groups()) if match else None


def kind_version_problem(output, required, node_image=""):
    """Empty when ``kind version`` printed the release ``required`` (same minor, same or later patch), else why not.

    kind's release notes ask for the node image by the digest of the release it was built for,
    so another minor release of kind is refused rather than left to fail later.
    """
    wanted = parse_version(required)
    if wanted is None:
        raise AnsibleFilterError(f"kind_version_problem: {required!r} is not a version like v0.30.0")
    found = parse_version(output)
    if found is not None and found[:2] == wanted[:2] and found[2] >= wanted[2]:
        return ""
    if found:
        shown = f"kind v{found[0]}.{found[1]}.{found[2]} is installed"
    else:
        shown = f"`kind version` printed {(output or '').strip()!r}, not a version"
    image = f" {node_image}" if node_image else ""
    return (f"{shown}, but the scenario's node image{image} is the one built for kind {required} "
            f"(kind supports node images with the release they were built for): install kind {required} "
            f"(for example `go install sigs.k8s.io/kind@{required}`), or {LOCAL_SCENARIO}.")


def published_tag(result):
    """Whether one ``git ls-remote --tags --exit-code REPO refs/tags/TAG`` result lists that very tag."""
    wanted = "refs/tags/" + result["item"]["tag"]
    refs = [line.split("\t", 1)[-1] for line in (result.get("stdout") or "").splitlines()]
    return result.get("rc") == 0 and any(ref in (wanted, wanted + "^{}") for ref in refs)


def kind_release_pin_problem(results):
    """Empty when every ``git ls-remote`` of ``kind_release_pins`` found its tag, else one sentence per pin that did not.

    ``git ls-remote --exit-code`` exits 2 when the repository answered and has no such ref;
    any other failure means the repository could not be asked.
    """
    problems = []
    for result in results:
        if published_tag(result):
            continue
        pin = result["item"]
        if result.get("rc") in (0, 2):
            problems.append(
                "{project} has no release tag {tag} at {repo}: set {variable} in molecule/default/vars/kind.yml "
                "to one of its published releases".format(**pin))
        else:
            reason = ((result.get("stderr") or result.get("msg") or "").strip().splitlines() or ["no output"])[-1]
            problems.append(
                "could not ask {repo} for its tag {tag} (git ls-remote exited {rc}: {reason}): the kind scenario "
                "needs network access to GitHub".format(rc=result.get("rc"), reason=reason, **pin))
    return "; ".join(problems) + ("." if problems else "")


def cpu_cores(quantity):
    match = CPU.match(str(quantity).strip())
    if not match:
        raise AnsibleFilterError(f"kind_capacity_problem: {quantity!r} is not a CPU quantity like 500m or 1")
    value = float(match.group(1))
    return value / 1000 if match.group(2) else value


def memory_bytes(quantity):
    match = MEMORY.match(str(quantity).strip())
    if not match:
        raise AnsibleFilterError(f"kind_capacity_problem: {quantity!r} is not a memory quantity like 512Mi or 2Gi")
    return float(match.group(1)) * MEMORY_UNITS[match.group(2)]


def kind_capacity_problem(docker_info, profiles, overhead):
    """Empty when Docker's CPUs and memory hold the requests of every profile on one node, else a sentence.

    csi-hostpath volumes are pinned to the node of the driver's single pod, so every pod of dev,
    staging and prod that mounts a claim lands on that one worker: its allocatable, which kind
    takes from the Docker engine's CPUs and memory, must hold all of their requests plus
    ``overhead`` (``{cpu, memory}``) for the cluster's own pods on it.
    """
    if not isinstance(docker_info, dict) or "NCPU" not in docker_info or "MemTotal" not in docker_info:
        raise AnsibleFilterError("kind_capacity_problem: `docker info` gave no NCPU and MemTotal")
    cpus = sum(cpu_cores(p["cpu_request"]) * int(p["replicas"]) for p in profiles)
    memory = sum(memory_bytes(p["memory_request"]) * int(p["replicas"]) for p in profiles)
    need_cpus = cpus + cpu_cores(overhead["cpu"])
    need_memory = memory + memory_bytes(overhead["memory"])
    have_cpus, have_memory = int(docker_info["NCPU"]), int(docker_info["MemTotal"])
    if have_cpus >= need_cpus and have_memory >= need_memory:
        return ""
    environments = [str(p["environment"]) for p in profiles]
    names = ", ".join(environments[:-1]) + " and " + environments[-1] if len(environments) > 1 else "".join(environments)
    return (f"Docker offers {have_cpus} CPUs and {have_memory / GIB:.1f} GiB, but the kind scenario puts every "
            f"Inferno pod on the one worker that holds the csi-hostpath volumes, where {names} request "
            f"{cpus:g} CPUs and {memory / GIB:g} GiB, plus about {cpu_cores(overhead['cpu']):g} CPU and "
            f"{memory_bytes(overhead['memory']) / GIB:g} GiB for the cluster's own pods: give Docker at least "
            f"{math.ceil(need_cpus)} CPUs and {math.ceil(need_memory / GIB * 10) / 10:.1f} GiB "
            f"(Docker Desktop: Settings, Resources), or {LOCAL_SCENARIO}.")


def ipv4_subnet(network):
    """The first IPv4 subnet of a `docker network inspect` result (a list of one network, or the network)."""
    if isinstance(network, str):
        network = json.loads(network)
    if isinstance(network, list):
        if len(network) != 1:
            raise AnsibleFilterError(f"kind_metallb_pool: expected one Docker network, got {len(network)}")
        network = network[0]
    configs = ((network.get("IPAM") or {}).get("Config") or []) if isinstance(network, dict) else []
    subnets = []
    for config in configs:
        try:
            subnets.append((ipaddress.ip_network(config.get("Subnet", ""), strict=False), config))
        except ValueError:
            continue
    for subnet, config in subnets:
        if subnet.version == 4:
            return subnet, config
    name = network.get("Name", "kind") if isinstance(network, dict) else "kind"
    shown = ", ".join(str(subnet) for subnet, _config in subnets) or "none"
    raise AnsibleFilterError(
        f"kind_metallb_pool: the Docker network {name} has no IPv4 subnet (subnets: {shown}), and the scenario takes "
        "MetalLB's pool from it: remove the network while no kind cluster uses it (`docker network rm kind`), so that "
        "kind creates it again with Docker's IPv4 and IPv6 subnets")


def kind_metallb_pool(network):
    """``first-last``: POOL_SIZE addresses just below the top of the kind network's IPv4 subnet."""
    subnet, config = ipv4_subnet(network)
    if subnet.num_addresses < MIN_ADDRESSES:
        raise AnsibleFilterError(
            f"kind_metallb_pool: the kind network's IPv4 subnet {subnet} has {subnet.num_addresses} addresses; the "
            f"scenario needs at least {MIN_ADDRESSES} (a /25) to keep a MetalLB pool clear of the nodes")
    last = subnet.broadcast_address - POOL_GAP
    first = last - (POOL_SIZE - 1)
    gateway = config.get("Gateway")
    if gateway:
        address = ipaddress.ip_address(gateway)
        if first <= address <= last:
            raise AnsibleFilterError(f"kind_metallb_pool: the gateway {address} of {subnet} lies in the pool {first}-{last}")
    ip_range = config.get("IPRange")
    if ip_range:
        allocated = ipaddress.ip_network(ip_range, strict=False)
        if allocated.version == 4 and allocated.network_address <= last and allocated.broadcast_address >= first:
            raise AnsibleFilterError(f"kind_metallb_pool: Docker allocates {allocated}, which overlaps the pool {first}-{last}")
    return f"{first}-{last}"


def kind_image_reference(reference, archive=""):
    """``{ref, repository, tag, archive}`` for an image name with a tag (``inferno:0.10.3``, ``host:5000/x/y:1``)."""
    ref = str(reference or "").strip()
    repository, sep, tag = ref.rpartition(":")
    if "@" in ref or not sep or not repository or not tag or "/" in tag:
        raise AnsibleFilterError(
            f"the Inferno image {ref!r} needs a name with a tag, like inferno:0.10.3 (kind loads images by name, "
            "and the chart asks for image.repository:image.tag)")
    return {"ref": ref, "repository": repository, "tag": tag, "archive": str(archive or "")}


def archive_names(archive):
    """The image names an OCI image layout or `docker save` archive carries, in order, without repeats."""
    names = []
    index = read_member(archive, "index.json")
    if index is not None:
        for manifest in index.get("manifests") or []:
            name = (manifest.get("annotations") or {}).get("io.containerd.image.name")
            if name and name not in names:
                names.append(name)
    if not names:
        for entry in read_member(archive, "manifest.json") or []:
            for name in entry.get("RepoTags") or []:
                if name not in names:
                    names.append(name)
    return names


def read_member(archive, name):
    """The JSON document ``name`` (or ``./name``) at the top of the archive, or None."""
    for candidate in (name, "./" + name):
        try:
            member = archive.extractfile(candidate)
        except KeyError:
            continue
        if member is not None:
            with member:
                return json.loads(member.read().decode("utf-8"))
    return None


def kind_archive_image(path):
    """``{ref, repository, tag, archive}`` for the one image an archive holds (INFERNO_IMAGE_ARCHIVE)."""
    try:
        with tarfile.open(path) as archive:
            names = archive_names(archive)
    except (OSError, tarfile.TarError, ValueError) as error:
        raise AnsibleFilterError(
            f"INFERNO_IMAGE_ARCHIVE={path} is not a readable image archive ({error}); give the path of an OCI "
            "image-layout or `docker save` archive") from error
    if len(names) != 1:
        raise AnsibleFilterError(
            f"INFERNO_IMAGE_ARCHIVE={path} names {len(names)} images ({', '.join(names) or 'none'}); the scenario loads "
            "one Inferno image, by the name the archive gives it")
    return kind_image_reference(names[0], archive=path)


def kind_chart_image_values(image):
    """The chart values under which the pods ask for exactly ``image['ref']``, already in the nodes."""
    return {"image": {"registry": "", "repository": image["repository"], "tag": image["tag"], "digest": "",
                      # Loaded into every node: never pull, so a missing image fails at once (ErrImageNeverPull).
                      "pullPolicy": "Never"}}


class FilterModule(object):
    """The kind scenario's filters."""

    def filters(self):
        return {
            "kind_missing_tools": kind_missing_tools,
            "kind_version_problem": kind_version_problem,
            "kind_release_pin_problem": kind_release_pin_problem,
            "kind_capacity_problem": kind_capacity_problem,
            "kind_metallb_pool": kind_metallb_pool,
            "kind_image_reference": kind_image_reference,
            "kind_archive_image": kind_archive_image,
            "kind_chart_image_values": kind_chart_image_values,
        }
