"""Adversarial review: exception groups and retry times through the error mapper itself."""

from __future__ import annotations

from internal_base.errors import CircuitOpenError
from internal_fastapi import NotFoundError, default_error_mapper, retry_after_header


def test_nested_groups_that_agree_are_answered_as_their_first_error() -> None:
    """A group of groups whose errors all map to 503 is a 503 with the first error's Retry-After."""
    inner = ExceptionGroup("inner", [CircuitOpenError("b", retry_after=9)])
    group = ExceptionGroup("outer", [CircuitOpenError("a", retry_after=1.2), inner])
    problem, headers = default_error_mapper().problem(group)
    assert (problem.status, problem.code, headers) == (503, "dependency_unavailable", {"Retry-After": "2"})


def test_a_rule_for_the_group_itself_wins() -> None:
    """A rule registered for ExceptionGroup is used instead of looking inside."""
    mapper = default_error_mapper()
    mapper.register(ExceptionGroup, 502, "bad_gateway")
    problem, _ = mapper.problem(ExceptionGroup("g", [NotFoundError("x")]))
    assert (problem.status, problem.code) == (502, "bad_gateway")


def test_retry_after_is_capped_at_one_day() -> None:
    """retry_after of a week sends Retry-After 86400."""
    assert retry_after_header(CircuitOpenError("c", retry_after=7 * 86_400)) == {"Retry-After": "86400"}
