"""KTX's catalogue format where KTX is lenient: a join of a source to itself and repeated joins
to one target (KTX's Orbit demo marks them ``source: inferred``) are warnings naming them,
left out of join paths (of repeated ones the first is kept), never a refusal; every error and
warning is reported once."""

from __future__ import annotations

import pytest

from conftest import compile_ok, run_op


def col(name: str, type_: str = "string"):
    return {"name": name, "type": type_}


def join(to: str, on: str, relationship: str = "one_to_many", **extra):
    return {"to": to, "on": on, "relationship": relationship, **extra}


def plans(*joins):
    """KTX's Orbit ``plans``: its catalogue joins as the demo has them."""
    return {
        "name": "plans",
        "table": "orbit_raw.plans",
        "grain": ["plan_id"],
        "columns": [col("plan_id"), col("plan_code"), col("canonical_plan_code")],
        "measures": [{"name": "plan_count", "expr": "count(plan_id)"}],
        "joins": list(joins),
    }


STG_PLANS = {
    "name": "stg_plans",
    "table": "orbit.stg_plans",
    "grain": ["plan_id"],
    "columns": [col("plan_id"), col("plan_code"), col("canonical_plan_code"), col("tier")],
}

ORBIT_JOINS = [
    join("stg_plans", "plans.plan_code = stg_plans.canonical_plan_code", source="inferred"),
    join("stg_plans", "plans.plan_code = stg_plans.plan_code", source="inferred"),
    join("stg_plans", "plans.plan_id = stg_plans.plan_id", source="inferred"),
    join("plans", "plans.canonical_plan_code = plans.plan_code", "many_to_one", source="inferred"),
    join("plans", "plans.plan_code = plans.canonical_plan_code", source="inferred"),
]


def validate(sources):
    res = run_op("semantic-validate", {"sources": sources, "dialect": "postgres"})
    assert res.code == 0, res
    return res.json


def test_orbit_plans_is_valid_with_one_warning_per_ignored_join():
    out = validate([plans(*ORBIT_JOINS), STG_PLANS])
    assert out["valid"] is True and out["errors"] == []
    assert out["warnings"] == [
        "source 'plans': join to 'stg_plans': ignored: joins[0] already joins stg_plans; "
        "joins[1] (marked source: inferred) is left out of join paths",
        "source 'plans': join to 'stg_plans': ignored: joins[0] already joins stg_plans; "
        "joins[2] (marked source: inferred) is left out of join paths",
        "source 'plans': join to 'plans': ignored: joins[3] joins plans to itself (marked source: inferred); "
        "a source cannot join itself (a self-join needs an alias, which is not supported)",
        "source 'plans': join to 'plans': ignored: joins[4] joins plans to itself (marked source: inferred); "
        "a source cannot join itself (a self-join needs an alias, which is not supported)",
    ]
    assert len(set(out["warnings"])) == len(out["warnings"])


def test_a_query_takes_the_first_of_repeated_joins_and_never_the_self_join():
    out = compile_ok(
        {"measures": ["plans.plan_count"], "dimensions": ["stg_plans.tier"]}, "postgres", [plans(*ORBIT_JOINS), STG_PLANS]
    )
    assert out["plan"]["join_paths"] == ["plans.plan_code = stg_plans.canonical_plan_code (one_to_many)"]
    out = compile_ok({"measures": ["plans.plan_count"], "dimensions": ["plans.plan_code"]}, "postgres", [plans(*ORBIT_JOINS), STG_PLANS])
    assert out["plan"]["join_paths"] == [] and out["plan"]["sources_used"] == ["plans"]


@pytest.mark.parametrize("provenance", [None, "formal", "manual"])
def test_a_self_join_or_repeat_not_marked_inferred_is_a_warning_too_as_in_ktx(provenance):
    # KTX drops a join's provenance when it loads the catalogue, keeps self-joins out of every
    # path, and takes the first of equal paths: the same leniency whatever the mark
    extra = {} if provenance is None else {"source": provenance}
    out = validate([plans(
        join("stg_plans", "plan_id = stg_plans.plan_id", **extra),
        join("stg_plans", "plan_code = stg_plans.plan_code", **extra),
        join("plans", "canonical_plan_code = plans.plan_code", "many_to_one", **extra),
    ), STG_PLANS])
    assert out["valid"] is True
    assert out["warnings"] == [
        "source 'plans': join to 'stg_plans': ignored: joins[0] already joins stg_plans; joins[1] is left out of join paths",
        "source 'plans': join to 'plans': ignored: joins[2] joins plans to itself; a source cannot join itself "
        "(a self-join needs an alias, which is not supported)",
    ]


def test_an_unknown_provenance_is_a_warning():
    out = validate([plans(join("stg_plans", "plan_id = stg_plans.plan_id", source="guessed")), STG_PLANS])
    assert out["valid"] is True
    assert out["warnings"] == [
        "source 'plans': join to 'stg_plans': unknown source 'guessed' (ignored); known: formal, inferred, manual"
    ]


def test_the_same_error_twice_is_reported_once():
    broken = join("stg_plans", "plan_id = stg_plans.nope")
    out = validate([plans(broken, dict(broken)), STG_PLANS])
    assert out["valid"] is False
    assert out["errors"] == [
        "source 'plans': join to 'stg_plans': unknown column 'nope' of stg_plans in on 'plan_id = stg_plans.nope'; "
        "known columns of stg_plans: plan_id, plan_code, canonical_plan_code, tier"
    ]
    res = run_op("semantic-query", {"sources": [plans(broken, dict(broken)), STG_PLANS], "query": {"measures": ["plans.plan_count"]}})
    assert res.code == 3
    assert res.stderr.count("unknown column 'nope'") == 1, res.stderr
