"""The containment of network.py on a real kernel, inside network namespaces these tests make.

Each test builds a small machine of its own: a namespace `host` whose default route leaves
by `eth0` into a namespace `outside` (the world, as far as the test goes), and, where the
test needs one, a real pod: a namespace on the `inferno-br0` bridge. The containment runs
in `host` exactly as `up` runs it on the machine, and `outside` counts what arrives from
the cluster's ranges. No packet leaves the namespaces the test made. Needs root and
iproute2/iptables, as the real node does; the last tests, of pure logic, need neither.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import sys
import textwrap
import urllib.parse
import uuid
from pathlib import Path

import pytest
import yaml

from tools.local_cluster import build, network, node

REPO = Path(__file__).resolve().parents[3]
OUTSIDE_ADDRESS = "192.0.2.1"
POD_ADDRESSES = ("10.245.0.5", "10.245.0.6")

needs_root = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("iptables", path=network.SEARCH_PATH),
                                reason="network namespaces and iptables need root and the iptables package")


def sh(*command: str, check: bool = True) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    if check and result.returncode:
        raise AssertionError(f"{' '.join(command)}: {result.stderr}")
    return result.stdout


class Machine:
    """`host` (default route by eth0 to `outside`) and its pods, each a namespace of its own."""

    def __init__(self, tmp_path: Path):
        tag = uuid.uuid4().hex[:6]
        self.host, self.outside = f"ino-host-{tag}", f"ino-out-{tag}"
        self.pods: list[str] = []
        self.record = tmp_path / "run" / "containment.json"
        self.packet_log = tmp_path / "packets.jsonl"
        for name in (self.host, self.outside):
            sh("ip", "netns", "add", name)
            sh("ip", "-n", name, "link", "set", "lo", "up")
        sh("ip", "link", "add", "eth0", "netns", self.host, "type", "veth", "peer", "name", "eth0", "netns",
           self.outside)
        sh("ip", "-n", self.host, "address", "add", "192.0.2.2/24", "dev", "eth0")
        sh("ip", "-n", self.outside, "address", "add", f"{OUTSIDE_ADDRESS}/24", "dev", "eth0")
        for name in (self.host, self.outside):
            sh("ip", "-n", name, "link", "set", "eth0", "up")
        sh("ip", "-n", self.host, "route", "add", "default", "via", OUTSIDE_ADDRESS)
        sh("ip", "netns", "exec", self.host, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        # `outside` counts every packet that reaches it from the cluster's ranges or a pod.
        for cidr in [*[cidr for cidr, _what in network.CONTAINED_RANGES], "192.0.2.2/32"]:
            flag = "-s" if cidr == "192.0.2.2/32" else "-d"
            sh("ip", "netns", "exec", self.outside, "iptables", "-t", "raw", "-A", "PREROUTING", flag, cidr)

    def add_pod(self, address: str) -> str:
        """A pod: a namespace on the real node's bridge (made here as the CNI plugin makes it)."""
        name, veth = f"{self.host}-p{len(self.pods)}", f"veth{len(self.pods)}"
        sh("ip", "netns", "add", name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
        if not self.pods:
            sh("ip", "-n", self.host, "link", "add", network.BRIDGE, "type", "bridge")
            sh("ip", "-n", self.host, "address", "add", "10.245.0.1/24", "dev", network.BRIDGE)
            sh("ip", "-n", self.host, "link", "set", network.BRIDGE, "up")
        sh("ip", "-n", self.host, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", name)
        sh("ip", "-n", self.host, "link", "set", veth, "master", network.BRIDGE, "up")
        sh("ip", "-n", name, "address", "add", f"{address}/24", "dev", "eth0")
        sh("ip", "-n", name, "link", "set", "eth0", "up")
        sh("ip", "-n", name, "route", "add", "default", "via", "10.245.0.1")
        self.pods.append(name)
        return name

    def python(self, namespace: str, code: str) -> object:
        """Run `code` in a namespace with the repository importable; returns what it prints as JSON."""
        preamble = textwrap.dedent(f"""
            import json, socket, sys
            from pathlib import Path
            from tools.local_cluster import network
            containment = network.Containment(Path({str(self.record)!r}))

            def connect(address, port, source=None):
                with socket.socket() as probe:
                    probe.settimeout(3)
                    try:
                        probe.connect((address, port))
                        return "connected"
                    except OSError as error:
                        return type(error).__name__
        """)
        result = subprocess.run(["ip", "netns", "exec", namespace, sys.executable, "-c",
                                 preamble + textwrap.dedent(code)], capture_output=True, text=True, timeout=60,
                                cwd=REPO, check=False,
                                env={**os.environ, "PYTHONPATH": str(REPO),
                                     network.PACKET_LOG_ENV: str(self.packet_log)})
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def serve(self, namespace: str, port: int) -> subprocess.Popen:
        """A TCP listener in `namespace` that accepts (and closes) connections until stopped."""
        code = ("import socket\nserver = socket.create_server(('0.0.0.0', %d))\n"
                "while True:\n    server.accept()[0].close()\n" % port)
        return subprocess.Popen(["ip", "netns", "exec", namespace, sys.executable, "-c", code])

    def arrived_outside(self) -> int:
        """Packets from the cluster's ranges or to them that reached `outside`."""
        saved = sh("ip", "netns", "exec", self.outside, "iptables-save", "-c", "-t", "raw")
        return sum(int(line[1:line.index(":")]) for line in saved.splitlines() if line.startswith("[")
                   and "-A PREROUTING" in line)

    def remove(self) -> None:
        for name in (*self.pods, self.host, self.outside):
            sh("ip", "netns", "delete", name, check=False)


@pytest.fixture
def machine(tmp_path):
    made = Machine(tmp_path)
    yield made
    made.remove()


def rejected(machine: Machine, purpose: str) -> int:
    counters = machine.python(machine.host, "print(json.dumps(containment.counters()))")
    return counters["ipv4"][purpose]


@needs_root
def test_every_cluster_range_routes_to_the_host_only_interface_and_the_chain_comes_first(machine):
    found = machine.python(machine.host, """
        containment.hold(Path("/cluster/a"), lambda root: False)
        routes = {cidr: network.ip_json("route", "get", network.probe_address(cidr))[0]["dev"]
                  for cidr, _what in network.CONTAINED_RANGES}
        print(json.dumps({"routes": routes, "problems": containment.problems(),
                          "node": network.ip_json("route", "get", network.NODE_ADDRESS)[0]["dev"],
                          "first": {hook: network.chain_rules(command, hook)[0]
                                    for command in ("iptables", "ip6tables") for hook in network.HOOKS}}))
    """)
    assert found["problems"] == []
    assert set(found["routes"].values()) == {network.HOST_INTERFACE}
    assert found["node"] == "lo"  # the node's address is this host's own
    assert all(line.endswith(f"-j {network.CHAIN}") for line in found["first"].values())


@needs_root
def test_a_jump_put_before_the_chain_is_named_and_moved_back_in_one_step(machine):
    found = machine.python(machine.host, """
        import subprocess
        containment.hold(Path("/cluster/a"), lambda root: False)
        for command in (["-N", "KUBE-FORWARD"], ["-I", "FORWARD", "1", "-j", "KUBE-FORWARD"]):
            subprocess.run(["iptables", *command], check=True)
        before = containment.problems()
        containment.confirm()
        print(json.dumps({"before": before, "after": containment.problems(),
                          "forward": network.chain_rules("iptables", "FORWARD")}))
    """)
    assert found["before"] == [f"iptables FORWARD does not start with the jump to {network.CHAIN}: "
                               "-A FORWARD -j KUBE-FORWARD"]
    assert found["after"] == []
    assert [line.split()[-1] for line in found["forward"]] == [network.CHAIN, "KUBE-FORWARD"]


@needs_root
def test_a_service_address_translated_to_a_pod_answers_and_any_other_is_refused_on_the_host(machine):
    pod = machine.add_pod(POD_ADDRESSES[0])
    servers = [machine.serve(pod, 8080), machine.serve(machine.outside, 80)]
    try:
        found = machine.python(machine.host, f"""
            import subprocess, time
            containment.hold(Path("/cluster/a"), lambda root: False)
            # What kube-proxy writes for a Service with a real pod behind it, one with a kwok pod, and
            # one whose endpoint (a selector-less Service's) lies off the host, where a server answers.
            for address, target in (("10.96.0.10", "{POD_ADDRESSES[0]}:8080"), ("10.96.0.11", "10.244.1.1:80"),
                                    ("10.96.0.12", "{OUTSIDE_ADDRESS}:80")):
                subprocess.run(["iptables", "-t", "nat", "-A", "OUTPUT", "-d", address, "-p", "tcp", "--dport", "80",
                                "-j", "DNAT", "--to-destination", target], check=True)
            deadline = time.monotonic() + 10
            while connect("{POD_ADDRESSES[0]}", 8080) != "connected" and time.monotonic() < deadline:
                time.sleep(0.1)
            started = time.monotonic()
            outcomes = {{address: connect(address, 80) for address in
                        ("10.96.0.10", "10.96.0.11", "10.96.0.12", "10.96.0.99", "10.244.255.254",
                         "198.51.100.10")}}
            print(json.dumps({{"outcomes": outcomes, "seconds": time.monotonic() - started}}))
        """)
    finally:
        for server in servers:
            server.kill()
    # The trap of an `-o eth0` guard: a ClusterIP translated to a real pod must still connect.
    assert found["outcomes"] == {"10.96.0.10": "connected", "10.96.0.11": "ConnectionRefusedError",
                                 "10.96.0.12": "ConnectionRefusedError", "10.96.0.99": "ConnectionRefusedError",
                                 "10.244.255.254": "ConnectionRefusedError", "198.51.100.10": "ConnectionRefusedError"}
    assert found["seconds"] < 2  # refused at once, not a time-out
    assert rejected(machine, "a cluster address nothing answers (kwok pods and nodes, a Service without rules)") == 5
    assert machine.arrived_outside() == 0


@needs_root
def test_a_cluster_range_that_lost_its_route_is_named_and_rejected_before_it_leaves(machine):
    found = machine.python(machine.host, """
        import subprocess
        containment.hold(Path("/cluster/a"), lambda root: False)
        subprocess.run(["ip", "route", "delete", network.SERVICE_CIDR], check=True)
        print(json.dumps({"problems": containment.problems(), "outcome": connect("10.96.0.12", 80),
                          "device": network.ip_json("route", "get", "10.96.0.12")[0]["dev"]}))
    """)
    assert found["device"] == "eth0"
    assert found["problems"] == [f"Services ({network.SERVICE_CIDR}) are routed to eth0, not {network.HOST_INTERFACE}: "
                                 "`ip route get 10.96.255.254`; a route of this machine's may cover that range"]
    assert found["outcome"] == "ConnectionRefusedError"
    assert rejected(machine, f"{network.OFF_HOST}Services ({network.SERVICE_CIDR}) out of eth0") == 1
    assert machine.arrived_outside() == 0


@needs_root
def test_a_pod_reaches_pods_and_the_host_but_nothing_beyond(machine):
    first, second = machine.add_pod(POD_ADDRESSES[0]), machine.add_pod(POD_ADDRESSES[1])
    servers = [machine.serve(second, 8080), machine.serve(machine.outside, 80), machine.serve(machine.host, 81)]
    try:
        machine.python(machine.host, 'containment.hold(Path("/cluster/a"), lambda root: False); print("{}")')
        found = machine.python(first, f"""
            import time
            deadline = time.monotonic() + 10
            while connect("{POD_ADDRESSES[1]}", 8080) != "connected" and time.monotonic() < deadline:
                time.sleep(0.1)
            print(json.dumps({{"pod": connect("{POD_ADDRESSES[1]}", 8080), "host": connect(network.NODE_ADDRESS, 81),
                              "outside": connect("{OUTSIDE_ADDRESS}", 80), "kwok": connect("10.244.1.1", 80)}}))
        """)
    finally:
        for server in servers:
            server.kill()
    assert found == {"pod": "connected", "host": "connected", "outside": "ConnectionRefusedError",
                     "kwok": "ConnectionRefusedError"}
    assert rejected(machine, f"{network.OFF_HOST}a packet from a pod out of eth0") == 1
    assert rejected(machine, "a packet from a pod to neither a pod nor this host") == 1
    assert machine.arrived_outside() == 0


@needs_root
def test_the_last_cluster_to_go_removes_it_all_and_logs_its_counters(machine):
    found = machine.python(machine.host, """
        import subprocess
        running = {"/cluster/b"}
        containment.hold(Path("/cluster/a"), lambda root: root in running)
        connect("10.96.0.99", 80)  # one reject, counted before b joins
        containment.hold(Path("/cluster/b"), lambda root: root in running)
        first = containment.release(Path("/cluster/a"), lambda root: root in running)
        kept = containment.present() and containment.counters()["ipv4"]
        running.clear()
        last = containment.release(Path("/cluster/b"), lambda root: root in running)
        print(json.dumps({"first": first, "kept": bool(kept), "last": last, "present": containment.present(),
                          "rules": subprocess.run(["iptables-save"], capture_output=True, text=True).stdout,
                          "rules6": subprocess.run(["ip6tables-save"], capture_output=True, text=True).stdout,
                          "routes": subprocess.run(["ip", "route"], capture_output=True, text=True).stdout}))
    """)
    assert found["first"] == {"kept_for": ["/cluster/b"]} and found["kept"]
    assert found["last"]["cluster"] == "/cluster/b" and found["last"]["off_host_packets"] == 0
    # b joined a live containment: the reject counted while only a held it is still there.
    nothing_answers = "a cluster address nothing answers (kwok pods and nodes, a Service without rules)"
    assert found["last"]["rejected_packets"]["ipv4"][nothing_answers] == 1
    assert not found["present"]
    assert network.CHAIN not in found["rules"] + found["rules6"]
    assert network.HOST_INTERFACE not in found["routes"]
    assert not machine.record.exists() and not machine.record.parent.exists()
    (logged,) = [json.loads(line) for line in machine.packet_log.read_text().splitlines()]
    assert logged == found["last"]


@needs_root
def test_after_a_crashed_up_the_next_up_takes_over_and_a_down_removes_it(machine):
    """The process that held the containment died without `down`: a later `up` of another
    cluster drops it from the record, and that cluster's `down` removes everything."""
    machine.python(machine.host, 'containment.hold(Path("/cluster/crashed"), lambda root: False); print("{}")')
    found = machine.python(machine.host, """
        containment.hold(Path("/cluster/next"), lambda root: False)
        holders = sorted(json.loads(containment.record.read_text())["holders"])
        released = containment.release(Path("/cluster/next"), lambda root: False)
        print(json.dumps({"holders": holders, "released": released["cluster"], "present": containment.present()}))
    """)
    assert found == {"holders": ["/cluster/next"], "released": "/cluster/next", "present": False}
    assert not machine.record.exists()


@needs_root
def test_the_real_nodes_containerd_pulls_no_image_not_even_a_dns_query_leaves(machine, tmp_path):
    """containerd started as `up` starts it (RealNode.start_containerd), in `host`, with its
    sockets and state moved into tmp_path so that a running cluster's stay untouched; crictl
    asks it to pull. The pull fails on loopback, before any name is looked up."""
    crictl = build.planned_paths().crictl
    if not crictl.is_file() or not shutil.which("containerd", path=network.SEARCH_PATH):
        pytest.skip("needs containerd (make setup) and crictl (built by the cluster's first `up`)")
    found = machine.python(machine.host, f"""
        import subprocess, time
        from tools.local_cluster import node
        from tools.local_cluster.processes import stop
        real_node = node.RealNode(Path({str(tmp_path / "cluster")!r}), Path({str(tmp_path)!r}))
        layout = real_node.layout
        layout.containerd_state, layout.containerd_socket = Path({str(tmp_path / "state")!r}), Path({str(tmp_path / "c.sock")!r})
        layout.crictl_config = Path({str(tmp_path / "crictl.yaml")!r})
        containerd = real_node.start_containerd("localhost/none:1")
        try:
            deadline = time.monotonic() + 30
            while not real_node.containerd_ready() and time.monotonic() < deadline:
                time.sleep(0.2)
            pulled = subprocess.run([{str(crictl)!r}, "--runtime-endpoint", f"unix://{{layout.containerd_socket}}",
                                     "--image-endpoint", f"unix://{{layout.containerd_socket}}", "--timeout", "20s",
                                     "pull", "docker.io/library/busybox:1.36"], capture_output=True, text=True)
        finally:
            stop(containerd)
        print(json.dumps({{"code": pulled.returncode, "error": pulled.stderr}}))
    """)
    assert found["code"] != 0
    assert "proxyconnect tcp: dial tcp 127.0.0.1:1: connect: connection refused" in found["error"], found["error"]
    assert "lookup" not in found["error"]  # no name was resolved
    assert machine.arrived_outside() == 0


# --- Pure logic -------------------------------------------------------------------------------


def test_counters_are_read_back_by_purpose_for_rejecting_rules_only():
    saved = """*filter
:INFERNO-CONTAIN - [0:0]
[7:420] -A FORWARD -m comment --comment "inferno.ops local cluster: keep its packets on this host" -j INFERNO-CONTAIN
[5:300] -A INFERNO-CONTAIN -i inferno-br0 -o inferno-br0 -m comment --comment "pod to pod" -j RETURN
[2:120] -A INFERNO-CONTAIN -i inferno-br0 -o eth0 -m comment --comment "off host: a packet from a pod out of eth0" \
-j REJECT --reject-with icmp-port-unreachable
[0:0] -A INFERNO-CONTAIN -o inferno-host0 -m comment --comment "a cluster address nothing answers" -j REJECT
COMMIT
""".replace("\\\n", "")
    counters = network.parse_counters(saved)
    assert counters == {"off host: a packet from a pod out of eth0": 2, "a cluster address nothing answers": 0}
    assert network.off_host_packets({"ipv4": counters, "ipv6": {"off host: x": 1, "y": 5}}) == 3


def test_every_external_interface_gets_its_off_host_rules_with_a_comment_of_its_own():
    ipv4 = network.rules("ipv4", ("eth0", "wlan0"))
    purposes = [rule.purpose for rule in ipv4]
    assert len(purposes) == len(set(purposes))  # counters are read back by comment
    off_host = [rule for rule in ipv4 if rule.purpose.startswith(network.OFF_HOST)]
    assert {rule.verdict for rule in off_host} == {"REJECT"}
    assert len(off_host) == 2 * (1 + len(network.CONTAINED_RANGES))
    assert [rule.purpose for rule in network.rules("ipv6", ("eth0",))] == [
        "pod to pod", "off host: a packet from a pod out of eth0", "a packet from a pod to neither a pod nor this host"]
    # Pod to pod passes before any reject looks at a pod's packet.
    assert ipv4[0] == network.Rule(("-i", network.BRIDGE, "-o", network.BRIDGE), "RETURN", "pod to pod")


def test_restore_input_quotes_the_way_iptables_restore_reads_it():
    assert network.restore_line(["-A", "X", "--comment", "two words", "-j", "RETURN"]) == \
        '-A X --comment "two words" -j RETURN'
    with pytest.raises(ValueError, match="no quotes"):
        network.restore_line(["--comment", "a pod's packet"])
    script = network.restore_script("ipv4", ("eth0",))
    assert script.startswith(f"*filter\n:{network.CHAIN} - [0:0]\n") and script.endswith("COMMIT\n")


def test_the_load_balancer_stage_hands_out_addresses_of_the_contained_pool():
    stage = yaml.safe_load((REPO / "tools/local_cluster/stages/services.yaml").read_text())
    template = yaml.safe_load(stage["spec"]["steps"][0]["patch"]["template"])
    addresses = [ingress["ip"] for ingress in template["loadBalancer"]["ingress"]]
    assert addresses and all(ipaddress.ip_address(address) in ipaddress.ip_network(network.LOAD_BALANCER_POOL)
                             for address in addresses)


def test_the_real_node_listens_resolves_and_pulls_only_on_this_host():
    layout = node.NodeLayout(Path("/tmp/cluster/node"))
    config = node.kubelet_config(layout, network.NODE_ADDRESS, 10250, 10248, Path("ca.crt"),
                                 (Path("k.crt"), Path("k.key")))
    assert config["address"] == network.NODE_ADDRESS
    assert config["resolvConf"] == ""  # pods get no resolver, not the host's
    proxy = node.kube_proxy_config(Path("kp.kubeconfig"), 1, 2, network.NODE_ADDRESS)
    assert proxy["nodePortAddresses"] == [f"{network.NODE_ADDRESS}/32"]
    assert ipaddress.ip_address(network.NODE_ADDRESS) not in ipaddress.ip_network(network.REAL_POD_CIDR)
    assert urllib.parse.urlsplit(network.NO_PULL_PROXY).hostname == "127.0.0.1"
