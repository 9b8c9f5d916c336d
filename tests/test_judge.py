"""A stage attempt's exit, folded into its stage by one pure function."""

from __future__ import annotations

from app.domain.pipeline import Verdict, judge
from app.domain.status import StageStatus


def test_an_exit_of_zero_succeeds_whatever_failed_before() -> None:
    assert judge(0, 2, 3) == Verdict(StageStatus.SUCCEEDED, 2)


def test_a_failure_is_retried_with_growing_backoff_while_retries_last() -> None:
    assert judge(1, 0, 2) == Verdict(StageStatus.FAILED, 1, retry_in=1)
    assert judge(1, 1, 2) == Verdict(StageStatus.FAILED, 2, retry_in=5)
    assert judge(None, 2, 2) == Verdict(StageStatus.FAILED, 3)


def test_without_retries_the_first_failure_fails_the_stage() -> None:
    assert judge(7, 0, 0) == Verdict(StageStatus.FAILED, 1)
