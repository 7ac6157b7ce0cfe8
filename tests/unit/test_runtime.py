"""The runtime glue: what kopf logs for a retry (an error only when something failed), and
which timer passes are skipped."""

from __future__ import annotations

import logging

from gantry.core.conditions import Outcome, Phase
from gantry.core.reconcile import Result
from gantry.runtime import ExpectedWaits, _look_again, skip_timer


def kopf_line(result: Result) -> logging.LogRecord:
    """The record kopf makes when a handler raises what _look_again returns."""
    error = _look_again(result, 15)
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


def test_a_timer_pass_leaves_an_object_being_deleted_alone() -> None:
    ready_status = {"observedGeneration": 1, "conditions": []}
    body = {"metadata": {"generation": 1}, "status": ready_status}
    assert skip_timer(body) is False
    deleting = {**body, "metadata": {"generation": 1, "deletionTimestamp": "2026-12-04T00:00:00Z"}}
    assert skip_timer(deleting) is True
