"""Benchmark backup and restore on a fresh local cluster with the real node (issues 5, 12).
Prints figures.

    python -m tools.benchmarks.backup [--pvcs 1,10,50] [--configmaps 1000] [--data-mib 1024]

The snapshots are real: snapshot-controller, csi-snapshotter and the host-path CSI driver
(tools/local_cluster/csi.py). It needs root and the real node, so it cannot run while
another local cluster with a real node (a test session) runs.

- Snapshot wall time: inferno.ops.pvc_snapshot over 1, 10 and 50 Bound claims, as the
  module measures it (start to last snapshot ready; it polls, every 0.5 s at first), as a
  watch in this process sees it on the cluster (first snapshot created to last one ready),
  and as the whole ansible-playbook run takes. Goal: 50 claims <= 2x one claim.
- Data: --data-mib of random files in a release's models claim; backup.yml, then an
  in-place restore.yml, each beside `cp -a` of the same bytes on the same disk (and
  `cp -a` followed by `sync`, since the driver syncs its archive). The driver's own copy
  time comes from its log (each call's `took=`); the rest of the playbook's wall time is
  orchestration. The restored bytes are checked with SHA-256.
- Export: inferno.ops.config_export of a release with --configmaps extra ConfigMaps (10,000),
  to disk, then inferno.ops.s3_backup of that folder to a local S3 server (SeaweedFS,
  tools/s3_server). Goal: <= 5 s to disk; the number of Kubernetes list requests and each
  module's peak memory (its process's maximum RSS, the module run alone) are reported.
- Recovery (issue 13): the --data-mib release is backed up to S3, its namespace deleted and
  the controller's copy removed, then restore.yml with inferno_restore_target_namespace
  brings it back; timed from the restore's start to Inferno Ready, bytes checked with
  SHA-256. Goal: <= 60 s. Then the cluster is taken down and a second one, whose CSI driver
  shares the first one's snapshot store, gets the release back the same way.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kubernetes import client, config, watch
from prometheus_client.parser import text_string_to_metric_families
from urllib3.exceptions import ProtocolError

from tools.local_cluster.cluster import LocalCluster
from tools.s3_server.server import S3Server
from tools.task_playbook import write_task_playbook

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "inferno-bench"
VENV_BIN = ROOT / ".venv" / "bin"


def play(task: dict, env: dict, workdir: Path) -> tuple[float, dict]:
    """Run one module task through ansible-playbook; return the wall time and the task result."""
    playbook, result_file = write_task_playbook(workdir, task)
    started = time.monotonic()
    done = subprocess_run([str(VENV_BIN / "ansible-playbook"), str(playbook), "-i", "localhost,", "-c", "local"], env)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"ansible-playbook failed:\n{done.stdout[-4000:]}")
    return seconds, json.loads(result_file.read_text())


def subprocess_run(argv: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          check=False)


def make_claims(core: client.CoreV1Api, namespace: str, release: str, count: int) -> None:
    for index in range(count):
        core.create_namespaced_persistent_volume_claim(namespace, {
            "metadata": {"name": f"{release}-{index}", "labels": {"app.kubernetes.io/instance": release}},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "standard",
                     "resources": {"requests": {"storage": "1Gi"}}}})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        claims = core.list_namespaced_persistent_volume_claim(
            namespace, label_selector=f"app.kubernetes.io/instance={release}").items
        if len(claims) == count and all(claim.status.phase == "Bound" for claim in claims):
            return
        time.sleep(0.5)
    sys.exit(f"{count} claims of {release} did not bind within 120 s")


class SnapshotWatch:
    """Watches a release's VolumeSnapshots from this process: when the first was created and
    when each became readyToUse (monotonic seconds), independent of the module's polling."""

    def __init__(self, api: client.ApiClient, namespace: str, release: str):
        self.custom = client.CustomObjectsApi(api)
        self.namespace, self.selector = namespace, f"app.kubernetes.io/instance={release}"
        self.first_created: float | None = None
        self.ready: dict[str, float] = {}
        self.watch = watch.Watch()
        version = self.custom.list_namespaced_custom_object(
            "snapshot.storage.k8s.io", "v1", namespace, "volumesnapshots", label_selector=self.selector)["metadata"]["resourceVersion"]
        self.thread = threading.Thread(target=self.run, args=(version,), daemon=True)
        self.thread.start()

    def run(self, version: str) -> None:
        try:
            for event in self.watch.stream(self.custom.list_namespaced_custom_object, "snapshot.storage.k8s.io", "v1",
                                           self.namespace, "volumesnapshots", label_selector=self.selector,
                                           resource_version=version, timeout_seconds=600):
                seen = time.monotonic()
                if event["type"] == "ADDED" and self.first_created is None:
                    self.first_created = seen
                name = event["object"]["metadata"]["name"]
                if (event["object"].get("status") or {}).get("readyToUse") and name not in self.ready:
                    self.ready[name] = seen
        except ProtocolError:  # the connection closed by stop(); the figures are in already
            pass

    def seconds(self, count: int) -> float:
        """First created to last ready, once `count` snapshots are ready."""
        deadline = time.monotonic() + 30
        while len(self.ready) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        self.watch.stop()
        return round(max(self.ready.values()) - self.first_created, 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pvcs", default="1,10,50", help="claim counts to snapshot (default 1,10,50)")
    parser.add_argument("--configmaps", type=int, default=10000, help="extra ConfigMaps to export (default 10000)")
    parser.add_argument("--data-mib", type=int, default=1024, help="claim data to back up and restore (default 1024)")
    args = parser.parse_args()
    counts = [int(value) for value in args.pvcs.split(",")]

    env = {key: value for key, value in os.environ.items() if key != "ANSIBLE_CONFIG"}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    root = Path(tempfile.mkdtemp(prefix="inferno-bench-backup-"))
    # The real snapshot machinery, with a snapshot store a second cluster can take over.
    cluster = LocalCluster(root / "cluster", real_node=True, snapshot_store=root / "store")
    second = LocalCluster(root / "second", real_node=True, snapshot_store=root / "store")
    s3 = S3Server(root / "s3")
    figures: dict = {"snapshots": {}, "data": {}, "export": {}, "recovery": {}}
    try:
        kubeconfig = cluster.up()["kubeconfig"]
        s3.start()
        s3.create_bucket(BUCKET)
        env["KUBECONFIG"] = kubeconfig
        api = config.new_client_from_config(config_file=kubeconfig)
        core = client.CoreV1Api(api)
        namespace = "bench"
        core.create_namespace({"metadata": {"name": namespace}})
        connection = {"kubeconfig": kubeconfig, "release_namespace": namespace}
        for count in counts:
            release = f"claims{count}"
            make_claims(core, namespace, release, count)
            task = {"inferno.ops.pvc_snapshot": {**connection, "release_name": release, "backup_id": "bench"}}
            observer = SnapshotWatch(api, namespace, release)
            writes_before = api_writes(api)
            wall, result = play(task, env, root)
            ready = max(item["elapsed_seconds"] for item in result["snapshots"])
            figures["snapshots"][count] = {"module_seconds": ready, "requested_seconds": result["created_seconds"],
                                           "cluster_seconds": observer.seconds(count), "playbook_seconds": round(wall, 2),
                                           "api_writes": api_writes(api) - writes_before}
            print(f"{count:>3} claim(s): all requested after {result['created_seconds']:.2f} s, all ready after "
                  f"{ready:.1f} s (module), {figures['snapshots'][count]['cluster_seconds']:.2f} s (cluster), "
                  f"playbook {wall:.1f} s", file=sys.stderr)

        figures["data"], written = data_round(cluster, core, env, root, args.data_mib)
        figures["export"] = export_round(core, env, root, namespace, kubeconfig, s3, args.configmaps)
        figures["recovery"]["namespace"] = recovery_round(cluster, {**env, **s3_vars(s3)}, root, written, backup=True)
        cluster.down()
        env["KUBECONFIG"] = second.up()["kubeconfig"]
        figures["recovery"]["second_cluster"] = recovery_round(second, {**env, **s3_vars(s3)}, root, written,
                                                               backup=False)
    finally:
        cluster.down()
        second.down()
        s3.stop()
        shutil.rmtree(root, ignore_errors=True)

    one, most = figures["snapshots"][counts[0]], figures["snapshots"][counts[-1]]
    ratio = most["module_seconds"] / max(one["module_seconds"], 0.1)
    cluster_ratio = most["cluster_seconds"] / max(one["cluster_seconds"], 0.01)
    print(f"{'claims':>6}  {'requested s':>11}  {'ready s (module)':>16}  {'ready s (cluster)':>17}  {'playbook s':>10}"
          f"  {'API writes':>10}")
    for count, row in figures["snapshots"].items():
        print(f"{count:>6}  {row['requested_seconds']:11.2f}  {row['module_seconds']:16.1f}  {row['cluster_seconds']:17.2f}"
              f"  {row['playbook_seconds']:10.1f}  {row['api_writes']:10d}")
    print(f"{counts[-1]} vs {counts[0]} claims, module: {ratio:.2f}x (goal <= 2x) {'PASS' if ratio <= 2 else 'MISS'}"
          " (its 0.5 s poll bounds the one-claim time from below)")
    print(f"{counts[-1]} vs {counts[0]} claims, cluster: {cluster_ratio:.2f}x (goal <= 2x) "
          f"{'PASS' if cluster_ratio <= 2 else 'MISS'}")
    data = figures["data"]
    print(f"\n{data['mib']} MiB of claim data ({data['files']} files), seconds:")
    print(f"{'':>16}  {'playbook':>8}  {'driver copy':>11}  {'orchestration':>13}  {'cp -a':>6}  {'cp -a + sync':>12}")
    for phase in ("backup", "restore"):
        row = data[phase]
        print(f"{phase + (' (in place)' if phase == 'restore' else ''):>16}  {row['playbook_seconds']:8.1f}  "
              f"{row['driver_seconds']:11.2f}  {row['orchestration_seconds']:13.1f}  {row['cp_seconds']:6.2f}  "
              f"{row['cp_sync_seconds']:12.2f}")
    print(f"restored bytes identical (SHA-256): {data['identical']}")
    for attempt in ("first", "rerun"):
        row = figures["export"][attempt]
        mark = "PASS" if row["module_seconds"] <= 5 else "MISS"
        print(f"export {attempt}: {row['configmaps']} ConfigMaps in {row['module_seconds']:.2f} s (goal <= 5 s) {mark}, "
              f"{row['api_list_calls']} list calls, changed={row['changed']}, peak memory {row['peak_mib']:.0f} MiB")
    row = figures["export"]["s3"]
    print(f"export to S3: {row['files']} files, {row['size'] / 1024**2:.1f} MiB tar, upload {row['seconds']:.2f} s "
          f"(module {row['module_seconds']:.2f} s), peak memory {row['peak_mib']:.0f} MiB")
    for where, row in figures["recovery"].items():
        mark = "PASS" if row["ready_seconds"] <= 60 else "MISS"
        print(f"recovery ({where.replace('_', ' ')}) with {data['mib']} MiB: Inferno Ready {row['ready_seconds']:.1f} s "
              f"after the restore started (goal <= 60 s) {mark}; restore.yml {row['playbook_seconds']:.1f} s, "
              f"driver copy {row['driver_seconds']:.2f} s; bytes identical: {row['identical']}")
    print(json.dumps({"ratio_50_vs_1": round(ratio, 2), "cluster_ratio_50_vs_1": round(cluster_ratio, 2), **figures}))
    return 0


WRITE_VERBS = ("POST", "PUT", "PATCH", "DELETE")


def api_writes(api: client.ApiClient) -> int:
    """The API server's count of write requests so far (apiserver_request_total), every client included."""
    response = api.call_api("GET", f"{api.configuration.host}/metrics")
    response.read()
    text = response.data.decode()
    return int(sum(sample.value for family in text_string_to_metric_families(text)
                   for sample in family.samples
                   if sample.name == "apiserver_request_total" and sample.labels.get("verb") in WRITE_VERBS))


DRIVER_CALL = re.compile(r"^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d+) csi: (\w+) .*took=(\S+) ok$")
GO_UNITS = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def go_seconds(duration: str) -> float:
    """A Go duration as time.Duration.String() writes it (1m2.5s, 207.556ms, 5µs) in seconds."""
    return sum(float(number) * GO_UNITS[unit] for number, unit in re.findall(r"([\d.]+)(ns|µs|us|ms|s|m|h)", duration))


def driver_busy_seconds(log: Path, method: str, since: datetime.datetime) -> float:
    """How long the driver spent in `method` calls that ended after `since`: the union of the
    calls' [end - took, end] spans, so calls that overlap count once."""
    spans = []
    for line in log.read_text(errors="replace").splitlines():
        match = DRIVER_CALL.match(line)
        if not match or match.group(2) != method:
            continue
        end = datetime.datetime.strptime(match.group(1), "%Y/%m/%d %H:%M:%S.%f")
        if end >= since:
            took = go_seconds(match.group(3))
            spans.append((end - datetime.timedelta(seconds=took), end))
    busy, reach = 0.0, None
    for start, end in sorted(spans):
        if reach is None or start > reach:
            busy, reach = busy + (end - start).total_seconds(), end
        elif end > reach:
            busy, reach = busy + (end - reach).total_seconds(), end
    return round(busy, 2)


def write_random_files(folder: Path, mib: int, files: int = 8) -> dict[str, str]:
    """`mib` MiB of random bytes in `files` files, owned by Inferno's UID; returns their SHA-256."""
    digests = {}
    chunk = 8 * 1024 * 1024
    for index in range(files):
        path, digest = folder / f"weights-{index}.bin", hashlib.sha256()
        with open(path, "wb") as handle:
            for _block in range(mib * 1024 * 1024 // files // chunk):
                block = os.urandom(chunk)
                digest.update(block)
                handle.write(block)
        os.chown(path, 1000, 1000)
        digests[path.name] = digest.hexdigest()
    return digests


def sha256_files(folder: Path) -> dict[str, str]:
    found = {}
    for path in sorted(folder.glob("weights-*.bin")):
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            while block := handle.read(8 * 1024 * 1024):
                digest.update(block)
        found[path.name] = digest.hexdigest()
    return found


def timed_copy(source: Path, scratch: Path) -> tuple[float, float]:
    """`cp -a` of `source` into `scratch` (same filesystem): seconds alone, and with `sync` after."""
    shutil.rmtree(scratch, ignore_errors=True)
    started = time.monotonic()
    subprocess.run(["cp", "-a", str(source), str(scratch)], check=True)
    copied = time.monotonic() - started
    subprocess.run(["sync", "-f", str(scratch)], check=True)
    synced = time.monotonic() - started
    shutil.rmtree(scratch, ignore_errors=True)
    return round(copied, 2), round(synced, 2)


def data_round(cluster: LocalCluster, core: client.CoreV1Api, env: dict, root: Path, mib: int) -> dict:
    """backup.yml and an in-place restore.yml of a release whose models claim holds `mib` MiB."""
    namespace = "bench-data"
    env = {**env, "INFERNO_KUBECONFIG": env["KUBECONFIG"]}  # the dev inventory reads it
    common = ["-i", "inventories/dev", "-e", json.dumps({"inferno_values_files": []}), "-e", f"inferno_namespace={namespace}",
              "-e", f"inferno_backups_dir={root / 'backups'}", "-e", "inferno_restore_wait_timeout=600"]
    installed = subprocess_run([str(VENV_BIN / "helm"), "install", "inferno", "files/helm/inferno", "-n", namespace,
                                "--create-namespace", "-f", "files/helm/inferno/values-dev.yaml", "--wait"], env)
    if installed.returncode != 0:
        sys.exit(installed.stdout)

    def models_folder() -> Path:
        return claim_folder(cluster, core, namespace, "inferno-models-pvc")

    written = write_random_files(models_folder(), mib)
    log = cluster.layout.logs / "csi-hostpath.log"
    figures: dict = {"mib": mib, "files": len(written)}
    for phase, playbook, extra in (
            ("backup", "playbooks/backup.yml", ["-e", "inferno_backup_id=bench"]),
            ("restore", "playbooks/restore.yml", ["-e", "inferno_restore_backup_id=bench", "-e", "inferno_restore_mode=in_place",
                                                  "-e", "inferno_restore_confirm=inferno", "-e", "inferno_restore_config=false"])):
        cp_seconds, cp_sync_seconds = timed_copy(models_folder(), root / "cp-a-copy")
        since = datetime.datetime.now()
        started = time.monotonic()
        run = subprocess_run([str(VENV_BIN / "ansible-playbook"), playbook, *common, *extra], env)
        wall = time.monotonic() - started
        if run.returncode != 0:
            sys.exit(f"{playbook} failed:\n{run.stdout[-4000:]}")
        driver = driver_busy_seconds(log, "CreateSnapshot" if phase == "backup" else "CreateVolume", since)
        figures[phase] = {"playbook_seconds": round(wall, 2), "driver_seconds": driver,
                          "orchestration_seconds": round(wall - driver, 2), "cp_seconds": cp_seconds,
                          "cp_sync_seconds": cp_sync_seconds}
        print(f"{phase}: playbook {wall:.1f} s, driver {driver:.2f} s, cp -a {cp_seconds:.2f} s "
              f"({cp_sync_seconds:.2f} s with sync)", file=sys.stderr)
    figures["identical"] = sha256_files(models_folder()) == written
    return figures, written


def claim_folder(cluster: LocalCluster, core: client.CoreV1Api, namespace: str, claim: str) -> Path:
    """The folder on the node that holds a claim's volume (the host-path CSI driver's)."""
    volume = core.read_persistent_volume(core.read_namespaced_persistent_volume_claim(claim, namespace).spec.volume_name)
    return cluster.csi_layout().volumes / volume.spec.csi.volume_handle


def s3_vars(s3: S3Server) -> dict:
    """The S3 location and endpoint for the playbooks, and the credentials as AWX passes them."""
    return {"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key,
            "INFERNO_BENCH_S3": json.dumps({"inferno_backups_location": f"s3://{BUCKET}/backups",
                                            "inferno_backups_s3_endpoint_url": s3.endpoint_url,
                                            "inferno_backups_s3_region": s3.region})}


def recovery_round(cluster: LocalCluster, env: dict, root: Path, written: dict[str, str], backup: bool) -> dict:
    """From the data round's release: (with `backup`) back it up to S3 and delete its namespace;
    then restore it into a new namespace from S3 alone, timed until Inferno is Ready."""
    env = {**env, "INFERNO_KUBECONFIG": env["KUBECONFIG"]}
    core = client.CoreV1Api(config.new_client_from_config(config_file=env["KUBECONFIG"]))
    # The dev inventory's local-cluster layer: the restored Inferno runs on the real node.
    common = ["-i", "inventories/dev", "-e", "inferno_namespace=bench-data", "-e", f"inferno_backups_dir={root / 'backups'}",
              "-e", env["INFERNO_BENCH_S3"]]
    if backup:
        run = subprocess_run([str(VENV_BIN / "ansible-playbook"), "playbooks/backup.yml", *common,
                              "-e", "inferno_backup_id=dr"], env)
        if run.returncode != 0:
            sys.exit(f"backup.yml to S3 failed:\n{run.stdout[-4000:]}")
        core.delete_namespace("bench-data")
        wait_for(lambda: "bench-data" not in [item.metadata.name for item in core.list_namespace().items],
                 "bench-data deleted", 300)
    shutil.rmtree(root / "backups" / "dev" / "inferno" / "dr", ignore_errors=True)  # the controller's copy is gone
    target = "bench-dr" if backup else "bench-dr2"
    since = datetime.datetime.now()
    started = time.monotonic()
    run = subprocess_run([str(VENV_BIN / "ansible-playbook"), "playbooks/restore.yml", *common,
                          "-e", "inferno_restore_backup_id=dr", "-e", f"inferno_restore_target_namespace={target}",
                          "-e", "inferno_restore_wait_timeout=600"], env)
    playbook = time.monotonic() - started
    if run.returncode != 0:
        sys.exit(f"restore.yml into {target} failed:\n{run.stdout[-4000:]}")
    apps = client.AppsV1Api(core.api_client)
    wait_for(lambda: apps.read_namespaced_deployment("inferno", target).status.ready_replicas == 1,
             f"Inferno Ready in {target}", 600)
    ready = time.monotonic() - started
    identical = sha256_files(claim_folder(cluster, core, target, "inferno-models-pvc")) == written
    driver = driver_busy_seconds(cluster.layout.logs / "csi-hostpath.log", "CreateVolume", since)
    print(f"recovery into {target}: Ready after {ready:.1f} s (restore.yml {playbook:.1f} s), identical {identical}",
          file=sys.stderr)
    return {"ready_seconds": round(ready, 1), "playbook_seconds": round(playbook, 1), "driver_seconds": driver,
            "identical": identical}


def wait_for(check, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except client.ApiException:
            pass
        time.sleep(0.25)
    sys.exit(f"{what}: not within {timeout:.0f} s")


def export_round(core: client.CoreV1Api, env: dict, root: Path, namespace: str, kubeconfig: str, s3: S3Server,
                 configmaps: int) -> dict:
    """config_export of a release with `configmaps` extra ConfigMaps, twice, then s3_backup of the export."""
    installed = subprocess_run([str(VENV_BIN / "helm"), "install", "exported", "files/helm/inferno", "-n", namespace,
                                "-f", "files/helm/inferno/values-dev.yaml"], env)
    if installed.returncode != 0:
        sys.exit(installed.stdout)

    def create(index: int) -> None:
        core.create_namespaced_config_map(namespace, {
            "metadata": {"name": f"extra-{index:05d}", "labels": {"app.kubernetes.io/instance": "exported"}},
            "data": {"key": f"value {index}", "text": "x" * 200}})

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(create, range(configmaps)))
    figures: dict = {}
    export = {"kubeconfig": kubeconfig, "release_namespace": namespace, "release_name": "exported",
              "dest": str(root / "export")}
    for attempt in ("first", "rerun"):
        result, peak = module_alone("config_export", export, env)
        figures[attempt] = {"module_seconds": result["elapsed_seconds"], "api_list_calls": result["api_list_calls"],
                            "changed": result["changed"], "configmaps": result["counts"]["configmaps"], "peak_mib": peak}
    upload = {"mode": "put", "location": f"s3://{BUCKET}/exports", "backup_id": "export", "path": str(root / "export"),
              "endpoint_url": s3.endpoint_url, "region": s3.region}
    s3_env = {**env, "AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key}
    started = time.monotonic()
    result, peak = module_alone("s3_backup", upload, s3_env)
    figures["s3"] = {"seconds": result["seconds"], "module_seconds": round(time.monotonic() - started, 2),
                     "files": result["files"], "size": result["size"], "peak_mib": peak}
    print(f"export: {json.dumps(figures)}", file=sys.stderr)
    return figures


# Runs one module's main() in this process (argv[1] is its arguments file, as Ansible passes
# it) and reports the process's peak RSS on stderr: VmHWM, the high-water mark of this
# program's memory. (getrusage's ru_maxrss would not do: Linux carries the forking parent's
# peak over an exec.)
MODULE_RUNNER = """
import os, re, runpy, sys
try:
    runpy.run_module(os.environ["INFERNO_BENCH_MODULE"], run_name="__main__")
finally:
    with open("/proc/self/status") as status:
        sys.stderr.write("peak_rss_kib=%s\\n" % re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1))
"""


def module_alone(name: str, arguments: dict, env: dict) -> tuple[dict, float]:
    """(the result, peak MiB) of a module run alone in a fresh Python process, as Ansible runs it."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": arguments}, handle)
    search = [str(ROOT / "collections"), *(path for path in sys.path if path.endswith("site-packages"))]
    done = subprocess.run([str(VENV_BIN / "python"), "-c", MODULE_RUNNER, handle.name], cwd=ROOT, capture_output=True,
                          text=True, check=False, env={**env, "PYTHONPATH": os.pathsep.join(search),
                                                       "INFERNO_BENCH_MODULE": f"ansible_collections.inferno.ops.plugins.modules.{name}"})
    os.unlink(handle.name)
    if not done.stdout.strip():
        sys.exit(f"{name} printed no result:\n{done.stderr[-4000:]}")
    result = json.loads(done.stdout)
    if result.get("failed"):
        sys.exit(f"{name} failed: {result.get('msg')}")
    return result, int(re.search(r"peak_rss_kib=(\d+)", done.stderr).group(1)) / 1024


if __name__ == "__main__":
    sys.exit(main())
