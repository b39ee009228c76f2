"""Rules: what every adapter and service of hexalchemy applies the same way.

The value domain (which values each field type accepts and how each is stored), validation
of the ports' value types, ids, hashing and policies live here, once, so that the in-memory
and SQL adapters cannot disagree. This package imports only the standard library, attrs and
:mod:`hexalchemy.ports`; adapters and application services import it.

Each submodule has one job; this package re-exports their classes and functions (their
constants, such as ``MAX_TOPIC_LENGTH``, stay in their module).
"""

from hexalchemy.rules.agent_checks import (
    check_after_sequence,
    check_agent_id,
    check_cursor,
    check_evidence_kind,
    check_lease_for,
    check_limit,
    check_maximum,
    check_runner,
    check_runner_lease,
    check_signal_kinds,
)
from hexalchemy.rules.agent_states import new_agent_state, validate_agent_state
from hexalchemy.rules.arguments import (
    check_aware_datetime,
    check_bool,
    check_callable,
    check_duration,
    check_has_methods,
    check_instance,
    check_int,
    check_items,
    check_iterable,
    check_list,
    check_positive_int,
    check_seconds,
    check_uuid,
    clock_time,
    random_fraction,
    utc_or_none,
)
from hexalchemy.rules.domain import EntityDomain
from hexalchemy.rules.evidence import new_evidence, prepare_entries, validate_evidence
from hexalchemy.rules.evidence_chain import (
    canonical_evidence_bytes,
    chain_evidence,
    evidence_hash,
    verify_chain,
)
from hexalchemy.rules.ids import time_ordered_uuid
from hexalchemy.rules.inbox import check_consumer, new_inbox_entry
from hexalchemy.rules.json_columns import json_problem, json_rule, json_suspect, json_value_rule
from hexalchemy.rules.json_values import canonical_json, normalize_json
from hexalchemy.rules.numbers import parse_decimal_float, parse_decimal_int
from hexalchemy.rules.outbox_arguments import (
    check_claim,
    check_dead_before,
    check_error,
    check_lease,
    check_message_id,
    check_message_ids,
    check_outbox_limit,
    check_publish,
    check_retry_after,
)
from hexalchemy.rules.outbox_messages import new_message, prepare_batch, validate_message
from hexalchemy.rules.outbox_policy import OutboxPolicy, crashed_before, exhausted_error
from hexalchemy.rules.outbox_results import (
    Outcome,
    describe_error,
    publisher_raised,
    sort_results,
    stored_error,
)
from hexalchemy.rules.queries import (
    CheckedQuery,
    FieldRef,
    QueryRules,
    check_find_limit,
    check_page_size,
    field_ref,
    orderable,
)
from hexalchemy.rules.routes import (
    check_route,
    checked_route,
    default_route,
    destination_route,
    message_id_of,
)
from hexalchemy.rules.signals import new_signal, validate_signal
from hexalchemy.rules.text import encodes_as_utf8, holds_unencodable_text, text_problem
from hexalchemy.rules.transactions import check_begin, check_commit_failure
from hexalchemy.rules.values import (
    RefusedValueError,
    ValueRule,
    bind_rule,
    declared_scale,
    rule_for,
    stored_server_default,
    value_object_rule,
)
from hexalchemy.rules.versions import VersionRule, version_rule

__all__ = [
    "crashed_before",
    "checked_route",
    "default_route",
    "destination_route",
    "message_id_of",
    "check_consumer",
    "check_route",
    "new_inbox_entry",
    # the value domain: what each field type accepts and stores
    "EntityDomain",
    "VersionRule",
    "version_rule",
    "RefusedValueError",
    "ValueRule",
    "bind_rule",
    "declared_scale",
    "json_problem",
    "json_rule",
    "json_value_rule",
    "json_suspect",
    "rule_for",
    "stored_server_default",
    "value_object_rule",
    # queries
    "CheckedQuery",
    "FieldRef",
    "QueryRules",
    "check_find_limit",
    "check_page_size",
    "field_ref",
    "orderable",
    # the arguments of public calls
    "check_aware_datetime",
    "check_bool",
    "check_callable",
    "check_duration",
    "check_has_methods",
    "check_instance",
    "check_int",
    "check_items",
    "check_iterable",
    "check_list",
    "check_positive_int",
    "check_seconds",
    "check_uuid",
    "clock_time",
    "random_fraction",
    "utc_or_none",
    # transactions
    "check_begin",
    "check_commit_failure",
    # text
    "encodes_as_utf8",
    "holds_unencodable_text",
    "text_problem",
    # JSON values
    "canonical_json",
    "normalize_json",
    # numbers written as text
    "parse_decimal_float",
    "parse_decimal_int",
    # ids
    "time_ordered_uuid",
    # outbox
    "OutboxPolicy",
    "Outcome",
    "check_claim",
    "check_dead_before",
    "check_error",
    "check_lease",
    "check_message_id",
    "check_message_ids",
    "check_outbox_limit",
    "check_publish",
    "check_retry_after",
    "describe_error",
    "exhausted_error",
    "new_message",
    "prepare_batch",
    "publisher_raised",
    "sort_results",
    "stored_error",
    "validate_message",
    # agents
    "check_after_sequence",
    "check_agent_id",
    "check_cursor",
    "check_evidence_kind",
    "check_lease_for",
    "check_limit",
    "check_maximum",
    "check_runner",
    "check_runner_lease",
    "check_signal_kinds",
    "new_agent_state",
    "new_evidence",
    "new_signal",
    "prepare_entries",
    "validate_agent_state",
    "validate_evidence",
    "validate_signal",
    # evidence hashing
    "canonical_evidence_bytes",
    "chain_evidence",
    "evidence_hash",
    "verify_chain",
]
