"""The package's structure: no import cycle, no private name across modules, one way to
declare an op (the built-ins' call, available to users), parameters that say what they are.
"""

from __future__ import annotations

import ast
import pathlib

import numpy as np
import pytest

import autograd_lite as ag
from autograd_lite import Value

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGES = ("autograd_lite", "nn")


def _modules() -> dict[str, ast.Module]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).glob("*.py")):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            found[name] = ast.parse(path.read_text(), str(path))
    return found


MODULES = _modules()


def _imports(tree: ast.Module) -> list[tuple[str, str | None, int]]:
    """(module, imported name or None, line) for every import of a package module."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, None, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out += [(node.module, a.name, node.lineno) for a in node.names]
    return [(m, n, line) for m, n, line in out if m.split(".")[0] in PACKAGES]


def _top_level_edges(name: str, tree: ast.Module) -> set[str]:
    """Package modules imported when ``name`` is imported (module-level statements)."""
    edges = set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for module, imported, _ in _imports(ast.Module(body=[node], type_ignores=[])):
                target = f"{module}.{imported}"
                edges.add(target if target in MODULES else module)
    edges.discard(name)
    return edges


def test_no_module_imports_a_private_name_of_another():
    offences = [
        f"{name}:{line} imports {imported} from {module}"
        for name, tree in MODULES.items()
        for module, imported, line in _imports(tree)
        if imported and imported.startswith("_") and imported != "__version__"
    ]
    assert offences == []


def test_the_package_has_no_import_cycle():
    graph = {name: _top_level_edges(name, tree) for name, tree in MODULES.items()}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*path, node, nxt]))
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for name in graph:
        if name not in state:
            visit(name, [])


def test_the_core_knows_no_op_and_no_drawing():
    for core in ("autograd_lite.value", "autograd_lite.modes", "autograd_lite.op"):
        edges = _top_level_edges(core, MODULES[core])
        assert not edges & {
            "autograd_lite.primitives",
            "autograd_lite.functional",
            "autograd_lite.viz",
            "autograd_lite.operators",
        }, core


# ------------------------------------------------------------------ one way to declare an op


def _softplus_op(name: str):
    return ag.defop(
        name,
        lambda x: np.logaddexp(0.0, x),
        lambda g, out, x: g * ag.sigmoid(x),
    )


SOFTPLUS = _softplus_op("test_softplus")


@pytest.mark.parametrize("x", [0.3, -1.7, np.array([-2.0, 0.1, 3.0]), np.ones((2, 2)) * 0.5])
def test_a_user_op_declared_like_the_builtins_is_checked_first_and_second_order(x):
    v = Value(x)
    y = SOFTPLUS(v)
    assert y.op == "test_softplus" and ag.OPS["test_softplus"] is SOFTPLUS
    assert type(y.data) is type(v.data)  # a scalar stays a Python float
    assert ag.gradcheck(SOFTPLUS, [Value(x)])
    assert ag.gradgradcheck(SOFTPLUS, [Value(x)])


def test_a_user_op_with_a_parameter_and_raw_data():
    scale = ag.defop("test_scale", lambda x, c: c * x, lambda g, out, x, c: g * c)
    assert scale(2.0, 3.0) == 6.0  # raw in, raw out
    x = Value(np.array([1.0, 2.0]))
    scale(x, 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])
    assert ag.gradgradcheck(lambda v: scale(v, 3.0) * v, [Value(0.5)])


def test_defop_refuses_a_second_op_of_one_name_and_bad_declarations():
    with pytest.raises(ValueError, match="already declared"):
        _softplus_op("test_softplus")
    with pytest.raises(TypeError, match="VJP"):
        ag.defop("test_no_vjp", lambda x: x)
    with pytest.raises(TypeError, match="takes 1 input"):
        SOFTPLUS()


def test_a_wrong_user_vjp_is_caught_by_gradcheck():
    wrong = ag.defop("test_wrong_softplus", np.tanh, lambda g, out, x: g * 1.01 * (1 - out * out))
    assert not ag.gradcheck(wrong, [Value(np.array([0.3, -0.2]))], raise_exception=False)


# ----------------------------------------------------------------- Function, on the same Op


class Cube(ag.Function):
    @staticmethod
    def forward(ctx, x):
        y = x**3
        ctx.save_for_backward(x)
        return y

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3.0 * x * x


class Exp(ag.Function):
    """Saves its output, which numpy returns as a new scalar object."""

    @staticmethod
    def forward(ctx, x):
        out = np.exp(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out


@pytest.mark.parametrize("fn", [Cube, Exp])
@pytest.mark.parametrize("x", [0.1, -1.3, np.array([0.1, -0.4, 2.0])])
def test_function_first_and_second_order_with_scalar_and_tensor_inputs(fn, x):
    assert isinstance(fn.op, ag.Op) and fn.op.name == fn.__name__
    assert fn.apply(Value(x)).op == fn.__name__
    assert ag.gradcheck(fn.apply, [Value(x)])
    assert ag.gradgradcheck(fn.apply, [Value(x)])


def test_second_derivative_of_a_scalar_function_is_exact():
    x = Value(0.1)
    (g,) = ag.grad(Exp.apply(x), [x], create_graph=True)
    (gg,) = ag.grad(g, [x])
    assert gg == pytest.approx(np.exp(0.1), rel=1e-12)


def test_calling_a_function_class_says_to_use_apply():
    with pytest.raises(TypeError, match=r"Cube.apply"):
        Cube(Value(1.0))


@pytest.mark.parametrize("bad", [1j, np.array([1 + 2j]), True, "text", np.array(["a"]), None])
def test_a_function_returning_non_real_data_is_refused(bad):
    class Bad(ag.Function):
        @staticmethod
        def forward(ctx, x):
            return bad

        @staticmethod
        def backward(ctx, grad):
            return grad

    with pytest.raises(TypeError, match=r"Bad\.forward must return"):
        Bad.apply(Value(1.0))
