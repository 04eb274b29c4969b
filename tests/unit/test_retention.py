"""The retention bound: the MINID a stream is trimmed to never passes an entry a group needs."""

from __future__ import annotations

import pytest

from shared.retention import GroupPosition, StreamId, retention_cutoff, trim_bound

DAY = 24 * 3600
NOW = 1_780_000_000.0  # seconds since the epoch
CUTOFF = retention_cutoff(NOW, 7 * DAY)


def group(name: str, last: str, pending: str | None = None) -> GroupPosition:
    return GroupPosition(
        name=name,
        last_delivered=StreamId.parse(last),
        oldest_pending=StreamId.parse(pending) if pending is not None else None,
    )


def test_ids_parse_compare_and_print_as_redis_writes_them() -> None:
    assert StreamId.parse("1700000000000-3") == StreamId(1_700_000_000_000, 3)
    assert StreamId.parse(b"5-0") == StreamId(5, 0)
    assert StreamId.parse("5") == StreamId(5, 0)
    assert str(StreamId(5, 12)) == "5-12"
    # Numeric order, not text order: 10-0 comes after 9-99.
    assert StreamId.parse("10-0") > StreamId.parse("9-99")
    assert StreamId.parse("9-10") > StreamId.parse("9-9")


@pytest.mark.parametrize("bad", ["", "x-1", "1-x", "-1-0", "1-18446744073709551616"])
def test_a_malformed_id_is_refused_naming_it(bad: str) -> None:
    with pytest.raises(ValueError, match="not a stream entry id"):
        StreamId.parse(bad)


def test_the_successor_is_the_next_id_even_at_the_end_of_a_millisecond() -> None:
    assert StreamId(5, 0).successor() == StreamId(5, 1)
    assert StreamId(5, 2**64 - 1).successor() == StreamId(6, 0)


def test_the_cutoff_is_retention_before_now_in_milliseconds() -> None:
    assert retention_cutoff(NOW, 7 * DAY) == StreamId(int((NOW - 7 * DAY) * 1000), 0)
    assert retention_cutoff(NOW, 0) == StreamId(int(NOW * 1000), 0)
    assert retention_cutoff(10.0, 60) == StreamId(0, 0)  # never before the epoch


def test_a_stream_without_groups_is_not_trimmed() -> None:
    assert trim_bound([], CUTOFF) is None


def test_a_group_that_acknowledged_everything_leaves_the_cutoff() -> None:
    caught_up = group("orders", last=f"{CUTOFF.ms + 60_000}-0")
    assert trim_bound([caught_up], CUTOFF) == CUTOFF


def test_an_old_pending_entry_holds_the_trim_back_to_that_entry() -> None:
    old = f"{CUTOFF.ms - 5_000}-2"
    waiting = group("orders", last=f"{CUTOFF.ms + 60_000}-0", pending=old)
    bound = trim_bound([waiting], CUTOFF)
    assert bound == StreamId.parse(old)  # MINID keeps the entry at the bound itself


def test_entries_not_yet_delivered_are_kept_after_the_last_delivered_one() -> None:
    lagging = group("orders", last=f"{CUTOFF.ms - 10_000}-4")
    # Everything up to the last delivered entry went (acknowledged); the next one stays.
    assert trim_bound([lagging], CUTOFF) == StreamId(CUTOFF.ms - 10_000, 5)


def test_a_group_that_has_read_nothing_keeps_the_whole_stream() -> None:
    fresh = group("orders", last="0-0")
    assert trim_bound([fresh], CUTOFF) == StreamId(0, 1)


def test_the_slowest_of_several_groups_decides() -> None:
    fast = group("orders", last=f"{CUTOFF.ms + 1}-0")
    slow = group("audit", last=f"{CUTOFF.ms - 90_000}-0", pending=f"{CUTOFF.ms - 120_000}-7")
    other = group("search", last=f"{CUTOFF.ms - 100_000}-0")
    assert trim_bound([fast, slow, other], CUTOFF) == StreamId(CUTOFF.ms - 120_000, 7)
    assert trim_bound([fast, other], CUTOFF) == StreamId(CUTOFF.ms - 100_000, 1)


def test_a_group_set_back_below_its_pending_entries_is_honoured() -> None:
    # XGROUP SETID to an older id: the group will be given those entries again.
    rewound = group("orders", last="100-0", pending="500-0")
    assert trim_bound([rewound], CUTOFF) == StreamId(100, 1)


def test_the_bound_never_exceeds_what_any_group_needs() -> None:
    # Every combination of positions around the cutoff: the bound is at or below each
    # group's oldest pending entry and the first entry it has not been given.
    marks = [CUTOFF.ms - 2, CUTOFF.ms - 1, CUTOFF.ms, CUTOFF.ms + 1]
    for last in marks:
        for pending in [None, *(m for m in marks if m <= last)]:
            positions = [
                group("a", last=f"{last}-0", pending=None if pending is None else f"{pending}-0"),
                group("b", last=f"{marks[-1]}-0"),
            ]
            bound = trim_bound(positions, CUTOFF)
            assert bound is not None
            assert bound <= CUTOFF
            for position in positions:
                assert bound <= position.last_delivered.successor()
                if position.oldest_pending is not None:
                    assert bound <= position.oldest_pending
