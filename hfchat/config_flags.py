"""Command-line flags made from a config dataclass, and library errors that name config fields.

A library error names the field it is about in backticks (`` `task_data` ``); each front end turns that into its
own flag: ``hfchat eval`` spells fields with dashes (``--task-data``), the recipes with underscores as TRL's parser
does (``--task_data``). The ``hfchat`` subcommands add their flags from the same dataclasses the recipes parse, so
a field, its default and its help exist once.

Example:
    >>> import argparse
    >>> from dataclasses import dataclass, field
    >>> @dataclass
    ... class Options:
    ...     model_name_or_path: str = field(metadata={"help": "a model folder"})
    ...     batch_size: int = field(default=8, metadata={"help": "rows per step"})
    >>> parser = argparse.ArgumentParser()
    >>> add_dataclass_arguments(parser, Options, flags={"model_name_or_path": "--model"})
    >>> from_namespace(Options, parser.parse_args(["--model", "m", "--batch-size", "2"]))
    Options(model_name_or_path='m', batch_size=2)
    >>> name_flags("`batch_size` must be positive", Options, dashes=True, flags={"model_name_or_path": "--model"})
    '--batch-size must be positive'
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import types
import typing


def _flag(name: str, dashes: bool, flags: dict[str, str]) -> str:
    return flags.get(name) or "--" + (name.replace("_", "-") if dashes else name)


def _value_type(annotation) -> type:
    """``int`` for ``int | None``, ``str`` for ``list[str]``, and so on."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        (annotation,) = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    if typing.get_origin(annotation) is list:
        (annotation,) = typing.get_args(annotation)
    return annotation


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls, *, flags: dict[str, str] | None = None,
                            required: tuple[str, ...] = (), skip: tuple[str, ...] = (),
                            defaults: dict | None = None) -> None:
    """One flag per field of ``cls`` (``--field-name``, or the name ``flags`` gives it): its type, its default
    (a field without one is required, as are ``required``) and its ``help`` metadata, backticked fields in it
    written as flags; ``defaults`` replaces some fields' defaults for this command. A ``list`` field is repeatable
    (or takes several values with ``nargs`` metadata); a ``bool`` field is a switch."""
    flags, defaults = flags or {}, defaults or {}
    hints = typing.get_type_hints(cls)
    for spec in dataclasses.fields(cls):
        if spec.name in skip:
            continue
        kind, text = hints[spec.name], name_flags(spec.metadata.get("help", ""), cls, dashes=True, flags=flags)
        flag = _flag(spec.name, True, flags)
        has_default = spec.default is not dataclasses.MISSING or spec.default_factory is not dataclasses.MISSING
        default = defaults.get(spec.name, spec.default if spec.default is not dataclasses.MISSING else None)
        options = {"dest": spec.name, "help": text}
        if kind is not bool:
            options["metavar"] = spec.metadata.get("metavar", flag.lstrip("-").replace("-", "_").upper())
        if kind is bool:
            options.update(action="store_true", default=bool(default))
        elif typing.get_origin(kind) is list:
            options.update(type=_value_type(kind), default=[])
            options.update({"nargs": spec.metadata["nargs"]} if "nargs" in spec.metadata else {"action": "append"})
        else:
            value_type = _value_type(kind)
            options.update(type=value_type, default=default)
            if spec.name in required or not has_default:
                options["required"] = True
            elif "default" in text or default is None:
                pass  # the help says it, or there is nothing to say
            elif spec.name in defaults:
                options["help"] = f"{text} (default: {default}; {cls.__name__}() has {spec.default})"
            else:
                options["help"] = f"{text} (default: {default})"
        parser.add_argument(flag, **options)


def from_namespace(cls, namespace: argparse.Namespace):
    """An instance of ``cls`` from the parsed flags `add_dataclass_arguments` added."""
    return cls(**{spec.name: getattr(namespace, spec.name) for spec in dataclasses.fields(cls)
                  if hasattr(namespace, spec.name)})


def name_flags(message: str, cls, *, dashes: bool, flags: dict[str, str] | None = None) -> str:
    """``message`` with each backticked field of ``cls`` written as its flag (dashes: ``hfchat``'s spelling)."""
    names = {spec.name for spec in dataclasses.fields(cls)}
    return re.sub(r"`(\w+)`", lambda m: _flag(m[1], dashes, flags or {}) if m[1] in names else m[0], message)
