"""Policy-as-code: versioned privacy policies as YAML, and the engine that judges events by them.

The Smarty Indonesia policy is data (``jejak.lineage/policies/``); nothing in
this package knows its clause ids. The public surface:

- :func:`load_policies` / :func:`load_policy` read policy files into a
  :class:`PolicySet` of versions (each in force from its effective date) or
  one :class:`Policy`;
- :func:`evaluate` judges one event given the subject's :class:`SubjectState`
  and returns a :class:`Verdict`; :class:`Evaluator` keeps the states over a
  stream;
- :func:`severity`, :func:`explain`, :func:`diff_policies` and :func:`replay`
  serve alerts, people and policy changes.
"""

from jejak.lineage.policy.compiled import CategoryInfo, Policy, PolicySet
from jejak.lineage.policy.diff import Change, PolicyDiff, diff_policies
from jejak.lineage.policy.engine import evaluate
from jejak.lineage.policy.evaluator import Evaluator
from jejak.lineage.policy.explain import explain
from jejak.lineage.policy.loader import (
    check_policy_path,
    load_policies,
    load_policy,
    load_policy_or_latest,
)
from jejak.lineage.policy.replay import ReplayReport, replay
from jejak.lineage.policy.state import SubjectState
from jejak.lineage.policy.verdict import REASONS, Finding, Verdict, highest_severity, severity

__all__ = [
    "REASONS",
    "CategoryInfo",
    "Change",
    "Evaluator",
    "Finding",
    "Policy",
    "PolicyDiff",
    "PolicySet",
    "ReplayReport",
    "SubjectState",
    "Verdict",
    "check_policy_path",
    "diff_policies",
    "evaluate",
    "explain",
    "highest_severity",
    "load_policies",
    "load_policy",
    "load_policy_or_latest",
    "replay",
    "severity",
]
