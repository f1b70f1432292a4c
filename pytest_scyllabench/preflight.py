"""The arguments of ``scyllabench_step(...)`` calls, checked before anything is provisioned.

A step's arguments reach the plugin only when the test calls the fixture, once the cluster has
started: a misspelt workload cost a cluster start (half a minute here, a quarter of an hour on
EC2) before its one-line error. Most arguments are written in the test itself, though:
literals, ``@pytest.mark.parametrize`` values and module constants. At collection the plugin
reads each selected test's source and checks the arguments it can know there with the checks
the call applies (:mod:`pytest_scyllabench.stepargs`), so that such an error stops the session
before anything starts.

Only what is certain is checked, so that a valid test is never refused:

* calls made unconditionally: in the statements (expressions, assignments, a ``return``)
  that open the test's body, before its first ``if``, loop, ``try``, ``with``, ``assert``
  or ``raise``, and not on one side of an ``and``, ``or`` or ``x if c else y``. A call
  under an ``if`` may be guarded by what the profile holds, and one after it may follow a
  ``pytest.skip`` or a ``return`` that keeps it from running;
* values that are literals (``"write"``, ``{"p99": "20ms"}``), the test's parametrized
  arguments, or module constants of a plain type (text, numbers, booleans, ``None``);
* a name the test assigns anywhere in its body (or declares ``global``) is unknown, and so are
  a parameter of the test that is not parametrized (a fixture) and a closure's variable;
* a call with ``*args`` or ``**kwargs``, or a source that cannot be read, is not checked.

An argument left unknown takes a value the call accepts (the fixture's defaults), so only
the known ones can fail.
"""

from __future__ import annotations

import ast
import functools
import inspect
import textwrap
from collections.abc import Callable, Collection, Mapping
from typing import Any

from pytest_scyllabench.errors import ConfigError
from pytest_scyllabench.profile import Profile
from pytest_scyllabench.stepargs import (
    CALL,
    MAX_RATE,
    build_step,
    call_thresholds,
    check_tool,
)

#: A value the source does not tell.
UNKNOWN: Any = object()
#: The keyword arguments of the step call, in the fixture's signature.
KEYWORDS = ("workload", "rate", "duration", "warmup", "concurrency", "connections",
            "thresholds", "name", "tool")
#: Statements that run whole whenever the test's body reaches them; the first other one may
#: skip or end the test, and the calls after it are not checked.
_UNCONDITIONAL = (ast.Expr, ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Return)
_PLAIN = (str, int, float, bool, type(None))


def step_calls(function: Callable[..., Any]) -> list[dict[str, ast.expr]]:
    """The unconditional ``scyllabench_step(...)`` calls of ``function``: for each, its
    arguments by keyword (the positional one is ``workload``); ``[]`` when the source cannot
    be read or parsed."""
    definition = _definition(function)
    if definition is None:
        return []
    calls: list[dict[str, ast.expr]] = []
    for statement in definition.body:
        if not isinstance(statement, _UNCONDITIONAL):
            break
        for node in _walk_outside_scopes(statement):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == CALL):
                continue
            if len(node.args) > 1 or any(isinstance(a, ast.Starred) for a in node.args) or \
                    any(k.arg is None for k in node.keywords):
                continue
            arguments = {k.arg: k.value for k in node.keywords if k.arg is not None}
            if node.args:
                arguments["workload"] = node.args[0]
            calls.append(arguments)
        if isinstance(statement, ast.Return):
            break
    return calls


def bound_names(function: Callable[..., Any]) -> set[str]:
    """Every name ``function``'s body assigns, deletes or declares ``global``/``nonlocal``,
    and the parameters of what it defines inside (lambdas, comprehensions' targets too)."""
    definition = _definition(function)
    if definition is None:
        return set()
    names: set[str] = set()
    for node in ast.walk(definition):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            names.add(node.id)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            names.update(node.names)
        elif isinstance(node, ast.arg) and node not in _own_args(definition):
            names.add(node.arg)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and \
                node is not definition:
            names.add(node.name)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


def known_value(node: ast.expr, params: Mapping[str, Any], parameters: Collection[str],
                module: Mapping[str, Any], bound: Collection[str]) -> Any:
    """What ``node`` evaluates to when the test runs, or :data:`UNKNOWN`.

    ``params`` are the test's parametrized arguments, ``parameters`` all its parameters,
    ``module`` its module's globals, ``bound`` the names its body binds."""
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        pass
    if not isinstance(node, ast.Name) or node.id in bound:
        return UNKNOWN
    if node.id in parameters:
        return params.get(node.id, UNKNOWN)
    value = module.get(node.id, UNKNOWN)
    return value if isinstance(value, _PLAIN) else UNKNOWN


