"""SI formatting: one function behind the sweep tables, the run tables and the capacity figure."""

from kcap.report.fmt import si


def test_si_picks_the_largest_unit_reached():
    assert si(2.5e7) == "25M"
    assert si(3e19) == "30E"
    assert si(1.1e22) == "11Z" and si(2e24) == "2Y"  # the paper grid's FLOPs
    assert si(-4.2e9) == "-4.2G"
    assert si(999) == "999" and si(1000) == "1K"


def test_si_spec_and_small_keep_each_callers_format():
    assert si(None) == "-"  # unknown estimate in a sweep plan
    assert si(1.5e6, ".2f", small=".0f") == "1.50M" and si(512, ".2f", small=".0f") == "512"  # tables
    assert si(2e5, "g") == "200K" and si(0.5, "g") == "0.5"  # figure ticks
