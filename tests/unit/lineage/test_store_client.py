"""The store client's own literals and salts (pure logic; the engine is in the integration tests)."""

from __future__ import annotations

from clickhouse_connect.driver.binding import format_bind_value
from hypothesis import given
from hypothesis import strategies as st

from jejak.lineage.store.canonical import NO_SALT, SALT_BYTES, new_salt
from jejak.lineage.store.client import string_array

TRICKY = ["a", "x'y", "b\\c", "tab\there", "nl\nx", "bq`", "{db}", "{x:String}", "ünï", ""]


def test_a_string_array_is_the_literal_clickhouse_connect_binds() -> None:
    assert string_array(TRICKY) == format_bind_value(TRICKY, None).replace("', '", "','")
    assert string_array([]) == "[]"


@given(st.lists(st.text(max_size=40), max_size=20))
def test_property_string_arrays_match_the_bound_parameter(values: list[str]) -> None:
    bound = format_bind_value(values, None)
    # clickhouse-connect separates items with ", "; the items themselves are equal
    assert string_array(values)[1:-1].split("','") == bound[1:-1].split("', '")


def test_salts_are_fresh_random_bytes_and_none_for_nobody() -> None:
    salts = [new_salt(["subject"]) for _ in range(3 * 4096 + 7)]  # across pool refills
    assert all(len(s) == SALT_BYTES for s in salts)
    assert len(set(salts)) == len(salts)
    assert new_salt(["", ""]) == NO_SALT


def test_a_forked_child_draws_other_salts_than_its_parent() -> None:
    import os

    new_salt(["subject"])  # the pool is filled
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, new_salt(["subject"]))
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, SALT_BYTES) != new_salt(["subject"])
