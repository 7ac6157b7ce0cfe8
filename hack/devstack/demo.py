"""`make demo`: Gantry doing its job on one machine, with no cluster and no AWS account.

Starts a real kube-apiserver and etcd, moto as the AWS endpoint, installs the CRDs and the
deploy/ RBAC, runs `gantry run` with the service-account identity from deploy/ (a TokenRequest
token, not the admin kubeconfig), applies examples/ into the `demo` namespace, shows progress
until every object is Ready, prints what exists in Kubernetes and in the emulated AWS account,
then waits for Ctrl-C (or exits at once with DEMO_EXIT=1). Every process it started is stopped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3

from devstack.controlplane import ControlPlane
from devstack.moto import MotoServer
from devstack.operator import OperatorProcess

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "demo"
# moto's ECS services never roll: a new service reports this many running tasks. The example
# EcsService asks for 2, so it reaches Ready (running == desired) in the demo.
MOTO_ENV = {"MOTO_ECS_SERVICE_RUNNING": "2"}


def say(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def install(cp: ControlPlane) -> None:
    cp.kubectl("apply", "--server-side", "-k", str(ROOT / "crds"))
    cp.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    for name in ("namespace.yaml", "serviceaccount.yaml", "rbac.yaml"):
        cp.kubectl("apply", "--server-side", "-f", str(ROOT / "deploy" / "base" / name))


def wait_until_ready(cp: ControlPlane, timeout: float = 120) -> bool:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        table = cp.kubectl("get", "gantry", "-n", NAMESPACE, check=False).stdout
        if table != last:
            print(table, flush=True)
            last = table
        # kubectl prints one table (with its own NAME header) per kind.
        lines = [line.split() for line in table.splitlines() if line.strip()]
        rows = [row for row in lines if row[0] != "NAME"]
        if rows and all(len(row) > 1 and row[1] == "True" for row in rows):
            return True
        time.sleep(2)
    return False


def aws_inventory(env: dict[str, str]) -> None:
    def client(service: str, region: str = env["AWS_REGION"]) -> Any:
        return boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=env["AWS_ENDPOINT_URL"],
            region_name=region,
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        )

    ecr = client("ecr")
    for repo in ecr.describe_repositories()["repositories"]:
        policy = _optional(ecr.get_lifecycle_policy, repositoryName=repo["repositoryName"])
        print(
            f"  ECR repository {repo['repositoryName']} ({repo['imageTagMutability']}, "
            f"lifecycle policy {'set' if policy else 'none'})"
        )
    ecs = client("ecs")
    for cluster in ecs.list_clusters()["clusterArns"]:
        print(f"  ECS cluster {cluster.rsplit('/', 1)[-1]}")
        for arn in ecs.list_services(cluster=cluster)["serviceArns"]:
            service = ecs.describe_services(cluster=cluster, services=[arn])["services"][0]
            print(
                f"    service {service['serviceName']}: {service['taskDefinition']}, "
                f"{service['runningCount']}/{service['desiredCount']} running"
            )
    for region in ("us-east-1", "eu-west-1"):
        for stack in client("cloudformation", region).describe_stacks()["Stacks"]:
            print(
                f"  CloudFormation stack {stack['StackName']} in {region}: {stack['StackStatus']}"
            )


def _optional(call: Any, **params: Any) -> Any:
    try:
        return call(**params)
    except Exception:  # the demo only reports; absence is an answer
        return None


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="gantry-demo-") as tmp:
        workdir = Path(tmp)
        say("starting a real kube-apiserver + etcd and moto (the AWS emulator)")
        with (
            ControlPlane(workdir / "control-plane") as cp,
            MotoServer(workdir, extra_env=MOTO_ENV) as moto,
        ):
            install(cp)
            kubeconfig = cp.service_account_kubeconfig(
                "gantry-system", "gantry", workdir / "gantry.kubeconfig"
            )
            say("running `gantry run` as system:serviceaccount:gantry-system:gantry")
            # Shorter than the defaults (10 minutes, 2 hours), so a change made behind
            # Gantry's back during the tour comes back while you watch.
            env = {
                **moto.client_env(),
                "GANTRY_CLUSTER_ID": "demo",
                "GANTRY_DRIFT_INTERVAL": "60",
                "GANTRY_FULL_CHECK_INTERVAL": "300",
            }
            operator = OperatorProcess(kubeconfig, env, workdir / "gantry.log").start()
            try:
                return run_demo(cp, operator, env)
            finally:
                operator.stop()


def run_demo(cp: ControlPlane, operator: OperatorProcess, env: dict[str, str]) -> int:
    cp.ensure_namespace(NAMESPACE)
    # The example ClusterEcrPullSecret serves namespaces with this label: the demo's is one.
    cp.kubectl("label", "namespace", NAMESPACE, "pulls-from-ecr=true", "--overwrite")
    say(f"applying examples/ into namespace {NAMESPACE}")
    print(cp.kubectl("apply", "-n", NAMESPACE, "-f", str(ROOT / "examples")).stdout)
    say("waiting for every object to be Ready")
    ok = wait_until_ready(cp)
    say("kubectl get gantry -n demo")
    print(cp.kubectl("get", "gantry", "-n", NAMESPACE).stdout)
    say("what now exists in the emulated AWS account")
    aws_inventory(env)
    if not ok:
        say("not everything became Ready; the operator's last log lines:")
        print(operator.log_tail(40))
        return 1
    if os.environ.get("DEMO_EXIT"):
        return 0
    say("the stack keeps running until Ctrl-C (or SIGTERM), which stops and removes all of it")
    print(f"  export KUBECONFIG={cp.kubeconfig}   # cluster admin")
    print(f"  kubectl:      {cp.binaries / 'kubectl'}")
    print(
        f"  AWS emulator: AWS_ENDPOINT_URL={env['AWS_ENDPOINT_URL']} "
        f"AWS_ACCESS_KEY_ID={env['AWS_ACCESS_KEY_ID']} "
        f"AWS_SECRET_ACCESS_KEY={env['AWS_SECRET_ACCESS_KEY']} AWS_REGION={env['AWS_REGION']}"
    )
    print(f"  operator log: {operator.log_path}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        signal.pause()
    return 0


if __name__ == "__main__":
    # SIGTERM unwinds like Ctrl-C, so every process the demo started is stopped. A shell
    # starts a background job with SIGINT ignored; the demo wants it back either way.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