def check_call(profile: Profile, known: Mapping[str, Any], tools: Collection[str]) -> None:
    """Check the known arguments of one call as the call will (``ConfigError`` naming the
    argument); the others take values it accepts."""
    workload = known.get("workload", UNKNOWN)
    if workload is UNKNOWN:
        if not profile.workloads:
            return
        workload = next(iter(profile.workloads))
    given = {key: value for key, value in known.items() if value is not UNKNOWN}
    step = build_step(profile, 1.0, workload, rate=given.get("rate", MAX_RATE),
                      duration=given.get("duration", 30.0), warmup=given.get("warmup", 5.0),
                      concurrency=given.get("concurrency"),
                      connections=given.get("connections"), name=given.get("name"))
    # Every provisioner runs loaders.count hosts (fitted to the profile's hosts) x processes.
    step.per_loader_rate(profile.loaders.count * profile.loaders.processes)
    check_tool(given.get("tool"), tools)
    call_thresholds(given.get("thresholds"))


def check_item(profile: Profile, function: Callable[..., Any], params: Mapping[str, Any],
               tools: Collection[str]) -> None:
    """Check every unconditional step call of test ``function`` run with ``params``.

    Reading the source is a convenience: should it fail in a way not foreseen, the calls are
    left to be checked when they run, and the session goes on."""
    try:
        calls = step_calls(function)
        if not calls:
            return
        parameters = set(inspect.signature(function).parameters)
        module = getattr(function, "__globals__", {})
        # A closure's variable is no module constant, even where one has its name.
        bound = bound_names(function) | set(getattr(getattr(function, "__code__", None),
                                                    "co_freevars", ()))
        known = [{key: known_value(node, params, parameters, module, bound)
                  for key, node in arguments.items() if key in KEYWORDS}
                 for arguments in calls]
    except Exception:  # noqa: BLE001  (never worse than no preflight)
        return
    for arguments in known:
        try:
            check_call(profile, arguments, tools)
        except ConfigError:
            raise
        except Exception:  # noqa: BLE001  (an odd value: the call will say what is wrong)
            continue


def direct_params(item: Any) -> dict[str, Any]:
    """The arguments of pytest item ``item`` that ``@pytest.mark.parametrize`` passes as they
    are (an ``indirect`` one goes through a fixture, which may change it; those of
    ``metafunc.parametrize`` are not known here)."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return {}
    direct: set[str] = set()
    for marker in item.iter_markers("parametrize"):
        names = marker.args[0] if marker.args else marker.kwargs.get("argnames", ())
        if isinstance(names, str):
            names = [name.strip() for name in names.split(",")]
        indirect = marker.kwargs.get("indirect", False)
        direct.update(name for name in names if isinstance(name, str) and not (
            indirect is True or (isinstance(indirect, list | tuple) and name in indirect)))
    return {name: value for name, value in callspec.params.items() if name in direct}


@functools.lru_cache(maxsize=256)  # read once for all of a test's parametrized items
def _definition(function: Callable[..., Any]) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    try:
        source = textwrap.dedent(inspect.getsource(function))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError, ValueError, RecursionError):
        return None
    first = tree.body[0] if tree.body else None
    return first if isinstance(first, ast.FunctionDef | ast.AsyncFunctionDef) else None


def _own_args(definition: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.arg]:
    args = definition.args
    return [*args.posonlyargs, *args.args, *args.kwonlyargs,
            *([args.vararg] if args.vararg else []), *([args.kwarg] if args.kwarg else [])]


def _walk_outside_scopes(node: ast.AST) -> list[ast.AST]:
    """The nodes of ``node`` that run whenever it does: not those of the lambdas and
    comprehensions inside it (their calls may run any number of times, with their own names),
    nor those of conditional expressions (``a and b``, ``a if c else b``)."""
    found: list[ast.AST] = []
    stack = [node]
    while stack:
        current = stack.pop()
        found.append(current)
        for child in ast.iter_child_nodes(current):
            if not isinstance(child, ast.Lambda | ast.ListComp | ast.SetComp | ast.DictComp
                              | ast.GeneratorExp | ast.BoolOp | ast.IfExp):
                stack.append(child)
    return found
