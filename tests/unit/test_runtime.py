"""The runtime glue: what kopf logs for a retry (an error only when something failed), and
which timer passes are skipped."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import kopf
import pytest
from gantry.core.conditions import Outcome, Phase
from gantry.core.errors import Retryable
from gantry.core.reconcile import Pass, Result
from gantry.ecr.models import KIND as ECR_REPOSITORY
from gantry.runtime import ExpectedWaits, _look_again, run_delete, run_reconcile, skip_timer


def kopf_line(result: Result) -> logging.LogRecord:
    """The record kopf makes when a handler raises what _look_again returns."""
    return kopf_record(_look_again(result, 15))


def kopf_record(error: kopf.TemporaryError) -> logging.LogRecord:
    text = f"Handler 'reconcile' failed temporarily: {error}"
    record = logging.LogRecord("kopf.objects", logging.ERROR, __file__, 1, text, (), None)
    ExpectedWaits().filter(record)
    return record


def test_an_expected_wait_is_logged_as_info_without_the_word_failed() -> None:
    record = kopf_line(Result(Outcome(Phase.PROGRESSING, "WaitingForCluster", "not yet")))
    assert record.levelno == logging.INFO
    assert record.getMessage() == "Handler 'reconcile' looks again: not yet"


def test_a_transient_failure_stays_an_error() -> None:
    record = kopf_line(Result(Outcome(Phase.RETRYING, "ThrottlingException", "Rate exceeded")))
    assert record.levelno == logging.ERROR
    assert "failed temporarily: Rate exceeded" in record.getMessage()


def test_a_blocked_deletion_is_not_an_error_either() -> None:
    record = kopf_line(Result(Outcome(Phase.DELETING, "DeletionBlocked", "holds 3 images")))
    assert record.levelno == logging.INFO


def test_a_delete_call_that_failed_is_logged_as_an_error() -> None:
    def delete(work: Pass, spec: Any) -> Result | None:
        raise Retryable("ThrottlingException", "Rate exceeded")

    body = {"metadata": {"name": "repo", "namespace": "team", "uid": "u1"}, "spec": {}}
    patch = SimpleNamespace(status={})
    with pytest.raises(kopf.TemporaryError) as raised:
        run_delete(ECR_REPOSITORY, delete, body=body, patch=patch, logger=logging.getLogger())
    assert kopf_record(raised.value).levelno == logging.ERROR
    assert raised.value.delay == 15


def test_a_timer_pass_leaves_an_object_being_deleted_alone() -> None:
    ready_status = {"observedGeneration": 1, "conditions": []}
    body = {"metadata": {"generation": 1}, "status": ready_status}
    assert skip_timer(body) is False
    deleting = {**body, "metadata": {"generation": 1, "deletionTimestamp": "2026-12-04T00:00:00Z"}}
    assert skip_timer(deleting) is True


def test_an_unexpected_error_leaves_a_condition_that_blames_gantry_not_the_spec() -> None:
    def reconcile(work: Pass, spec: Any) -> Result:
        raise AttributeError("'str' object has no attribute 'get' (secret-ish detail)")

    body = {"metadata": {"name": "repo", "namespace": "team", "uid": "u2", "generation": 1}}
    patch = SimpleNamespace(status={})
    with pytest.raises(kopf.TemporaryError):
        run_reconcile(ECR_REPOSITORY, reconcile, body=body, patch=patch, logger=logging.getLogger())
    synced = next(c for c in patch.status["conditions"] if c["type"] == "Synced")
    assert (synced["status"], synced["reason"]) == ("False", "InternalError")
    assert "AttributeError" in synced["message"]
    assert "secret-ish" not in synced["message"]


def test_a_reserved_tag_key_is_refused_but_never_keeps_the_object_from_being_deleted() -> None:
    spec = {"tags": {"aws:owner": "me", "team": "a"}}
    body = {"metadata": {"name": "repo", "namespace": "team", "uid": "u3", "generation": 2},
            "spec": spec}  # fmt: skip
    patch = SimpleNamespace(status={})
    run_reconcile(ECR_REPOSITORY, lambda *_: Result.ready("made"), body=body, patch=patch,
                  logger=logging.getLogger())  # fmt: skip
    stalled = next(c for c in patch.status["conditions"] if c["type"] == "Stalled")
    assert stalled["reason"] == "InvalidSpec"
    assert "tag keys starting with aws: are reserved for AWS: aws:owner" in stalled["message"]

    seen: list[Any] = []
    run_delete(ECR_REPOSITORY, lambda _, s: seen.append(s), body=body, patch=patch,
               logger=logging.getLogger())  # fmt: skip
    assert [s.tags for s in seen] == [spec["tags"]]  # the delete ran, with the spec as it is
