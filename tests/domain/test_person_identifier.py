"""How identifiers of persons (email addresses) compare: the law that keys and lookups rely on."""

from hypothesis import given
from hypothesis import strategies as st

from domain.decider import person_identifier


@given(st.text())
def test_only_ascii_letters_change_case_and_surrounding_space_goes(identifier: str) -> None:
    expected = "".join(c.lower() if c.isascii() else c for c in identifier.strip())
    assert person_identifier(identifier) == expected


def test_non_ascii_letters_keep_their_case_so_distinct_addresses_stay_distinct() -> None:
    assert person_identifier("  Ada.Ł@Example.COM ") == "ada.Ł@example.com"
    assert person_identifier("straße@example.com") != person_identifier("strasse@example.com")
    assert person_identifier("İ@example.com") == "İ@example.com"  # lower() would add a combining dot
