"""Certificates and kubeconfigs for the local control plane.

One CA signs the apiserver's serving certificate and one client certificate per
component; a separate RSA key pair signs ServiceAccount tokens. Everything is
valid for a year, which is far longer than any local cluster lives.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=365)


@dataclass(frozen=True)
class Identity:
    """A client certificate's subject: user name (CN) and groups (O)."""

    file_stem: str
    user: str
    groups: tuple[str, ...] = ()


ADMIN = Identity("admin", "kubernetes-admin", ("system:masters",))
CONTROLLER_MANAGER = Identity("controller-manager", "system:kube-controller-manager")
SCHEDULER = Identity("scheduler", "system:kube-scheduler")
# kwok patches node and pod status of every fake node; it acts as a node agent with admin rights.
KWOK = Identity("kwok", "system:kwok-controller", ("system:masters",))
# The real node's agents, with the identities the Node authorizer and bootstrap RBAC expect.
KUBE_PROXY = Identity("kube-proxy", "system:kube-proxy")
# Add-ons run as processes on the host, with a certificate instead of a ServiceAccount token.
METRICS_SERVER = Identity("metrics-server", "system:metrics-server", ("system:masters",))
LOCAL_PATH_PROVISIONER = Identity("local-path-provisioner", "system:local-path-provisioner", ("system:masters",))
SNAPSHOT_CONTROLLER = Identity("snapshot-controller", "system:snapshot-controller", ("system:masters",))
# csi-provisioner and csi-snapshotter, which in a cloud cluster share the driver's ServiceAccount.
CSI_SIDECARS = Identity("csi-sidecars", "system:csi-hostpath-sidecars", ("system:masters",))
# The name the apiserver's --requestheader-allowed-names accepts from the aggregation proxy.
FRONT_PROXY_CLIENT = "front-proxy-client"


def node_identity(node_name: str) -> Identity:
    return Identity("kubelet", f"system:node:{node_name}", ("system:nodes",))


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _name(common_name: str, organizations: tuple[str, ...] = ()) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    return x509.Name(attributes + [x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


class Authority:
    """The cluster CA, stored as ca.crt/ca.key in the PKI folder."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.cert_path = folder / "ca.crt"
        self.key_path = folder / "ca.key"
        folder.mkdir(parents=True, exist_ok=True)
        now = datetime.datetime.now(datetime.timezone.utc)
        self.key = _new_key()
        subject = _name("inferno-ops-local-ca")
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject).public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        _write_key(self.key_path, self.key)
        _write_cert(self.cert_path, self.cert)

    def issue(self, stem: str, subject: x509.Name, usage: ExtendedKeyUsageOID,
              dns_names: list[str] | None = None, ips: list[str] | None = None) -> tuple[Path, Path]:
        """Sign a new key pair; returns (cert path, key path)."""
        now = datetime.datetime.now(datetime.timezone.utc)
        key = _new_key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject).issuer_name(self.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if dns_names or ips:
            alt_names = [x509.DNSName(name) for name in dns_names or []]
            alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips or []]
            builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        cert_path, key_path = self.folder / f"{stem}.crt", self.folder / f"{stem}.key"
        _write_cert(cert_path, builder.sign(self.key, hashes.SHA256()))
        _write_key(key_path, key)
        return cert_path, key_path


@dataclass(frozen=True)
class ClusterPKI:
    """Paths of everything the components need."""

    ca_cert: Path
    ca_key: Path
    serving_cert: Path
    serving_key: Path
    service_account_key: Path
    service_account_pub: Path
    kubeconfigs: dict[str, Path]
    # Aggregation (front proxy) and apiserver-to-kubelet client certificates: (cert, key).
    front_proxy_client: tuple[Path, Path]
    kubelet_client: tuple[Path, Path]
    # The real node's kubelet and metrics-server serving certificates, when there is a real node.
    kubelet_serving: tuple[Path, Path] | None = None
    metrics_serving: tuple[Path, Path] | None = None


def write_kubeconfig(path: Path, server: str, ca_cert: Path, cert: Path, key: Path, user: str) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "inferno-local", "cluster": {"server": server, "certificate-authority": str(ca_cert)}}],
        "users": [{"name": user, "user": {"client-certificate": str(cert), "client-key": str(key)}}],
        "contexts": [{"name": "inferno-local", "context": {"cluster": "inferno-local", "user": user}}],
        "current-context": "inferno-local",
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)


def create(folder: Path, server: str, service_ip: str, node: tuple[str, str] | None = None) -> ClusterPKI:
    """Make a fresh CA, serving and client certificates, SA keys and one kubeconfig per identity.

    `node` is the real node's (name, IP): its kubelet, kube-proxy and add-ons get identities too.
    """
    authority = Authority(folder)
    serving_cert, serving_key = authority.issue(
        "apiserver", _name("kube-apiserver"), ExtendedKeyUsageOID.SERVER_AUTH,
        dns_names=["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                   "kubernetes.default.svc.cluster.local"],
        ips=["127.0.0.1", "::1", service_ip])
    sa_key = _new_key()
    sa_key_path, sa_pub_path = folder / "sa.key", folder / "sa.pub"
    _write_key(sa_key_path, sa_key)
    sa_pub_path.write_bytes(sa_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                             serialization.PublicFormat.SubjectPublicKeyInfo))
    identities = [ADMIN, CONTROLLER_MANAGER, SCHEDULER, KWOK]
    if node:
        identities += [node_identity(node[0]), KUBE_PROXY, METRICS_SERVER, LOCAL_PATH_PROVISIONER, SNAPSHOT_CONTROLLER,
                       CSI_SIDECARS]
    kubeconfigs = {}
    for identity in identities:
        cert, key = authority.issue(identity.file_stem, _name(identity.user, identity.groups),
                                    ExtendedKeyUsageOID.CLIENT_AUTH)
        kubeconfig = folder.parent / f"{identity.file_stem}.kubeconfig"
        write_kubeconfig(kubeconfig, server, authority.cert_path, cert, key, identity.user)
        kubeconfigs[identity.file_stem] = kubeconfig
    front_proxy = authority.issue("front-proxy-client", _name(FRONT_PROXY_CLIENT), ExtendedKeyUsageOID.CLIENT_AUTH)
    kubelet_client = authority.issue("apiserver-kubelet-client", _name("kube-apiserver-kubelet-client",
                                                                       ("system:masters",)),
                                     ExtendedKeyUsageOID.CLIENT_AUTH)
    kubelet_serving = metrics_serving = None
    if node:
        kubelet_serving = authority.issue("kubelet-serving", _name(f"system:node:{node[0]}", ("system:nodes",)),
                                          ExtendedKeyUsageOID.SERVER_AUTH, dns_names=[node[0]], ips=[node[1]])
        # The aggregator checks the name of the Service it reaches the add-on through.
        metrics_serving = authority.issue("metrics-server-serving", _name("metrics-server"),
                                          ExtendedKeyUsageOID.SERVER_AUTH,
                                          dns_names=["metrics-server.kube-system.svc"], ips=[node[1]])
    return ClusterPKI(authority.cert_path, authority.key_path, serving_cert, serving_key, sa_key_path, sa_pub_path,
                      kubeconfigs, front_proxy, kubelet_client, kubelet_serving, metrics_serving)
