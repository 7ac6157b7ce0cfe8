"""The CdkBootstrap reconcile: one CloudFormation stack per region, deployed by change sets.

Called by `handlers.py` through the shared runner with a `Pass`, the parsed spec and a reader
for ConfigMaps (the only Kubernetes read; handlers own the client). Each region is reconciled
on its own (observe the stack, refuse what is not ours, decide, deploy, check drift) and ends
in a `RegionResult`; the object's outcome and conditions are the sum of the regions. Calls
`aws.py` for I/O and `diff.py` for every decision; knows nothing of kopf.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gantry.cdk import aws, diff
from gantry.cdk import template as builtin
from gantry.cdk.diff import StackState
from gantry.cdk.models import (
    APPROVE_ANNOTATION,
    CONTINUE_ROLLBACK_ANNOTATION,
    CdkBootstrapSpec,
    ChangeSetExecution,
    TemplateSource,
)
from gantry.core.conditions import FALSE, TRUE, Outcome, Phase, extra_condition
from gantry.core.errors import GantryError, Terminal
from gantry.core.models import DeletionPolicy
from gantry.core.reconcile import Event, Pass, Result
from gantry.settings import SETTINGS

# (namespace, name) -> the ConfigMap's data, or None when there is no such ConfigMap
ConfigMapReader = Callable[[str, str], dict[str, str] | None]
IN_PROGRESS_POLL = 10.0
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")


@dataclass(frozen=True)
class Source:
    """The template to deploy, as sent (canonical JSON) and as judged."""

    template: dict[str, Any]
    body: str
    hash: str
    version: int
    variant: str | None


@dataclass
class RegionResult:
    state: str  # Ready, Progressing, Pending, Blocked, Error
    reason: str
    message: str
    status: dict[str, Any]
    drift: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    poll_after: float | None = None


@dataclass
class Region:
    """One region's work within a pass."""

    work: Pass
    spec: CdkBootstrapSpec
    source: Source
    account: str
    name: str
    previous: dict[str, Any]
    status: dict[str, Any]
    record: Callable[[], None]

    def client(self, service: str) -> Any:
        identity = dataclasses.replace(self.work.identity, region=self.name)
        return self.work.clients.get(service, identity)

    @property
    def cfn(self) -> Any:
        return self.client(aws.CLOUDFORMATION)

    def result(
        self, state: str, reason: str, message: str, poll: float | None = None
    ) -> RegionResult:
        self.status.update(state=state, message=message)
        return RegionResult(state, reason, message, self.status, poll_after=poll)


# --- the template --------------------------------------------------------------------------


def load_source(work: Pass, spec: CdkBootstrapSpec, read: ConfigMapReader) -> Source | Result:
    """The template to deploy, or a Stalled result when the ConfigMap holding it is missing
    (a person must create it; the spec need not change, so it is looked at again)."""
    if spec.template.source == TemplateSource.BUILTIN:
        rendered = builtin.render()
        return _source(rendered)
    ref = spec.template.config_map_ref
    assert ref is not None  # CEL requires it with source ConfigMap
    data = read(work.namespace, ref.name)
    if data is None or ref.key not in data:
        missing = (
            f"ConfigMap {ref.name} does not exist in this namespace"
            if data is None
            else f"ConfigMap {ref.name} has no key {ref.key}"
        )
        result = Result.stalled(
            "TemplateNotFound",
            f"{missing}; put the template there, for example from `cdk bootstrap "
            "--show-template` or `gantry cdk-template`. Looked at again every "
            f"{SETTINGS.blocked_retry_delay:g}s.",
        )
        result.poll_after = SETTINGS.blocked_retry_delay
        return result
    try:
        template = diff.load_template(data[ref.key])
    except Terminal as exc:  # say where the template is, as the contract check does
        raise Terminal(exc.code, f"ConfigMap {ref.name}/{ref.key}: {exc.message}") from exc
    problems = diff.contract_problems(template)
    if problems:
        raise Terminal(
            "InvalidTemplate",
            f"ConfigMap {ref.name}/{ref.key} is not a bootstrap template: {'; '.join(problems)}",
        )
    source = _source(template)
    size = len(source.body.encode())
    if size > TEMPLATE_BODY_LIMIT:
        raise Terminal(
            "InvalidTemplate",
            f"ConfigMap {ref.name}/{ref.key} is {size} bytes as JSON, over "
            f"CloudFormation's {TEMPLATE_BODY_LIMIT} for a template sent inline; shorten it",
        )
    return source


