"""Refusing unknown keyword arguments, with the accepted names and the closest match.

Keras' functional `Model.__init__` drops keyword arguments it does not know, so a misspelt
option (`num_label=3`) would build a different model without a word. Every public class of
the package checks its keyword arguments against the names its constructors take.

This module imports nothing from the package, so every layer of it can use it.
"""

import difflib
import inspect

#: Keras' own constructor arguments, accepted by every model.
KERAS_ARGUMENTS = ("name", "dtype", "trainable")


def accepted_arguments(cls):
    """The keyword arguments `cls(...)` accepts, from its constructors' signatures.

    The walk follows `**kwargs` up the class hierarchy and stops at a class that marks itself
    with `_arguments_end = True` in its own body: the arguments of such a base class are
    filled in by its subclasses, not by the caller.
    """
    names = list(getattr(cls, "extra_arguments", ()))
    for klass in cls.__mro__:
        if klass.__dict__.get("_arguments_end") or klass is object:
            break
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        forwards = False
        for param in inspect.signature(init).parameters.values():
            if param.kind is param.VAR_KEYWORD:
                forwards = True
            elif param.kind is not param.VAR_POSITIONAL and param.name != "self":
                names.append(param.name)
        if not forwards:
            break
    return tuple(dict.fromkeys(names))


def refuse_unknown(owner, given, accepted):
    """Raises a `ValueError` naming the first of `given` that is not in `accepted`.

    Args:
        owner: what was called, for the message (a class name or `"X.from_preset"`).
        given: the names the caller passed.
        accepted: the names that are accepted.
    """
    accepted = sorted(set(accepted))
    unknown = [name for name in given if name not in accepted]
    if not unknown:
        return
    name = unknown[0]
    close = difflib.get_close_matches(name, accepted, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    others = f" (also unknown: {unknown[1:]})" if len(unknown) > 1 else ""
    raise ValueError(
        f"{owner} got an unknown argument {name!r}{others}.{hint} Accepted: {accepted}."
    )


class StrictArguments:
    """Mixin for plain classes: unknown keyword arguments are a `ValueError`, not a TypeError.

    The check runs in `__new__`, before Python binds the arguments to `__init__`.
    """

    def __new__(cls, *args, **kwargs):
        refuse_unknown(cls.__name__, kwargs, accepted_arguments(cls))
        return super().__new__(cls)
