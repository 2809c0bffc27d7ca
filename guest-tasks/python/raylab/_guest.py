"""The exports of a Python raylab component: ``wasi:cli/run`` (the driver)
and ``raylab:runtime/task`` (its remote functions).

``raylab-host`` builds a component from a generated entry module that calls
:func:`load` with the program's file name and source, then exposes
:class:`Run` and :class:`Task`. componentize-py runs that module once, at
build time, and snapshots the interpreter: the program's imports and its
``@raylab.remote`` functions are in every sandbox from the first
instruction, so a task starts without importing anything. The driver runs
the program's source again as ``__main__``, as ``python app.py`` would.

Only modules imported while the component is built are in it: a module
imported for the first time inside a function (not at the top level of
the program or of a module it imports) is missing at run time, unless it
is one of the common standard modules imported below.
"""

import sys
import traceback

# Only what is imported while the component is built is in it, and the
# standard library imports some modules lazily (argparse imports gettext,
# locale and shutil when a parser is made): the common ones are imported
# here, at build time (`locale` is the SDK's shim; this CPython has none).
import argparse  # noqa: F401,E402
import collections  # noqa: F401,E402
import copy  # noqa: F401,E402
import dataclasses  # noqa: F401,E402
import datetime  # noqa: F401,E402
import functools  # noqa: F401,E402
import gettext  # noqa: F401,E402
import heapq  # noqa: F401,E402
import itertools  # noqa: F401,E402
import json  # noqa: F401,E402
import locale  # noqa: F401,E402
import math  # noqa: F401,E402
import random  # noqa: F401,E402
import re  # noqa: F401,E402
import shutil  # noqa: F401,E402
import statistics  # noqa: F401,E402
import struct  # noqa: F401,E402
import textwrap  # noqa: F401,E402
import time  # noqa: F401,E402

import raylab
from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import runtime as _rt

_program = None


def load(filename, source):
    """Define the program's remote functions (its top level runs with
    ``__name__`` set to the module's name, not ``__main__``)."""
    global _program
    module = type(sys)(filename.rsplit("/", 1)[-1].removesuffix(".py"))
    module.__file__ = filename
    sys.modules[module.__name__] = module
    code = compile(source, filename, "exec")
    exec(code, module.__dict__)
    _program = (filename, code)


class Run(exports.Run):
    def run(self) -> None:
        filename, code = _program
        scope = {"__name__": "__main__", "__file__": filename, "__builtins__": __builtins__}
        failed = False
        try:
            exec(code, scope)
        except SystemExit as e:
            if e.code not in (None, 0):
                if not isinstance(e.code, int):
                    print(e.code, file=sys.stderr)
                failed = True
        except BaseException:
            traceback.print_exc()
            failed = True
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        if failed:
            raise Err(None)


class Task(exports.Task):
    def functions(self):
        return sorted(raylab._functions)

    def call(self, function, args):
        f = raylab._functions.get(function)
        if f is None:
            raise Err("no remote function `%s`" % function)
        try:
            result = f(*raylab._decode(args))
            refs = []
            out = raylab._encode(result, refs)
        except BaseException:
            raise Err(traceback.format_exc()) from None
        # The refs in the result stay this instance's until the host has
        # stored the result (Python may collect them as this returns).
        for id in refs:
            _rt.retain(id)
        return out