# CloudFormation's limit for TemplateBody; a larger template needs an S3 URL, which Gantry
# does not use (the staging bucket it would go to is what the template creates).
TEMPLATE_BODY_LIMIT = 51_200


def _source(template: dict[str, Any]) -> Source:
    version = diff.template_version(template)
    assert version is not None  # the builtin has one; user templates were checked
    return Source(
        template,
        builtin.canonical_json(template),
        builtin.template_hash(template),
        version,
        diff.template_variant(template),
    )


# --- the pass ------------------------------------------------------------------------------


def reconcile(work: Pass, spec: CdkBootstrapSpec, read: ConfigMapReader) -> Result:
    source = load_source(work, spec, read)
    if isinstance(source, Result):
        return source
    account = aws.account_id(work.client("sts"))
    previous = _recorded(work)
    retiring = _removed(spec, previous)
    statuses: dict[str, dict[str, Any]] = {}

    def record() -> None:
        # A merge patch replaces the whole list: send every region, done or not yet, and
        # the removed ones still being deleted, so a crash now does not forget them.
        merged = [
            {"region": n, **(previous.get(n) or {}), **statuses.get(n, {})}
            for n in [*spec.regions, *retiring]
        ]
        work.record({"regions": [_stored(r) for r in merged]})

    results = []
    for name in spec.regions:
        earlier = previous.get(name) or {}
        statuses[name] = {"region": name, **{k: earlier[k] for k in _KEPT if k in earlier}}
        region = Region(
            work, spec, source, account, name, previous.get(name) or {}, statuses[name], record
        )
        results.append(_guarded(region))
    for gone in retiring:
        left = _retire(work, spec, gone, previous[gone])
        if left is not None:
            results.append(left)
    return _summary(work, spec, source, account, results)


def _recorded(work: Pass) -> dict[Any, dict[str, Any]]:
    """Each region's status from the last pass, by region."""
    return {r.get("region"): r for r in work.status.get("regions") or []}


def _removed(spec: CdkBootstrapSpec, previous: dict[Any, dict[str, Any]]) -> list[str]:
    """Regions in status that the spec no longer lists: removed, their stacks maybe still
    being deleted."""
    return [str(n) for n in previous if n not in spec.regions]


