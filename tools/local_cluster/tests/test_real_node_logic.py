"""The real node's pure logic and its set-up errors: image archives, configuration files, and
the messages a missing program or a failing build gives. No cluster, no root needed."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tools.local_cluster import build, images, inferno_binary, node
from tools.local_cluster.processes import ClusterError

REPO = Path(__file__).resolve().parents[3]


def archive_members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_an_oci_archive_names_the_image_and_is_reproducible():
    image = images.Image("docker.io/library/demo:1.2.3", (images.Entry("/usr/local/bin/demo", data=b"x", mode=0o755),),
                         entrypoint=("demo",), user="1000:1000", ports=(8000,))
    first, second = images.oci_archive(image), images.oci_archive(image)
    assert first == second
    files = archive_members(first)
    index = json.loads(files["index.json"])
    (manifest_ref,) = index["manifests"]
    assert manifest_ref["annotations"]["io.containerd.image.name"] == "docker.io/library/demo:1.2.3"
    manifest = json.loads(files[f"blobs/sha256/{manifest_ref['digest'].split(':')[1]}"])
    config = json.loads(files[f"blobs/sha256/{manifest['config']['digest'].split(':')[1]}"])
    assert config["config"]["Entrypoint"] == ["demo"] and config["config"]["User"] == "1000:1000"
    assert config["config"]["ExposedPorts"] == {"8000/tcp": {}}
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}


def test_a_layer_holds_every_parent_folder_before_its_files():
    layer = images.layer_tar((images.Entry("/a/b/c", data=b"1"), images.Entry("/a/b", "dir", mode=0o700)))
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        members = [(m.name, m.type, m.mode, m.mtime) for m in tar.getmembers()]
    assert members == [("a", tarfile.DIRTYPE, 0o755, 0), ("a/b", tarfile.DIRTYPE, 0o700, 0),
                       ("a/b/c", tarfile.REGTYPE, 0o644, 0)]


def test_a_program_goes_into_an_image_with_its_real_loader_not_a_symlink():
    entries = images.binary_entries(Path(sys.executable).resolve(), "/usr/bin/python")
    loader = next(entry for entry in entries if "ld-linux" in entry.path)
    if not Path(loader.path).is_symlink():
        pytest.skip(f"{loader.path} is no symlink on this machine")
    # The layer holds the loader's bytes at the path ldd names, not a link into the host's /lib.
    assert loader.kind == "file" and loader.data == Path(loader.path).resolve().read_bytes()
    assert all(entry.kind == "file" and entry.data for entry in entries)


def test_a_pause_program_that_does_not_compile_names_the_step_and_the_fix(tmp_path, monkeypatch):
    broken = tmp_path / "pause.c"
    broken.write_text("int main(void) { return not_declared; }\n")
    monkeypatch.setattr(images, "PAUSE_SOURCE", broken)
    with pytest.raises(images.ImageError, match=r"compiling the pause program: `gcc .*` failed \(install gcc"):
        images.pause_image(tmp_path)


def test_the_pause_program_builds_into_a_static_image(tmp_path):
    image = images.pause_image(tmp_path)
    (entry,) = image.entries
    assert entry.path == "/pause" and entry.data.startswith(b"\x7fELF")
    assert images.shared_libraries(tmp_path / "pause") == []


@pytest.mark.parametrize("program", ["containerd", "runc"])
def test_a_missing_runtime_program_is_named_with_make_setup(monkeypatch, program):
    real_which = node.shutil.which
    monkeypatch.setattr(node.shutil, "which",
                        lambda name, path=None: None if name == program else real_which(name, path=path))
    monkeypatch.setattr(node.os, "geteuid", lambda: 0)
    with pytest.raises(ClusterError, match=rf"`{program}` is missing: .*run `make setup`"):
        node.check_prerequisites()


def test_missing_cni_plugins_are_named(monkeypatch, tmp_path):
    monkeypatch.setattr(node, "CNI_BIN_DIR", tmp_path)
    monkeypatch.setattr(node.os, "geteuid", lambda: 0)
    with pytest.raises(ClusterError, match=r"CNI plugins \['bridge', 'host-local', 'loopback', 'portmap'\] are missing"):
        node.check_prerequisites()


def test_up_without_cargo_stops_before_building_anything(tmp_path):
    """The real node needs the Inferno image, which needs cargo: `up` says so before any build starts."""
    if os.geteuid() != 0:
        pytest.skip("the real node's checks start with root")
    go_dir = Path(subprocess.run(["go", "env", "GOROOT"], capture_output=True, text=True, check=True).stdout.strip())
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "HOME": str(tmp_path / "home"),
           "PATH": f"{go_dir / 'bin'}:/usr/sbin:/usr/bin:/sbin:/bin", "INFERNO_LOCAL_CLUSTER_DIR": str(tmp_path / "run")}
    result = subprocess.run([sys.executable, "-m", "tools.local_cluster", "up"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert "building Inferno: `cargo` is not installed. Install Rust >= 1.85 with rustup" in result.stderr
    assert not (tmp_path / "cache" / "inferno-ops" / "cluster" / "bin").exists()


def test_an_old_rust_is_refused_with_the_update_command(tmp_path):
    fake = tmp_path / "cargo"
    fake.write_text("#!/bin/sh\necho 'cargo 1.75.0 (1d8b05cdd 2023-11-20)'\n")
    fake.chmod(0o755)
    with pytest.raises(build.BuildError, match=r"needs Rust >= 1.85 .* Run `rustup update stable`"):
        inferno_binary.check_rust(str(fake))


def test_a_machine_without_llamas_build_tools_is_told_which_packages_to_install(monkeypatch):
    monkeypatch.setattr(inferno_binary.shutil, "which", lambda name: None if name == "cmake" else f"/usr/bin/{name}")
    monkeypatch.setattr(inferno_binary.Path, "glob", lambda self, pattern: iter(()))
    monkeypatch.delenv("LIBCLANG_PATH", raising=False)
    assert inferno_binary.gguf_build_problem() == (
        "building Inferno's gguf backend (llama.cpp) needs cmake, libclang-dev: run `make setup`, or "
        "`apt-get install cmake libclang-dev`, then `scripts/cluster up` again")
    monkeypatch.setenv("LIBCLANG_PATH", "/opt/llvm/lib")
    assert "needs cmake:" in inferno_binary.gguf_build_problem()


def test_kubelet_configuration_fits_this_host():
    layout = node.NodeLayout(Path("/tmp/cluster/node"))
    config = node.kubelet_config(layout, "192.0.2.2", 10250, 10248, Path("ca.crt"), (Path("k.crt"), Path("k.key")))
    assert config["cgroupDriver"] == "cgroupfs" and config["failCgroupV1"] is False
    assert config["registerWithTaints"] == [node.NODE_TAINT]
    assert config["authentication"]["anonymous"]["enabled"] is False
    assert config["containerRuntimeEndpoint"] == f"unix://{layout.containerd_socket}"
    assert len(str(layout.containerd_socket)) < 108  # the limit of a unix socket path
    assert set(config["evictionHard"]) == {"memory.available", "nodefs.available", "nodefs.inodesFree",
                                           "imagefs.available"}


def test_containerd_clamps_oom_scores_instead_of_a_runc_wrapper():
    text = node.containerd_config(node.NodeLayout(Path("/tmp/c/node")), images.PAUSE_IMAGE)
    assert "restrict_oom_score_adj = true" in text
    assert f'sandbox_image = "{images.PAUSE_IMAGE}"' in text
    assert "SystemdCgroup = false" in text and "BinaryName" not in text


def test_kube_proxy_leaves_the_hosts_conntrack_and_localnet_settings_alone():
    config = node.kube_proxy_config(Path("kp.kubeconfig"), 1, 2, "192.0.2.2")
    assert config["mode"] == "iptables" and config["iptables"]["localhostNodePorts"] is False
    assert config["conntrack"]["maxPerCore"] == 0 and config["conntrack"]["tcpEstablishedTimeout"] == "0s"


@pytest.mark.parametrize("name, ours", [("KUBE-FIREWALL", True), ("KUBE-SERVICES", True), ("CNI-HOSTPORT-DNAT", True),
                                        ("INPUT", False), ("DOCKER", False), ("KUBERNETES", False)])
def test_only_kubernetes_and_cni_chains_are_removed(name, ours):
    assert node.is_node_chain(name) is ours


def test_a_kubelet_that_does_not_register_fails_with_the_step_and_its_log(tmp_path):
    """The API answers 404 for the node, as it does while no kubelet has registered it."""
    from kubernetes.client.exceptions import ApiException

    from tools.local_cluster.processes import start, stop

    logs = tmp_path / "logs"
    logs.mkdir()
    script = 'echo "E1127 kubelet_node_status.go:107] Unable to register node with API server: connection refused"'
    kubelet = start("kubelet", ["sh", "-c", f"{script}; sleep 30"], logs)

    def read_node(name):
        raise ApiException(status=404, reason=f"nodes {name!r} not found")

    try:
        with pytest.raises(ClusterError) as failure:
            node.RealNode(tmp_path, logs).wait_ready(kubelet, read_node, timeout=1.5)
    finally:
        stop(kubelet)
    message = str(failure.value)
    assert "kubelet did not finish registering node inferno-node-0 and making it Ready" in message
    assert "Unable to register node with API server: connection refused" in message
    assert str(logs / "containerd.log") in message


@pytest.mark.parametrize("metrics, families, synced", [
    ('kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family="IPv4"} 1.7e+09\n', {"IPv4", "IPv6"}, False),
    ('kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family="IPv4"} 1.7e+09\n'
     'kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family="IPv6"} 0\n', {"IPv4", "IPv6"}, False),
    ('kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family="IPv4"} 1.7e+09\n'
     'kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family="IPv6"} 1.7e+09\n', {"IPv4", "IPv6"}, True),
    ('kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family="IPv4"} 1.7e+09\n', {"IPv4"}, True),
])
def test_kube_proxy_counts_as_synced_once_every_family_it_serves_has_synced(metrics, families, synced):
    """Its IPv6 rules (and the jumps it puts first) may come after the IPv4 ones: `up` waits for both."""
    import http.server
    import threading

    class Metrics(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802  # the handler's name
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"# TYPE kubeproxy_sync_proxy_rules_last_timestamp_seconds gauge\n" + metrics.encode())

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Metrics)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert node.kube_proxy_synced(server.server_address[1], families) is synced
    finally:
        server.shutdown()
