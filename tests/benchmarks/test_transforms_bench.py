"""The transforms benchmark runs, and shows what it is for: forward mode wins on a tall
Jacobian, reverse mode on a wide one, and hvp beats forming the Hessian."""

from benchmarks import transforms


def test_quick_run_shows_the_trade_offs():
    rows = transforms.run(quick=True, repeat=2)
    ms = {(case.split(" (")[0], who): t for case, who, t in rows}
    assert (
        ms["jacobian tall", "autograd_lite forward"] < ms["jacobian tall", "autograd_lite reverse"]
    )
    assert (
        ms["jacobian wide", "autograd_lite reverse"] < ms["jacobian wide", "autograd_lite forward"]
    )
    assert (
        ms["hvp vs hessian", "autograd_lite hvp"]
        < ms["hvp vs hessian", "autograd_lite hessian @ v"]
    )
