"""A real etcd and kube-apiserver on loopback, for Gantry's integration tests and demo.

This module is development tooling, not part of the operator. The tests/integration fixtures
and the demo start a `ControlPlane` and point the operator at its kubeconfig, so the operator
talks to a genuine API server: real validation, real admission, real RBAC, real TokenRequest.
There is no fake fallback: when the binaries are missing, `find_binaries` fails loudly.

The binaries come from ``hack/build-control-plane.sh`` (built once with Go into a cache folder
outside the repository) or from ``KUBEBUILDER_ASSETS`` (the envtest convention).

What this plane does NOT run: kube-controller-manager, the scheduler or any kubelet. So:

* nothing creates a namespace's ``default`` ServiceAccount: use `ControlPlane.ensure_namespace`;
* nothing garbage-collects objects whose owner was deleted (ownerReferences are stored but
  never acted on);
* a deleted namespace stays ``Terminating`` forever (the namespace controller removes its
  ``kubernetes`` finalizer), so tests should use a fresh namespace rather than reuse a name;
* the aggregated ClusterRoles ``admin``, ``edit`` and ``view`` have no rules (the
  clusterrole-aggregation controller fills them), so bind explicit Roles in tests;
* no ``kube-root-ca.crt`` ConfigMap is published into namespaces;
* pods are stored but never scheduled or run.

Usage::

    with ControlPlane(tmp_path) as cp:
        cp.ensure_namespace("demo")
        cp.kubectl("get", "namespaces")
        sa_config = cp.service_account_kubeconfig("demo", "default", tmp_path / "sa.kubeconfig")
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import datetime
import http.client
import ipaddress
import os
import pathlib
import shutil
import signal
import socket
import ssl
import subprocess
import time
from types import TracebackType
from typing import IO, Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "ADMIN_GROUP",
    "ADMIN_USER",
    "ControlPlane",
    "ControlPlaneError",
    "KubectlError",
    "find_binaries",
]

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "hack" / "build-control-plane.sh"
BINARY_NAMES = ("etcd", "kube-apiserver", "kubectl")

ADMIN_USER = "gantry-admin"
# system:masters is bound to cluster-admin by the bootstrap RBAC policy and bypasses
# authorization entirely, so the admin identity works even before RBAC roles are reconciled.
ADMIN_GROUP = "system:masters"

SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc"

# Readiness deadline for the whole start (etcd plus kube-apiserver). A cold start on a small
# machine takes seconds; the margin is for loaded CI runners.
READY_TIMEOUT_S = 90.0
STOP_GRACE_S = 10.0
LOG_TAIL_LINES = 40
# Tests keep only a few objects; a small quota makes a runaway test fail fast instead of
# filling the disk, and keeps etcd's preallocated database file small.
ETCD_QUOTA_BYTES = 256 * 1024 * 1024
# Picking a free port and binding it later is racy (another process can take it between the
# two). When a child fails because its port was taken, start again on fresh ports.
PORT_RACE_ATTEMPTS = 3
KUBECTL_TIMEOUT_S = 120.0


class ControlPlaneError(RuntimeError):
    """The control plane could not be found, built, started or used."""


class KubectlError(subprocess.CalledProcessError):
    """kubectl exited non-zero; unlike CalledProcessError, the message carries its stderr."""

    def __str__(self) -> str:
        stderr = self.stderr.strip() if isinstance(self.stderr, str) else ""
        return f"{super().__str__()}\n{stderr}" if stderr else super().__str__()


class _PortInUseError(ControlPlaneError):
    """A child could not bind the port picked for it; start() retries on fresh ports."""


def find_binaries() -> pathlib.Path:
    """Return the folder holding etcd, kube-apiserver and kubectl.

    ``KUBEBUILDER_ASSETS`` wins when set. Otherwise the build script is run: it returns
    at once when its cache is warm and builds with Go the first time. Its stderr is passed
    through so the user sees "reusing the control plane built earlier" or the build progress.
    """
    assets = os.environ.get("KUBEBUILDER_ASSETS", "").strip()
    if assets:
        folder = pathlib.Path(assets).expanduser()
        _check_binaries(folder, source="KUBEBUILDER_ASSETS")
        return folder

    # stderr is inherited (not captured) so progress of a first, minutes-long build is visible.
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT)],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ControlPlaneError(
            f"{BUILD_SCRIPT} exited with status {result.returncode}. Go is needed once to build "
            "kube-apiserver, kubectl and etcd (see the messages above); alternatively set "
            "KUBEBUILDER_ASSETS to a folder that already holds etcd, kube-apiserver and kubectl."
        )
    lines = result.stdout.strip().splitlines()
    if not lines:
        raise ControlPlaneError(f"{BUILD_SCRIPT} printed no folder on its last stdout line")
    folder = pathlib.Path(lines[-1].strip())
    _check_binaries(folder, source=str(BUILD_SCRIPT))
    return folder


def _check_binaries(folder: pathlib.Path, *, source: str) -> None:
    for name in BINARY_NAMES:
        path = folder / name
        if not path.is_file():
            raise ControlPlaneError(f"{source}: {path} is missing (need {', '.join(BINARY_NAMES)})")
        if not os.access(path, os.X_OK):
            raise ControlPlaneError(f"{source}: {path} is not executable")


class ControlPlane:
    """One etcd plus one kube-apiserver, listening on free loopback ports.

    Use as a context manager, or call `start` and `stop` (stop is idempotent and also runs
    at interpreter exit, so a failed test does not leave processes behind).
    """

    def __init__(
        self, workdir: str | os.PathLike[str], *, binaries: pathlib.Path | None = None
    ) -> None:
        self.workdir = pathlib.Path(workdir).resolve()
        # Resolved eagerly: a missing toolchain should fail where the plane is declared.
        self.binaries: pathlib.Path = binaries if binaries is not None else find_binaries()
        self.kubeconfig: pathlib.Path = self.workdir / "admin.kubeconfig"
        self.pki_dir = self.workdir / "pki"
        self.etcd_log = self.workdir / "etcd.log"
        self.apiserver_log = self.workdir / "kube-apiserver.log"
        self.startup_seconds: float | None = None
        self._server: str | None = None
        self._etcd: subprocess.Popen[bytes] | None = None
        self._apiserver: subprocess.Popen[bytes] | None = None
        self._apiserver_args: list[str] = []
        self._log_files: list[IO[bytes]] = []

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def server(self) -> str:
        """The API server URL, ``https://127.0.0.1:PORT``; only known once started."""
        if self._server is None:
            raise ControlPlaneError("the control plane has not been started")
        return self._server

    @property
    def ca_file(self) -> pathlib.Path:
        return self.pki_dir / "ca.crt"

    def start(self) -> None:
        """Start etcd and kube-apiserver, wait until ready, write admin.kubeconfig."""
        if self._apiserver is not None:
            raise ControlPlaneError("the control plane is already running")
        began = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        # Registered before any child exists so even an interrupted start cleans up.
        atexit.register(self.stop)
        try:
            self._write_pki()
            deadline = began + READY_TIMEOUT_S
            for attempt in range(1, PORT_RACE_ATTEMPTS + 1):
                try:
                    self._launch(deadline)
                    break
                except _PortInUseError:
                    self._stop_processes()
                    if attempt == PORT_RACE_ATTEMPTS:
                        raise
            self._write_admin_kubeconfig()
            # The bootstrap controller creates the default namespace, but only a
            # controller-manager would create its default ServiceAccount, which the
            # ServiceAccount admission plugin requires before any pod can be created there.
            self.ensure_namespace("default")
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began

    @property
    def pids(self) -> list[int]:
        """Process ids of the running etcd and kube-apiserver (for leftover checks)."""
        return [p.pid for p in (self._etcd, self._apiserver) if p is not None]

    def stop(self) -> None:
        """Stop kube-apiserver, then etcd. Safe to call more than once."""
        try:
            self._stop_processes()
        finally:
            self._server = None
            atexit.unregister(self.stop)

    def _stop_processes(self) -> None:
        apiserver, etcd = self._apiserver, self._etcd
        self._apiserver = self._etcd = None
        try:
            # The API server first: stopping etcd under it would only produce error noise.
            if apiserver is not None:
                _terminate(apiserver)
        finally:
            try:
                if etcd is not None:
                    _terminate(etcd)
            finally:
                for handle in self._log_files:
                    handle.close()
                self._log_files.clear()

    # -- startup -----------------------------------------------------------------------------

    def _launch(self, deadline: float) -> None:
        etcd_port, peer_port, api_port = _free_ports(3)
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"

        # A leftover data dir would carry the previous run's member and peer URL; every start
        # is a fresh cluster.
        data_dir = self.workdir / "etcd-data"
        shutil.rmtree(data_dir, ignore_errors=True)
        etcd_args = [
            str(self.binaries / "etcd"),
            "--name=default",
            f"--data-dir={data_dir}",
            f"--listen-client-urls={etcd_url}",
            f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=default={peer_url}",
            "--initial-cluster-state=new",
            f"--quota-backend-bytes={ETCD_QUOTA_BYTES}",
        ]
        # Losing data on a crash is irrelevant for a throwaway cluster, and fsync dominates
        # write latency on slow disks. Probed because older etcd releases lack the flag.
        if self._etcd_supports("--unsafe-no-fsync"):
            etcd_args.append("--unsafe-no-fsync")
        self._etcd = self._spawn(etcd_args, self.etcd_log)
        self._wait_for_etcd(etcd_url, deadline)

        pki = self.pki_dir
        apiserver_args = [
            str(self.binaries / "kube-apiserver"),
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={api_port}",
            # Ignored while --tls-cert-file is set; named so nothing could ever be written
            # to the default /var/run/kubernetes.
            f"--cert-dir={pki}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
            f"--api-audiences={SERVICE_ACCOUNT_ISSUER}",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--authorization-mode=RBAC",
            # Admission plugins stay at their defaults, ServiceAccount included: it only
            # needs the namespace's default ServiceAccount to exist (ensure_namespace creates
            # it) and mounts projected tokens, which need no token controller.
        ]
        self._apiserver_args = apiserver_args
        self._apiserver = self._spawn(apiserver_args, self.apiserver_log)
        self._server = f"https://127.0.0.1:{api_port}"
        self._wait_for_apiserver(api_port, deadline)

    def restart_apiserver(self, down_seconds: float = 3.0) -> None:
        """Stop kube-apiserver, keep it down a while, start it again on the same port with
        the same etcd, so clients see a real outage and a real recovery."""
        if self._apiserver is None or self._server is None:
            raise ControlPlaneError("the control plane is not running")
        _terminate(self._apiserver)
        time.sleep(down_seconds)
        self._apiserver = self._spawn(self._apiserver_args, self.apiserver_log)
        port = int(self._server.rsplit(":", 1)[1])
        self._wait_for_apiserver(port, time.monotonic() + READY_TIMEOUT_S)

    def _etcd_supports(self, flag: str) -> bool:
        probe = subprocess.run(
            [str(self.binaries / "etcd"), "--help"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        return flag in probe.stdout or flag in probe.stderr

    def _spawn(self, args: list[str], log_path: pathlib.Path) -> subprocess.Popen[bytes]:
        log = log_path.open("wb")
        self._log_files.append(log)
        # A new session keeps Ctrl-C in the terminal from reaching the child directly: the
        # Python side decides when to stop it, in order (API server before etcd).
        return subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _wait_for_etcd(self, url: str, deadline: float) -> None:
        port = int(url.rsplit(":", 1)[1])
        last = "no answer yet"
        while True:
            self._check_alive(self._etcd, "etcd", self.etcd_log)
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                try:
                    conn.request("GET", "/health")
                    response = conn.getresponse()
                    body = response.read().decode(errors="replace")
                finally:
                    conn.close()
                if response.status == 200 and '"true"' in body:
                    return
                last = f"HTTP {response.status}: {body.strip()}"
            except OSError as error:
                last = str(error)
            if time.monotonic() > deadline:
                raise ControlPlaneError(
                    f"etcd did not become healthy in time ({last})\n"
                    + _tail(self.etcd_log, LOG_TAIL_LINES)
                )
            time.sleep(0.1)

    def _wait_for_apiserver(self, port: int, deadline: float) -> None:
        context = self._admin_ssl_context()
        last = "no answer yet"
        while True:
            self._check_alive(self._apiserver, "kube-apiserver", self.apiserver_log)
            # etcd dying under a starting API server shows up only as retries in its log.
            self._check_alive(self._etcd, "etcd", self.etcd_log)
            try:
                conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=context)
                try:
                    conn.request("GET", "/readyz")
                    response = conn.getresponse()
                    body = response.read().decode(errors="replace")
                finally:
                    conn.close()
                if response.status == 200:
                    return
                # The verbose body lists each failing check, the useful part on timeout.
                last = f"HTTP {response.status}: {body.strip()}"
            except OSError as error:
                last = str(error)
            if time.monotonic() > deadline:
                raise ControlPlaneError(
                    f"kube-apiserver was not ready within {READY_TIMEOUT_S:g} s "
                    f"(last /readyz: {last})\n"
                    f"last {LOG_TAIL_LINES} lines of {self.apiserver_log}:\n"
                    + _tail(self.apiserver_log, LOG_TAIL_LINES)
                )
            time.sleep(0.25)

    def _check_alive(
        self, proc: subprocess.Popen[bytes] | None, name: str, log_path: pathlib.Path
    ) -> None:
        if proc is None or proc.poll() is None:
            return
        tail = _tail(log_path, LOG_TAIL_LINES)
        error_class = _PortInUseError if "address already in use" in tail else ControlPlaneError
        raise error_class(
            f"{name} exited with status {proc.returncode} during startup; "
            f"last {LOG_TAIL_LINES} lines of {log_path}:\n{tail}"
        )

    def _admin_ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        context.load_cert_chain(str(self.pki_dir / "admin.crt"), str(self.pki_dir / "admin.key"))
        return context

    # -- credentials -------------------------------------------------------------------------

    def _write_pki(self) -> None:
        """Write a fresh CA, serving and admin certificates, and the service-account keys."""
        self.pki_dir.mkdir(parents=True, exist_ok=True)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gantry-devstack-ca")])
        ca_cert = (
            _cert_builder(ca_name, ca_name, ca_key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(cert_sign=True), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        _write_cert(self.pki_dir / "ca.crt", ca_cert)
        _write_key(self.pki_dir / "ca.key", ca_key)

        # Names a client may dial: loopback for the tests, the in-cluster service names so a
        # kubeconfig pointed at them would verify too.
        serving_names: list[x509.GeneralName] = [
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("10.0.0.1")),
            x509.DNSName("localhost"),
            x509.DNSName("kubernetes"),
            x509.DNSName("kubernetes.default"),
            x509.DNSName("kubernetes.default.svc"),
        ]
        self._issue(
            "apiserver",
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]),
            ExtendedKeyUsageOID.SERVER_AUTH,
            ca_cert,
            ca_key,
            san=serving_names,
        )
        # The API server maps a client certificate's CN to the user and each O to a group.
        self._issue(
            "admin",
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, ADMIN_GROUP),
                    x509.NameAttribute(NameOID.COMMON_NAME, ADMIN_USER),
                ]
            ),
            ExtendedKeyUsageOID.CLIENT_AUTH,
            ca_cert,
            ca_key,
        )

        # Service-account tokens are signed with RSA (RS256), the algorithm every client and
        # the API server's own JWKS document handle.
        sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _write_key(self.pki_dir / "sa.key", sa_key)
        (self.pki_dir / "sa.pub").write_bytes(
            sa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def _issue(
        self,
        stem: str,
        subject: x509.Name,
        usage: x509.ObjectIdentifier,
        ca_cert: x509.Certificate,
        ca_key: ec.EllipticCurvePrivateKey,
        *,
        san: list[x509.GeneralName] | None = None,
    ) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            _cert_builder(subject, ca_cert.subject, key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(cert_sign=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        _write_cert(self.pki_dir / f"{stem}.crt", builder.sign(ca_key, hashes.SHA256()))
        _write_key(self.pki_dir / f"{stem}.key", key)

    def _write_admin_kubeconfig(self) -> None:
        user = {
            "client-certificate-data": _b64(self.pki_dir / "admin.crt"),
            "client-key-data": _b64(self.pki_dir / "admin.key"),
        }
        _write_kubeconfig(self.kubeconfig, self.server, self.ca_file, ADMIN_USER, user, None)

    # -- helpers for tests and the demo ------------------------------------------------------

    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        kubeconfig: pathlib.Path | None = None,
        timeout: float = KUBECTL_TIMEOUT_S,
    ) -> subprocess.CompletedProcess[str]:
        """Run the built kubectl against this plane, as admin unless `kubeconfig` is given.

        With `check`, a non-zero exit raises `KubectlError` (a CalledProcessError whose message
        includes kubectl's stderr).
        """
        command = [
            str(self.binaries / "kubectl"),
            f"--kubeconfig={kubeconfig or self.kubeconfig}",
            # Keep kubectl's discovery cache with this plane instead of in ~/.kube, which
            # would collect one folder per random port.
            f"--cache-dir={self.workdir / 'kubectl-cache'}",
            *args,
        ]
        result = subprocess.run(
            command,
            input=input,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            # KUBECONFIG from the developer's shell must never leak into a test command.
            env={k: v for k, v in os.environ.items() if k != "KUBECONFIG"},
        )
        if check and result.returncode != 0:
            raise KubectlError(result.returncode, command, result.stdout, result.stderr)
        return result

    def ensure_namespace(self, name: str) -> None:
        """Create namespace `name` and its ``default`` ServiceAccount if they are missing.

        Without a controller-manager nobody creates the ``default`` ServiceAccount, and the
        ServiceAccount admission plugin rejects pods in a namespace that lacks it.
        """
        manifests = [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": "default", "namespace": name},
            },
        ]
        # Server-side apply is idempotent and tolerates objects made by someone else (the
        # bootstrap controller creates the default namespace concurrently with us).
        self.kubectl(
            "apply",
            "--server-side",
            "--field-manager=gantry-devstack",
            "-f",
            "-",
            input=yaml.safe_dump_all(manifests),
        )

    def service_account_kubeconfig(
        self, namespace: str, name: str, path: str | os.PathLike[str]
    ) -> pathlib.Path:
        """Write a kubeconfig that authenticates as ServiceAccount `namespace`/`name`.

        The token comes from the TokenRequest API (valid 24 h), so the holder has exactly the
        ServiceAccount's RBAC permissions, as an operator pod would in a real cluster.
        """
        token = self.kubectl(
            "create", "token", name, f"--namespace={namespace}", "--duration=24h"
        ).stdout.strip()
        if not token:
            raise ControlPlaneError(f"kubectl create token {namespace}/{name} returned no token")
        target = pathlib.Path(path)
        _write_kubeconfig(
            target,
            self.server,
            self.ca_file,
            f"system:serviceaccount:{namespace}:{name}",
            {"token": token},
            namespace,
        )
        return target


# -- module helpers --------------------------------------------------------------------------


def _free_ports(count: int) -> list[int]:
    """Ask the kernel for `count` distinct free loopback ports.

    All sockets stay open until every port is chosen, so the kernel cannot hand out the
    same port twice; they are closed before the children bind (see PORT_RACE_ATTEMPTS).
    """
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, wait STOP_GRACE_S, then SIGKILL; the whole process group (own session)."""
    if proc.poll() is not None:
        return
    # poll() returned None, so the child is not reaped yet and its pid, which is also its
    # process-group id (start_new_session), cannot have been reused.
    _signal_group(proc, signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        _signal_group(proc, signal.SIGKILL)
        proc.wait()


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    # The child may exit between poll() and here; the signal then has nobody to reach.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def _tail(path: pathlib.Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as error:
        return f"(could not read {path}: {error})"
    return "\n".join(text.splitlines()[-lines:])


def _cert_builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        # Backdated a little so a client whose clock lags slightly still accepts it.
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _write_cert(path: pathlib.Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _write_key(path: pathlib.Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    _write_private(
        path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def _write_private(path: pathlib.Path, data: bytes) -> None:
    """Write a secret readable by the owner only (created so, never briefly world-readable)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _b64(path: pathlib.Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def _write_kubeconfig(
    path: pathlib.Path,
    server: str,
    ca_file: pathlib.Path,
    user_name: str,
    user: dict[str, str],
    namespace: str | None,
) -> None:
    context: dict[str, Any] = {"cluster": "gantry-devstack", "user": user_name}
    if namespace is not None:
        context["namespace"] = namespace
    config: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "gantry-devstack",
                "cluster": {"server": server, "certificate-authority-data": _b64(ca_file)},
            }
        ],
        "users": [{"name": user_name, "user": user}],
        "contexts": [{"name": "gantry-devstack", "context": context}],
        "current-context": "gantry-devstack",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_private(path, yaml.safe_dump(config, sort_keys=False).encode())
