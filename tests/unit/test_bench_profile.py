"""The bench's profile summary (bench/profile.py): py-spy's collapsed stacks summed into each
function's self and inclusive share of the samples, which docs/performance.md quotes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bench.profile import function_of, summarise

# Three stacks as py-spy's ``--format raw`` writes them: process and thread first, the
# innermost frame last, the sample count after a space.
COLLAPSED = """\
process 4242:"python -m services.router";thread (0x7f01);run (asyncio/runners.py:118);\
_route (services/router/handlers.py:240);decide (services/router/domain/policy/engine.py:88) 60
process 4242:"python -m services.router";thread (0x7f01);run (asyncio/runners.py:118);\
_route (services/router/handlers.py:251);_events_for (services/router/handlers.py:97);\
model_dump (pydantic/main.py:400) 30
process 4242:"python -m services.router";thread (0x7f01);run (asyncio/runners.py:118);\
_route (services/router/handlers.py:260) 10
"""


def test_self_time_is_the_innermost_frame_summed_over_its_lines() -> None:
    found = summarise(COLLAPSED)
    assert found["samples"] == 100
    assert found["self_pct"][0] == ["decide (services/router/domain/policy/engine.py)", 60.0]
    assert ["model_dump (pydantic/main.py)", 30.0] in found["self_pct"]
    # _route's own line 260 is self time; its lines 240 and 251 called out.
    assert ["_route (services/router/handlers.py)", 10.0] in found["self_pct"]


def test_inclusive_time_counts_a_function_once_per_sample() -> None:
    found = dict(map(tuple, summarise(COLLAPSED)["inclusive_pct"]))
    assert found["_route (services/router/handlers.py)"] == 100.0
    assert found["run (asyncio/runners.py)"] == 100.0
    assert found["_events_for (services/router/handlers.py)"] == 30.0
    assert not any(name.startswith(("process ", "thread ")) for name in found)


def test_site_packages_paths_are_shortened_to_the_package() -> None:
    frame = "send (/work/.venv/lib/python3.11/site-packages/aiokafka/producer/producer.py:470)"
    assert function_of(frame) == "send (aiokafka/producer/producer.py)"


def test_lines_that_are_not_samples_are_ignored() -> None:
    assert summarise("garbage\n\n" + COLLAPSED + "truncated line without count")["samples"] == 100


@given(st.lists(st.tuples(st.sampled_from("abcde"), st.integers(1, 50)), min_size=1, max_size=30))
def test_shares_never_exceed_the_whole(stacks: list[tuple[str, int]]) -> None:
    collapsed = "\n".join(
        f"thread (0x1);outer (m.py:1);{name} ({name}.py:2);{name} ({name}.py:3) {n}"
        for name, n in stacks
    )
    found = summarise(collapsed)
    assert found["samples"] == sum(n for _, n in stacks)
    assert all(0 < pct <= 100 for _, pct in found["inclusive_pct"])
    assert abs(sum(pct for _, pct in found["self_pct"]) - 100) < 0.5 * len(found["self_pct"])