def _stored(value: Any) -> Any:
    """A region's status as the API server keeps it. Inside a list, a null field is not
    stored, so one sent would make the stored object differ from the patch (kopf warns on
    every write); leaving it out clears it just the same, as the list is replaced whole."""
    if isinstance(value, dict):
        return {k: _stored(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_stored(v) for v in value]
    return value


# What a pass carries over from the previous one when it does not learn it afresh.
_KEPT = ("stackId", "applied", "executed", "failed", "resources", "terminationProtection")


def _guarded(region: Region) -> RegionResult:
    try:
        return _reconcile_region(region)
    except Terminal as exc:
        return region.result("Blocked", exc.code, exc.message or exc.code)
    except GantryError as exc:
        message = f"{exc}; retrying"
        return region.result("Error", exc.code or "Retrying", message, SETTINGS.retry_delay)


def _reconcile_region(region: Region) -> RegionResult:
    spec, work = region.spec, region.work
    stack = aws.describe_stack(region.cfn, spec.stack_name)
    known_id = region.previous.get("stackId")
    if stack is not None and not diff.is_ours(stack, work.owner, known_id):
        return _blocked_foreign(region, stack)
    _describe_stack(region, stack)
    state = diff.stack_state(stack.get("StackStatus") if stack else None)

    if state is StackState.IN_PROGRESS:
        return region.result(
            "Progressing", "StackInProgress", "stack operation in progress", IN_PROGRESS_POLL
        )
    if state is StackState.ROLLBACK_FAILED:
        return _rollback_failed(region)
    if state is StackState.FAILED:
        return region.result(
            "Blocked",
            "StackFailed",
            f"stack {spec.stack_name} is {stack and stack['StackStatus']}; look at its events, "
            "fix the cause, then delete the stack so Gantry can create it again",
        )
    return _converge(region, stack, state)


def _converge(region: Region, stack: dict[str, Any] | None, state: StackState) -> RegionResult:
    spec = region.spec
    parameters = diff.parameters_for(
        region.source.template, diff.parameter_values(spec, region.name)
    )
    tags = diff.stack_tags(spec, region.work.owner)
    wanted = {**tags, "protection": str(spec.termination_protection)}
    print_ = diff.fingerprint(region.source.hash, parameters, wanted)
    region.status["templateHash"] = region.source.hash

    if state is StackState.HEALTHY and _in_sync(region, stack or {}, print_):
        region.status["applied"] = print_
        return _healthy(region, stack or {})
    refusal = _refusal(region, stack, state, print_)
    if refusal is not None:
        return refusal
    if state is StackState.RECREATE and not _awaits_approval(region, print_):
        aws.delete_stack(region.cfn, spec.stack_name)
        region.work.logger.info("%s: stack left from an unfinished create deleted", region.name)
        stack = aws.describe_stack(region.cfn, spec.stack_name)
        if stack is not None:
            return region.result(
                "Progressing", "StackDeleting", "deleting a failed stack", IN_PROGRESS_POLL
            )
    if stack is None:
        taken = _collisions(region)
        if taken:
            return region.result(
                "Blocked",
                "NameCollision",
                f"resources with this environment's names exist outside its stack: "
                f"{', '.join(taken)}. Delete or rename them, or choose another qualifier.",
            )
    return _deploy(region, stack, parameters, tags, print_)


def _refusal(
    region: Region, stack: dict[str, Any] | None, state: StackState, print_: str
) -> RegionResult | None:
    """Deploys that must not happen: one CloudFormation already rolled back, a downgrade."""
    if _rolled_back(region, stack, print_):
        return region.result(
            "Blocked",
            "DeployRolledBack",
            f"CloudFormation rolled back change set {diff.change_set_name(print_)}; read the "
            f"stack events of {region.spec.stack_name} in {region.name}, then change the spec "
            "(a retry of the same change would fail the same way).",
        )
    # Only a deploy can downgrade; a stack already in sync keeps its (repaired) parameter.
    if state is not StackState.HEALTHY:
        return None
    deployed = _deployed_version(region, stack)
    problem = diff.downgrade_problem(region.source.version, deployed, region.spec.allow_downgrade)
    return region.result("Blocked", "DowngradeRefused", problem) if problem else None


def _in_sync(region: Region, stack: dict[str, Any], print_: str) -> bool:
    if region.previous.get("applied") != print_:
        return False
    # The template is the one thing a person can change on the stack without us noticing
    # through the resources' own checks; compare what CloudFormation holds.
    live = diff.body_hash(aws.template_body(region.cfn, region.spec.stack_name))
    return live == region.source.hash


def _rolled_back(region: Region, stack: dict[str, Any] | None, print_: str) -> bool:
    """This very deploy was executed before and CloudFormation rolled it back; retrying it
    would only roll back again."""
    status = (stack or {}).get("StackStatus")
    rolled_back = status in ("ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_COMPLETE")
    if rolled_back and region.previous.get("executed") == print_:
        region.status["failed"] = print_
    return region.status.get("failed") == print_


def _awaits_approval(region: Region, print_: str) -> bool:
    pending = region.previous.get("pendingChangeSet") or {}
    return pending.get("name") == diff.change_set_name(print_)


# --- deploying -----------------------------------------------------------------------------


def _deploy(
    region: Region,
    stack: dict[str, Any] | None,
    parameters: dict[str, str],
    tags: dict[str, str],
    print_: str,
) -> RegionResult:
    spec, cfn = region.spec, region.cfn
    name = diff.change_set_name(print_)
    create = stack is None or stack.get("StackStatus") == "REVIEW_IN_PROGRESS"
    change_set = None
    if stack is not None:
        _drop_stale_change_sets(region, name)
        change_set = aws.describe_change_set(cfn, spec.stack_name, name)
    if change_set is None:
        aws.create_change_set(
            cfn, spec.stack_name, name, region.source.body, parameters, tags, create
        )
        region.work.logger.info("%s: change set %s created", region.name, name)
        _describe_stack(region, aws.describe_stack(cfn, spec.stack_name))
        region.record()  # the stack id is known before anything else can fail
        change_set = aws.describe_change_set(cfn, spec.stack_name, name) or {}
    return _follow_change_set(region, change_set, name, print_)


def _drop_stale_change_sets(region: Region, keep: str) -> None:
    for summary in aws.change_sets(region.cfn, region.spec.stack_name):
        stale = summary.get("ChangeSetName", "")
        if stale.startswith("gantry-") and stale != keep:
            aws.delete_change_set(region.cfn, region.spec.stack_name, stale)


def _follow_change_set(
    region: Region, change_set: dict[str, Any], name: str, print_: str
) -> RegionResult:
    status = str(change_set.get("Status") or "")
    reason = str(change_set.get("StatusReason") or "")
    if status == "FAILED" and any(text in reason for text in NO_CHANGES):
        aws.delete_change_set(region.cfn, region.spec.stack_name, name)
        region.status["applied"] = print_
        return _healthy(region, aws.describe_stack(region.cfn, region.spec.stack_name) or {})
    if status == "FAILED":
        return region.result("Blocked", "ChangeSetFailed", f"change set {name} failed: {reason}")
    if status != "CREATE_COMPLETE":
        return region.result(
            "Progressing", "ChangeSetPending", f"change set {name} is {status}", IN_PROGRESS_POLL
        )
    if not _approved(region, name):
        return _await_approval(region, change_set, name)
    aws.execute_change_set(region.cfn, region.spec.stack_name, name)
    region.status["executed"] = print_
    region.work.logger.info("%s: change set %s executed", region.name, name)
    stack = aws.describe_stack(region.cfn, region.spec.stack_name) or {}
    _describe_stack(region, stack)
    if diff.stack_state(stack.get("StackStatus")) is not StackState.HEALTHY:
        return region.result(
            "Progressing", "StackInProgress", f"change set {name} executing", IN_PROGRESS_POLL
        )
    region.status["applied"] = print_
    return _healthy(region, stack)


def _approved(region: Region, name: str) -> bool:
    if region.spec.change_set_execution == ChangeSetExecution.AUTO:
        return True
    annotations = region.work.body["metadata"].get("annotations") or {}
    return str(annotations.get(APPROVE_ANNOTATION, "")) == name


def _await_approval(region: Region, change_set: dict[str, Any], name: str) -> RegionResult:
    region.status["pendingChangeSet"] = {
        "name": name,
        "id": str(change_set.get("ChangeSetId") or ""),
        "changes": diff.summarize_changes(change_set.get("Changes") or []),
    }
    message = (
        f"change set {name} awaits review; approve it with "
        f"`kubectl annotate cdkbootstrap {region.work.name} {APPROVE_ANNOTATION}={name}`"
    )
    return region.result("Pending", "AwaitingApproval", message, SETTINGS.blocked_retry_delay)


# --- refusals --------------------------------------------------------------------------------


def _blocked_foreign(region: Region, stack: dict[str, Any]) -> RegionResult:
    region.status["stackStatus"] = stack.get("StackStatus")
    return region.result(
        "Blocked",
        "ForeignStack",
        f"stack {region.spec.stack_name} in {region.name} ({stack.get('StackId')}) was not made "
        f"by this object ({diff.describe_foreign(stack)}); it is left untouched. Delete it, or "
        "choose another stackName and qualifier.",
    )


def _rollback_failed(region: Region) -> RegionResult:
    annotations = region.work.body["metadata"].get("annotations") or {}
    stack_name = region.spec.stack_name
    if str(annotations.get(CONTINUE_ROLLBACK_ANNOTATION, "")).lower() == "true":
        note = aws.continue_update_rollback(region.cfn, stack_name)
        if note is None:
            return region.result(
                "Progressing", "ContinuingRollback", "rollback continued", IN_PROGRESS_POLL
            )
        return region.result("Blocked", "OperationNotSupported", note)
    return region.result(
        "Blocked",
        "UpdateRollbackFailed",
        f"stack {stack_name} is UPDATE_ROLLBACK_FAILED. Fix the resource that blocks the "
        f"rollback and run `aws cloudformation continue-update-rollback --stack-name "
        f"{stack_name} --region {region.name}` (skip resources if needed), or annotate this "
        f"object {CONTINUE_ROLLBACK_ANNOTATION}=true to let Gantry continue it.",
    )


def _collisions(region: Region) -> list[str]:
    """Resources with our physical names that exist while our stack does not."""
    names = diff.physical_names(region.spec, region.account, region.name)
    taken = []
    if aws.bucket_exists(region.client("s3"), names["bucketName"]):
        taken.append(f"bucket {names['bucketName']}")
    if aws.repository_exists(region.client("ecr"), names["repositoryName"]):
        taken.append(f"repository {names['repositoryName']}")
    if aws.version_parameter(region.client("ssm"), names["versionParameter"]) is not None:
        taken.append(f"parameter {names['versionParameter']}")
    iam = region.client("iam")
    taken += [f"role {role}" for role in names["roles"] if aws.role_trust(iam, role) is not None]
    return taken


# --- a deployed stack --------------------------------------------------------------------------


def _describe_stack(region: Region, stack: dict[str, Any] | None) -> None:
    if stack is None:
        return
    region.status["stackId"] = stack.get("StackId")
    region.status["stackStatus"] = stack.get("StackStatus")


def _output(stack: dict[str, Any] | None, key: str) -> str | None:
    for output in (stack or {}).get("Outputs") or []:
        if output.get("OutputKey") == key:
            return str(output.get("OutputValue"))
    return None


def _deployed_version(region: Region, stack: dict[str, Any] | None) -> int | None:
    if stack is None:
        return None
    from_output = diff.parse_version(_output(stack, "BootstrapVersion"))
    if from_output is not None:
        return from_output
    name = builtin.VERSION_PARAMETER.format(qualifier=region.spec.qualifier)
    parameter = aws.version_parameter(region.client("ssm"), name)
    return diff.parse_version((parameter or {}).get("Value"))


def _healthy(region: Region, stack: dict[str, Any]) -> RegionResult:
    _describe_stack(region, stack)
    names = diff.physical_names(region.spec, region.account, region.name)
    bucket = _output(stack, "BucketName") or names["bucketName"]
    names["bucketName"] = bucket
    names["repositoryName"] = _output(stack, "ImageRepositoryName") or names["repositoryName"]
    region.status["resources"] = names
    result = region.result("Ready", "Available", "bootstrapped")
    _protect(region, stack)
    _check_version_parameter(region, result, stack)
    _check_trust(region, result, names["roles"])
    if not aws.bucket_exists(region.client("s3"), bucket):
        message = (
            f"staging bucket {bucket} no longer exists; `cdk deploy` of file assets fails and "
            "the name could be claimed by another account. Delete the stack (it keeps no "
            "data without the bucket) so Gantry creates it again."
        )
        blocked = region.result("Blocked", "StagingBucketMissing", message)
        blocked.drift, blocked.events = [*result.drift, message], result.events
        return blocked
    return result


def _protect(region: Region, stack: dict[str, Any]) -> None:
    wanted = region.spec.termination_protection
    if bool(stack.get("EnableTerminationProtection")) == wanted:
        region.status["terminationProtection"] = "Enabled" if wanted else "Disabled"
        return
    earlier = str(region.previous.get("terminationProtection") or "")
    if earlier.startswith("NotApplied") and region.previous.get("applied") == region.status.get(
        "applied"
    ):
        region.status["terminationProtection"] = earlier  # the same answer would come back
        return
    note = aws.set_termination_protection(region.cfn, region.spec.stack_name, wanted)
    if note is None:
        region.status["terminationProtection"] = "Enabled" if wanted else "Disabled"
    else:
        region.work.logger.warning("%s: termination protection not applied: %s", region.name, note)
        region.status["terminationProtection"] = f"NotApplied: {note}"


def _check_version_parameter(region: Region, result: RegionResult, stack: dict[str, Any]) -> None:
    name = builtin.VERSION_PARAMETER.format(qualifier=region.spec.qualifier)
    ssm = region.client("ssm")
    parameter = aws.version_parameter(ssm, name)
    drift = diff.version_parameter_drift(parameter, region.source.version)
    if drift is not None:
        aws.put_version_parameter(ssm, name, region.source.version)
        message = f"version parameter {name} was {drift.found}; restored {region.source.version}"
        region.work.logger.warning("%s: %s", region.name, message)
        result.drift.append(message)
        result.events.append(Event("Warning", "DriftRepaired", f"{region.name}: {message}"))
        parameter = {"Value": str(region.source.version)}
    from_parameter = diff.parse_version((parameter or {}).get("Value"))
    from_output = diff.parse_version(_output(stack, "BootstrapVersion"))
    region.status["bootstrapVersionParameter"] = from_parameter
    region.status["bootstrapVersionOutput"] = from_output
    region.status["versionMismatch"] = from_output is not None and from_output != from_parameter


def _check_trust(region: Region, result: RegionResult, roles: list[str]) -> None:
    own = {region.account}
    trusted = own | set(region.spec.trust.accounts)
    expected = {role: trusted for role in roles if "-cfn-exec-" not in role}
    lookup = next(role for role in roles if "-lookup-" in role)
    expected[lookup] = trusted | set(region.spec.trust.lookup_accounts)
    iam = region.client("iam")
    for role, accounts in expected.items():
        document = aws.role_trust(iam, role)
        missing = diff.trust_drift(document, accounts) if document is not None else accounts
        if missing:
            result.drift.append(
                f"role {role} no longer trusts {', '.join(sorted(missing))}; re-run the stack "
                "update or restore the trust policy"
            )


# --- summing up ----------------------------------------------------------------------------

_SEVERITY = ["Blocked", "Error", "Pending", "Progressing", "Ready"]
_PHASE = {
    "Blocked": Phase.STALLED,
    "Error": Phase.RETRYING,
    "Pending": Phase.PROGRESSING,
    "Progressing": Phase.PROGRESSING,
    "Ready": Phase.READY,
}


def _summary(
    work: Pass,
    spec: CdkBootstrapSpec,
    source: Source,
    account: str,
    results: list[RegionResult],
) -> Result:
    for result in results:
        result.status["drift"] = result.drift
    worst = min(results, key=lambda r: _SEVERITY.index(r.state))
    if worst.state == "Ready":
        message = f"bootstrapped in {len(results)} region(s) at version {source.version}"
        reason = "Available"
    else:
        message = "; ".join(
            f"{r.status['region']}: {r.message}" for r in results if r.state != "Ready"
        )
        reason = worst.reason
    polls = [r.poll_after for r in results if r.poll_after is not None]
    outcome = Outcome(_PHASE[worst.state], reason, message, _extras(results, source))
    status = {
        "qualifier": spec.qualifier,
        "account": account,
        "bootstrapVersion": source.version,
        "variant": source.variant,
        "trustedAccounts": sorted(spec.trust.accounts),
        "lookupAccounts": sorted(spec.trust.lookup_accounts),
        "regions": [_stored(r.status) for r in results],
    }
    events = [event for r in results for event in r.events]
    return Result(outcome, status, events, poll_after=min(polls) if polls else None)


# What a False condition says: no region is in that state.
_NONE_SAY = {
    "Blocked": "no region is blocked",
    "Drifted": "no region has drifted",
    "Progressing": "no region is progressing",
    "UpgradeAvailable": "every region runs the template's version",
}


def _extras(results: list[RegionResult], source: Source) -> tuple[dict[str, Any], ...]:
    def flag(type_: str, hits: list[RegionResult], reason: str, texts: list[str]) -> Any:
        if not hits:
            return extra_condition(type_, FALSE, "None", _NONE_SAY[type_])
        joined = "; ".join(f"{r.status['region']}: {t}" for r, t in zip(hits, texts, strict=True))
        return extra_condition(type_, TRUE, reason or hits[0].reason, joined)

    blocked = [r for r in results if r.state == "Blocked"]
    drifted = [r for r in results if r.drift]
    moving = [r for r in results if r.state in ("Progressing", "Pending")]
    behind = [r for r in results if _behind(r, source.version)]
    newer = f"version {source.version} is available"
    return (
        flag("Blocked", blocked, "", [r.message for r in blocked]),
        flag("Drifted", drifted, "DriftFound", [" | ".join(r.drift) for r in drifted]),
        flag("Progressing", moving, "", [r.message for r in moving]),
        flag("UpgradeAvailable", behind, "NewerTemplate", [newer for _ in behind]),
    )


def _behind(result: RegionResult, version: int) -> bool:
    deployed = result.status.get("bootstrapVersionParameter")
    return result.state == "Pending" or (deployed is not None and deployed < version)


# --- deletion --------------------------------------------------------------------------------


def delete(work: Pass, spec: CdkBootstrapSpec) -> Result | None:
    """None when the object may go; a Result while stacks are still being deleted."""
    if spec.deletion_policy == DeletionPolicy.RETAIN:
        work.logger.info("deletionPolicy Retain: stacks %s left in AWS", spec.stack_name)
        return None
    previous = _recorded(work)
    regions = [*spec.regions, *_removed(spec, previous)]
    left: list[dict[str, Any]] = []  # the regions still to finish, as status shows them
    waiting, failed = [], []
    for name in regions:
        # One region failing (unreachable, refused) must not hold up the others.
        earlier = {k: v for k, v in (previous.get(name) or {}).items() if k in _KEPT}
        try:
            stack_status = _delete_region(work, spec, name, previous.get(name))
        except GantryError as exc:
            work.logger.warning("%s: deleting stack %s failed: %s", name, spec.stack_name, exc)
            failed.append(f"{name}: {exc}")
            left.append({**earlier, "region": name, "state": "Error", "message": str(exc)})
            continue
        if stack_status is not None:
            waiting.append(name)
            message = f"deleting stack {spec.stack_name} ({stack_status})"
            left.append({**earlier, "region": name, "state": "Progressing", "message": message,
                         "stackStatus": stack_status})  # fmt: skip
    if not left:
        return None
    return _deletion_result(spec, waiting, failed, left)


def _deletion_result(
    spec: CdkBootstrapSpec, waiting: list[str], failed: list[str], left: list[dict[str, Any]]
) -> Result:
    parts = [f"deleting stack {spec.stack_name} in {', '.join(waiting)}"] if waiting else []
    if failed:
        parts.append(
            f"deletion failed in {'; '.join(failed)}; retrying. To release the object without "
            "touching AWS, set deletionPolicy: Retain"
        )
    reason = "DeletionFailed" if failed else "StackDeleting"
    outcome = Outcome(Phase.DELETING, reason, "; ".join(parts))
    delay = SETTINGS.retry_delay if failed else IN_PROGRESS_POLL
    return Result(outcome, {"regions": [_stored(r) for r in left]}, poll_after=delay)


def _retire(
    work: Pass, spec: CdkBootstrapSpec, region: str, previous: dict[str, Any]
) -> RegionResult | None:
    """A region removed from the spec: its stack follows the deletion policy. Under Delete
    the region stays in status, Progressing, until its stack is gone and its empty bucket
    dropped, so a later pass finishes the work and a failed deletion is seen."""
    if spec.deletion_policy != DeletionPolicy.DELETE:
        work.logger.info("%s removed from regions: stack retained", region)
        return None
    stack_status = _delete_region(work, spec, region, previous)
    if stack_status is None:
        return None
    message = f"removed from spec.regions: deleting stack {spec.stack_name} ({stack_status})"
    if stack_status == "DELETE_FAILED":
        message += "; CloudFormation could not delete it (see the stack's events), trying again"
    status: dict[str, Any] = {k: previous[k] for k in ("stackId", "resources") if k in previous}
    status.update(region=region, state="Progressing", message=message, stackStatus=stack_status)
    return RegionResult(
        "Progressing", "StackDeleting", message, status, poll_after=IN_PROGRESS_POLL
    )


def _delete_region(
    work: Pass, spec: CdkBootstrapSpec, region: str, previous: dict[str, Any] | None
) -> str | None:
    """None when nothing of ours is left to wait for in the region, else the stack's status
    (DELETE_IN_PROGRESS, or DELETE_FAILED, which the next pass tries again)."""
    identity = dataclasses.replace(work.identity, region=region)
    cfn = work.clients.get(aws.CLOUDFORMATION, identity)
    stack = aws.describe_stack(cfn, spec.stack_name)
    known_id = (previous or {}).get("stackId")
    if stack is not None:
        if not diff.is_ours(stack, work.owner, known_id):
            return None  # another stack of that name: never ours to delete
        if stack.get("StackStatus") != "DELETE_IN_PROGRESS":
            if stack.get("EnableTerminationProtection"):
                aws.set_termination_protection(cfn, spec.stack_name, False)
            aws.delete_stack(cfn, spec.stack_name)
            work.logger.info("%s: stack %s deleted", region, spec.stack_name)
        remaining = aws.describe_stack(cfn, spec.stack_name)
        if remaining is not None:
            return str(remaining.get("StackStatus") or "DELETE_IN_PROGRESS")
    # The stack is gone, in this pass or in one that stopped right after DeleteStack: the
    # bucket it retained goes too, if it is empty and it was our stack's.
    bucket = ((previous or {}).get("resources") or {}).get("bucketName")
    if bucket and known_id:
        _drop_bucket(work, work.clients.get("s3", identity), bucket)
    return None


def _drop_bucket(work: Pass, s3: Any, bucket: str) -> None:
    # The template retains the bucket so assets are never lost with a stack; an empty one
    # holds nothing, and leaving it would block the next bootstrap with the same names.
    if aws.delete_empty_bucket(s3, bucket):
        work.logger.info("staging bucket %s deleted (it was empty)", bucket)
    else:
        work.logger.warning("staging bucket %s holds assets; it is left in AWS", bucket)
