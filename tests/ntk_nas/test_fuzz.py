"""Property-based tests of every parser a user reaches: each input parses or raises our own error.

`FUZZ_EXAMPLES` cases per property in the default run; the slow run (`make test-slow`) runs 20x.
"""

from __future__ import annotations

import contextlib
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import scorers
import search_spaces
from ntk_nas import cli, study

FUZZ_EXAMPLES = 500
SPACES = search_spaces.names()
SPACE_OPTIONS = {"mlp": {"input_shape": (8,)}}
PROJECT_ERRORS = (study.StudyError, scorers.ScorerError, search_spaces.SearchSpaceError)


def fuzz(examples: int = FUZZ_EXAMPLES):
    return settings(
        max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )


def _arch_text(space: search_spaces.SearchSpace) -> st.SearchStrategy[str]:
    """Arbitrary text, and near-misses spliced from the pieces of real arch strings."""
    import numpy as np

    samples = [space.to_str(space.sample(np.random.default_rng(i))) for i in range(5)]
    pieces = sorted({p for s in samples for p in _split(s)} | {"~", "|", "+", "9", "-1", " "})
    spliced = st.lists(st.sampled_from(pieces), max_size=30).map("".join)
    return st.one_of(st.text(max_size=80), spliced, st.sampled_from(samples))


def _split(s: str) -> list[str]:
    out, word = [], ""
    for ch in s:
        if ch.isalnum() or ch == "_":
            word += ch
        else:
            out += [word, ch] if word else [ch]
            word = ""
    return [*out, word] if word else out


@pytest.mark.parametrize("name", SPACES)
def test_arch_strings_parse_or_raise_search_space_error(name):
    space = search_spaces.get(name, **SPACE_OPTIONS.get(name, {}))

    @fuzz()
    @given(_arch_text(space))
    def check(text):
        try:
            arch = space.from_str(text)
        except search_spaces.SearchSpaceError as error:
            assert str(error)
            return
        assert space.from_str(space.to_str(arch)) == arch

    check()


SAFE = st.text(alphabet="abcdefghijklmnoqrstuvwxyz0123456789_-.", min_size=1, max_size=12)


@fuzz()
@given(SAFE, st.text(alphabet="abcdefghijklmnoqrstuvwxyz0123456789_-.!%", max_size=12), SAFE)
def test_passwords_are_masked(user, secret, host):
    password = "P" + secret  # "P" appears nowhere else in the URL
    url = f"postgresql://{user}:{password}@{host}:5432/db"
    masked = study.mask_password(f"could not reach {url} (see {url})")
    assert password not in masked and f"{user}:***@{host}" in masked


@fuzz(200)
@given(st.text(max_size=60).filter(lambda s: not s.startswith(("sqlite", "journal"))))
def test_storage_urls_open_or_raise_study_error(url):
    try:
        study.open_storage(url)
    except study.StudyError as error:
        assert "cannot open storage" in str(error)


@fuzz()
@given(st.lists(st.text(max_size=20), max_size=4))
def test_build_options_parse_or_raise(items):
    try:
        options = cli.parse_build_options(items)
    except study.StudyError:
        return
    assert len(options) <= sum(len(item.split(",")) for item in items)


@fuzz()
@given(st.one_of(st.text(max_size=40), st.sampled_from(scorers.names()).map(lambda n: n + ":")))
def test_scorer_specs_parse_or_raise(spec):
    try:
        study.resolve_scorers(spec)
    except PROJECT_ERRORS as error:
        assert str(error)


COMMANDS = st.sampled_from(["search", "rank", "score", "spaces", "scorers", "nope", "--help"])
FLAGS = st.sampled_from(["--trials", "--seed", "--batch-size", "--build", "--data", "--top", "-x"])


@fuzz()
@given(COMMANDS, st.lists(st.one_of(FLAGS, st.text(max_size=10)), max_size=6))
def test_command_lines_parse_or_exit_2(command, rest):
    sink = io.StringIO()
    with contextlib.redirect_stderr(sink), contextlib.redirect_stdout(sink):
        try:
            cli.make_parser().parse_args([command, *rest])
        except SystemExit as exit_:
            assert exit_.code in (0, 2)


@pytest.mark.slow
@pytest.mark.parametrize("name", SPACES)
def test_arch_strings_long_run(name):
    space = search_spaces.get(name, **SPACE_OPTIONS.get(name, {}))

    @fuzz(20 * FUZZ_EXAMPLES)
    @given(_arch_text(space))
    def check(text):
        with contextlib.suppress(search_spaces.SearchSpaceError):
            space.from_str(text)

    check()
