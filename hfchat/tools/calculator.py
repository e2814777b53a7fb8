"""The calculator tool that the chat data teaches the model to call, run in the sandbox.

An expression is first checked against a small grammar here (numbers, strings, ``+ - * / // % **``, parentheses,
comparisons, ``len abs round min max int str``, string methods such as ``"abc".upper()`` and slicing) and then
evaluated in `hfchat.tools.sandbox` with a 2-second limit, so ``9**9**9`` times out instead of hanging the server.
The result, or an ``error: ...`` line, becomes the tool turn's content.

Example:
    >>> from hfchat.tools.calculator import calculate, run_tool_call
    >>> calculate("(3+4)*5")
    '35'
    >>> calculate("'abc'.upper() + 'd' * 2")
    'ABCdd'
    >>> run_tool_call({"name": "calculator", "arguments": {"expression": "2**10"}})
    '1024'
"""

from __future__ import annotations

import ast

from .sandbox import run_python

_FUNCTIONS = ("len", "abs", "round", "min", "max", "int", "str", "float")
_STRING_METHODS = ("upper", "lower", "title", "capitalize", "strip", "lstrip", "rstrip", "replace", "count", "find",
                   "startswith", "endswith", "split", "join", "zfill", "center", "ljust", "rjust")
_NODES = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Compare, ast.Constant, ast.Call, ast.Name, ast.Load,
          ast.Attribute, ast.Subscript, ast.Slice, ast.Tuple, ast.List, ast.operator, ast.unaryop, ast.cmpop)
_MAX_LENGTH = 500
_PROGRAM = ("import builtins\n"
            "print(eval({expression!r}, {{'__builtins__': {{}}}}, {{n: getattr(builtins, n) for n in {names!r}}}))")


class CalculatorError(ValueError):
    """An expression the calculator does not accept."""


def check_expression(expression: str) -> None:
    """Raise `CalculatorError` naming the first part of ``expression`` outside the calculator's grammar."""
    if not isinstance(expression, str) or not expression.strip():
        raise CalculatorError("expression must be a non-empty string")
    if len(expression) > _MAX_LENGTH:
        raise CalculatorError(f"expression is longer than {_MAX_LENGTH} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as error:
        raise CalculatorError(f"cannot parse {expression!r}: {error.msg}") from None
    for node in ast.walk(tree):
        if not isinstance(node, _NODES):
            raise CalculatorError(f"{type(node).__name__} is not allowed in a calculator expression")
        if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float, str)):
            raise CalculatorError(f"constant {node.value!r} is not allowed")
        if isinstance(node, ast.Name) and node.id not in _FUNCTIONS:
            raise CalculatorError(f"unknown name {node.id!r} (functions: {', '.join(_FUNCTIONS)})")
        if isinstance(node, ast.Attribute) and node.attr not in _STRING_METHODS:
            raise CalculatorError(f"unknown method {node.attr!r} (string methods: {', '.join(_STRING_METHODS)})")


def calculate(expression: str, timeout: float = 2.0) -> str:
    """The value of ``expression`` as text, or ``"error: <why>"`` (bad grammar, a Python error, the time limit)."""
    try:
        check_expression(expression)
    except CalculatorError as error:
        return f"error: {error}"
    result = run_python(_PROGRAM.format(expression=expression.strip(), names=_FUNCTIONS), timeout=timeout,
                        memory_mb=256, max_output=4000)
    if result.status == "timeout":
        return f"error: the calculation took longer than {timeout:g} s"
    if not result.ok:
        last_line = result.stderr.strip().splitlines()[-1:] or ["the calculation failed"]
        return f"error: {last_line[0]}"
    return result.stdout.rstrip("\n")


TOOLS = {"calculator": lambda arguments: calculate(str(arguments.get("expression", "")))}


def run_tool_call(call: dict) -> str:
    """Run one parsed tool call ``{"name": ..., "arguments": {...}}``; unknown tools answer with an error line."""
    name, arguments = call.get("name"), call.get("arguments")
    if name not in TOOLS:
        return f"error: unknown tool {name!r} (available: {', '.join(TOOLS)})"
    if not isinstance(arguments, dict):
        return "error: arguments must be a JSON object"
    return TOOLS[name](arguments)
