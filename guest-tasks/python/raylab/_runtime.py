"""The exports of raylab's Python runtime component: ``wasi:cli/run`` (the
driver) and ``raylab:runtime/task`` (every remote call).

One component serves every Python program: componentize-py builds it once
per raylab version (``raylab-host`` caches it), running this module's top
level at build time and snapshotting the interpreter. So what is imported
here is in every instance from its first instruction, and nothing of a
user's program is: the program is data.

* The driver receives the program as its first argument (a JSON bundle:
  the main file's name and the sources of the ``.py`` files beside it, put
  there by ``raylab-host``), makes the bundle importable, and runs the main
  file's source as ``__main__``, exactly once, as ``python app.py`` would.
* A task is a call of any name (``functions`` answers ``*``): its first
  argument is the function pickled by value (see ``raylab._codec``), which
  the instance rebuilds (once per instance) and calls. An actor's
  constructor is ``C.new`` with the class pickled by value; its methods run
  on the instance that constructor made.

The standard library: modules imported below are in the snapshot; every
other pure-Python module of the standard library is compiled at build time
into a table of code objects (marshal) that an import finder serves, so
``import csv`` works in any sandbox without a file system. A module that
cannot be had (a C extension such as numpy, a package not bundled) fails
with an ``ImportError`` that says why and what to do.
"""

import sys

# Imported at build time: what most programs use, and what the standard
# library imports lazily (argparse imports gettext, locale and shutil when
# a parser is made; `locale` is the SDK's shim: this CPython has none).
import argparse  # noqa: F401
import asyncio
import asyncio.selector_events
import base64
import builtins
import collections  # noqa: F401
import copy  # noqa: F401
import dataclasses  # noqa: F401
import datetime  # noqa: F401
import enum  # noqa: F401
import functools  # noqa: F401
import gettext  # noqa: F401
import heapq  # noqa: F401
import inspect  # noqa: F401
import itertools  # noqa: F401
import json
import linecache
import locale  # noqa: F401
import marshal
import math  # noqa: F401
import os
import random  # noqa: F401
import re
import shutil  # noqa: F401
import statistics  # noqa: F401
import struct  # noqa: F401
import subprocess
import textwrap  # noqa: F401
import threading
import time  # noqa: F401
import traceback
import types
import typing  # noqa: F401
from importlib.machinery import ModuleSpec

import cloudpickle  # noqa: F401

import raylab
from raylab import _codec, _msgpack
from raylab.actor import ActorExit
from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import runtime as _rt

# ---------------------------------------------------------------- imports

# Where componentize-py mounts the standard library while it builds.
_STDLIB_ROOT = "/python"
# Not worth a place in every sandbox: tests, GUIs, the REPL's tools,
# installers, and what needs processes or threads of its own.
_STDLIB_SKIP = {
    "test",
    "tests",
    "idlelib",
    "tkinter",
    "turtledemo",
    "turtle",
    "ensurepip",
    "site-packages",
    "lib2to3",
    "venv",
    "pydoc_data",
    "__pycache__",
    "__phello__",
    "antigravity",
    "this",
    "_pyrepl",
    "pydoc",
}


def _collect_stdlib():
    """``{module: (is_package, marshalled code)}`` of every pure-Python
    standard module not imported already (build time only)."""
    table = {}
    if not os.path.isdir(_STDLIB_ROOT):
        return table
    for dirpath, dirnames, filenames in os.walk(_STDLIB_ROOT):
        rel = os.path.relpath(dirpath, _STDLIB_ROOT)
        parts = [] if rel == "." else rel.split(os.sep)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in _STDLIB_SKIP
            and not d.startswith("config-")
            and d.isidentifier()
            and os.path.exists(os.path.join(dirpath, d, "__init__.py"))
        )
        for f in sorted(filenames):
            if not f.endswith(".py"):
                continue
            stem = f[:-3]
            if stem in _STDLIB_SKIP or not stem.isidentifier() or stem.startswith("_sysconfigdata"):
                continue
            is_pkg = stem == "__init__"
            name = ".".join(parts if is_pkg else parts + [stem])
            if not name or name in sys.modules:
                continue
            path = os.path.join(dirpath, f)
            try:
                with open(path, encoding="utf-8") as fh:
                    source = fh.read()
                code = compile(source, "<stdlib>/" + os.path.relpath(path, _STDLIB_ROOT), "exec", dont_inherit=True)
            except (SyntaxError, UnicodeDecodeError, OSError):
                continue
            table[name] = (is_pkg, marshal.dumps(code))
    return table


class _Table:
    """An import finder and loader over ``{module: (is_package, code)}``
    where code is marshalled, or the source text of a program's file."""

    def __init__(self, table, origin):
        self.table = table
        self.origin = origin

    def find_spec(self, name, path=None, target=None):
        entry = self.table.get(name)
        if entry is None:
            return None
        spec = ModuleSpec(name, self, origin=self._file(name, entry), is_package=entry[0])
        spec.has_location = True
        return spec

    def _file(self, name, entry):
        if len(entry) == 3:
            return entry[2]
        return "%s/%s%s" % (self.origin, name.replace(".", "/"), "/__init__.py" if entry[0] else ".py")

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        entry = self.table[module.__name__]
        if len(entry) == 3:
            code = compile(entry[1], entry[2], "exec", dont_inherit=True)
        else:
            code = marshal.loads(entry[1])
        module.__file__ = module.__spec__.origin
        exec(code, module.__dict__)


_stdlib = _Table(_collect_stdlib(), "<stdlib>")
sys.meta_path.append(_stdlib)


# Modules that cannot work in the sandbox, and why.
_NATIVE = {
    "numpy",
    "pandas",
    "scipy",
    "sklearn",
    "torch",
    "tensorflow",
    "jax",
    "matplotlib",
    "PIL",
    "cv2",
    "lxml",
    "psutil",
    "grpc",
    "pyarrow",
    "polars",
    "orjson",
    "ujson",
    "pydantic_core",
    "cryptography",
    "_cffi_backend",
    "numba",
}
_NO_C = {
    "ssl": "_ssl (TLS)",
    "_ssl": "_ssl (TLS)",
    "sqlite3": "_sqlite3",
    "_sqlite3": "_sqlite3",
    "ctypes": "_ctypes (foreign calls)",
    "_ctypes": "_ctypes (foreign calls)",
    "lzma": "_lzma",
    "bz2": "_bz2",
    "readline": "readline",
    "curses": "_curses",
    "dbm": "_dbm",
    "tkinter": "_tkinter",
    "multiprocessing": "processes",
    "concurrent.futures.process": "processes",
}


class _RayAlias:
    """``import ray`` (and ``from ray.dag import ...``) gives raylab: a Ray
    program runs with its imports as they are."""

    def find_spec(self, name, path=None, target=None):
        if name != "ray" and not name.startswith("ray."):
            return None
        import importlib

        try:
            module = importlib.import_module("raylab" + name[3:])
        except ImportError:
            return None
        spec = ModuleSpec(name, self, origin=getattr(module, "__file__", None))
        spec._raylab_module = module
        return spec

    def create_module(self, spec):
        return spec._raylab_module

    def exec_module(self, module):
        pass


class _Explain:
    """The last import finder: a module nobody found gets an error that
    says why and what to do, instead of a bare "No module named"."""

    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top == "ray":
            raise ModuleNotFoundError(
                "No module named %r: raylab has no such part of Ray's API" % name,
                name=name,
            )
        if top in _NATIVE:
            raise ModuleNotFoundError(
                "No module named %r: %s is a C extension, and raylab's sandboxed CPython (WebAssembly) "
                "cannot load native code; only pure-Python packages can be used" % (name, top),
                name=name,
            )
        why = _NO_C.get(name) or _NO_C.get(top)
        if why is not None:
            raise ModuleNotFoundError(
                "No module named %r: raylab's sandboxed CPython (WebAssembly) has no %s" % (name, why),
                name=name,
            )
        if path is None:  # A top-level module or package.
            raise ModuleNotFoundError(
                "No module named %r: raylab bundles the standard library and the .py files and packages "
                "beside the program; to use the pure-Python package %r, vendor it beside the program "
                "(pip install --target DIR_OF_YOUR_PROGRAM %s)" % (name, top, top),
                name=name,
            )
        return None


# What the sandbox cannot do, said when tried.
def _no_processes(*args, **kwargs):
    raise OSError(
        "raylab: subprocess cannot start programs: the program runs in a WebAssembly sandbox, which has no "
        "processes"
    )


subprocess.Popen.__init__ = _no_processes


def _no_threads(self, *args, **kwargs):
    raise RuntimeError(
        "raylab: threads cannot start in the sandbox (WebAssembly without threads): use remote tasks or "
        "actors for concurrency, or asyncio"
    )


threading.Thread.start = _no_threads


def _no_network(*args, **kwargs):
    raise PermissionError(
        "raylab: the sandbox has no network: tasks and drivers reach data through the object store "
        "(ray.put / ray.get), not sockets"
    )


import socket  # noqa: E402

socket.getaddrinfo = _no_network
socket.create_connection = _no_network
socket.socket.connect = _no_network
socket.socket.connect_ex = _no_network
socket.socket.bind = _no_network


# asyncio's event loops wake themselves through a socket pair, and the
# sandbox has no sockets: with no threads to wake a loop from, it needs
# none (`asyncio.run`, `await asyncio.sleep(...)` and async actor methods
# work).
def _no_self_pipe(self, *args):
    pass


asyncio.selector_events.BaseSelectorEventLoop._make_self_pipe = _no_self_pipe
asyncio.selector_events.BaseSelectorEventLoop._close_self_pipe = _no_self_pipe
asyncio.selector_events.BaseSelectorEventLoop._write_to_self = _no_self_pipe


# An async actor's instance serves its calls from its event loop: where
# the loop would block, it asks the host for further calls (`next-calls`)
# instead, so that calls wait on each other as in Ray (see `_serve`). Any
# other loop with nothing to wait for but an event only another call could
# set would wait for ever (WASI traps on an empty poll): say why.
import math  # noqa: E402
import selectors  # noqa: E402


def _guard_select(select):
    def guarded(self, timeout=None):
        if self.get_map():
            return select(self, timeout)
        if _serving:
            room = _max_concurrency - len(_calls)
            ms = None if timeout is None else int(max(timeout, 0.0) * 1000)
            started = time.monotonic()
            mail = _rt.next_calls(max(room, 0), ms)
            for c in mail.calls:
                _start_call(c.id, c.function, c.args)
            for id in mail.cancelled:
                t = _calls.get(id)
                if t is not None:
                    t.cancel()
            if mail.calls or mail.cancelled:
                return []
            if timeout is None:
                if mail.closed:
                    raise RuntimeError(
                        "raylab: this coroutine waits for something that only another call could give "
                        "(an asyncio.Event, a Future), and no call can come any more: the actor has no "
                        "handle left"
                    )
                return []
            # What is left of the timeout, below the host's milliseconds.
            rest = timeout - (time.monotonic() - started)
            if rest <= 0:
                return []
            timeout = rest
        elif timeout is None:
            raise RuntimeError(
                "raylab: this coroutine waits for something that only another call could give (an "
                "asyncio.Event, a Future), and nothing else runs in this task: the wait would never end"
            )
        return select(self, timeout)

    return guarded


for _cls in {selectors.DefaultSelector, selectors.SelectSelector}:
    _cls.select = _guard_select(_cls.select)


# ---------------------------------------------------------------- the program


class _Program:
    """The program's files (``{relative path: source}``) as importable
    modules, and their lines for tracebacks."""

    def __init__(self, files, main):
        self.files = files
        table = {}
        for rel, source in files.items():
            if not rel.endswith(".py") or rel == main:
                continue
            parts = rel[:-3].split("/")
            is_pkg = parts[-1] == "__init__"
            if is_pkg:
                parts.pop()
            if parts and all(p.isidentifier() for p in parts):
                table[".".join(parts)] = (is_pkg, source, rel)
        self.finder = _Table(table, ".")
        for rel, source in files.items():
            lines = source.splitlines(True)
            linecache.cache[rel] = (len(source), None, lines, rel)


# The program's bundle: in the driver, its files; in a task, the ref that
# holds them (read when an import or a traceback first needs them).
_program = None
_program_ref = None
_program_ref_put = None


def _install(program):
    global _program
    _program = program
    # Before the standard library: a program's module may shadow one.
    sys.meta_path.insert(0, program.finder)


class _Lazy:
    """A task's finder for the program's modules, read from the bundle's
    object on the first import that needs them."""

    def find_spec(self, name, path=None, target=None):
        if _program is None and _program_ref is not None and path is None:
            _load_program()
            if _program is not None:
                return _program.finder.find_spec(name, path, target)
        return None


def _load_program():
    global _program_ref
    ref, _program_ref = _program_ref, None
    try:
        bundle = _msgpack.decode(_rt.get(ref._raylab_id, None))
    except Exception:
        return
    _install(_Program(bundle["files"], bundle["main"]))


# In a task: the bundle's ref as first seen, which functions this task
# exports carry on.
_seen_ref = None


def _bundle_seen(ref):
    """Unpickling a function: the program's bundle, for its imports."""
    global _program_ref, _seen_ref
    if _seen_ref is None:
        _seen_ref = ref
        raylab._bundle = lambda: _seen_ref
        if _program is None:
            _program_ref = ref


_codec.BUNDLE = _bundle_seen


def _bundle_for_export():
    """The driver: the ref of the program's bundle, stored once."""
    global _program_ref_put
    if _program_ref_put is None:
        data = _msgpack.encode({"main": _main_file, "files": _program.files})
        _program_ref_put = raylab.ObjectRef(raylab._call(_rt.put, data))
    return _program_ref_put


_main_file = None


class Run(exports.Run):
    def run(self) -> None:
        global _main_file
        failed = False
        try:
            if len(sys.argv) < 2 or not sys.argv[1].startswith("{"):
                print(
                    "raylab: this is raylab's Python runtime: run a program with `raylab-host run app.py`",
                    file=sys.stderr,
                )
                raise Err(None)
            bundle = json.loads(sys.argv[1])
            _main_file = main = bundle["main"]
            _install(_Program(bundle["files"], main))
            raylab._bundle = _bundle_for_export
            sys.argv = [main] + sys.argv[2:]
            module = types.ModuleType("__main__")
            module.__file__ = main
            module.__builtins__ = builtins
            sys.modules["__main__"] = module
            code = compile(bundle["files"][main], main, "exec", dont_inherit=True)
            _codec.HELD = []
            try:
                exec(code, module.__dict__)
            finally:
                _atexit()
                # As at the interpreter's end: the program's globals go, so
                # refs it kept there count as forgotten too.
                module.__dict__.clear()
                import gc

                gc.collect()
                _finish_forgotten()
        except SystemExit as e:
            if e.code not in (None, 0):
                if not isinstance(e.code, int):
                    print(e.code, file=sys.stderr)
                failed = True
        except Err:
            raise
        except BaseException as e:
            _print_exception(e)
            failed = True
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        if failed:
            raise Err(None)


# How long a driver's end waits for the tasks it submitted and forgot.
FORGOTTEN_GRACE_MS = 10_000


def _finish_forgotten():
    """Wait (a while) for the tasks whose refs the program dropped before
    they finished, then give their counts back."""
    held, _codec.HELD = _codec.HELD, None
    if held:
        try:
            _rt.wait(held, len(held), FORGOTTEN_GRACE_MS)
        except Exception:
            pass
        for id in held:
            try:
                _rt.release(id)
            except Exception:
                pass


def _atexit():
    try:
        import atexit

        atexit._run_exitfuncs()
    except Exception:
        pass


def _print_exception(e):
    """Print ``e``'s traceback as Python would, without this module's
    frames."""
    tb = e.__traceback__
    while tb is not None and tb.tb_frame.f_globals.get("__name__") == __name__:
        tb = tb.tb_next
    sys.stderr.write(_ray_names("".join(traceback.format_exception(type(e), e, tb))))


def _ray_names(text):
    """A traceback with raylab's errors named as Ray names them
    (``ray.exceptions.TaskCancelledError``), as a Ray program prints it."""
    return re.sub(r"(?m)^raylab\.exceptions\.", "ray.exceptions.", text)


# ---------------------------------------------------------------- tasks

# The actor this instance holds: (instance, id), or None.
_actor = None


def current_actor():
    return _actor


_loop = None
# The function the call running now runs (for errors).
_function_name = ""


def _event_loop():
    global _loop
    if _loop is None:
        _loop = asyncio.new_event_loop()
        asyncio.set_event_loop(_loop)
    return _loop


def _await(coroutine):
    """Run an ``async def`` function's coroutine to its end."""
    return _event_loop().run_until_complete(coroutine)


# ---------------------------------------------------------------- async actors
#
# An actor with an ``async def`` method is an async actor (as in Ray): its
# calls run concurrently, as tasks of one event loop, up to
# ``max_concurrency`` (Ray's default: 1000) at once. The host's ``task.call``
# starts the loop with one call (`_serve`); whenever the loop would block,
# it takes further calls from the host (`next-calls`, in `_guard_select`)
# and each call, when done, is finished on its own (`finish-call`), so a
# call's caller gets its result as soon as it is ready, not when the loop
# next goes idle. ``task.call`` returns once no call runs. A call cancelled
# with ``ray.cancel`` is cancelled as an asyncio task.

# Whether the actor is async, and how many of its calls may run at once.
_actor_async = False
_max_concurrency = 1000
# Whether the loop is serving calls now (`_serve`), and the calls it runs.
_serving = False
_calls = {}
# Set when a call ended the actor (exit_actor, sys.exit): the exit mark.
_exiting = None
_EXIT = "\x1eraylab-exit-actor: "


def _is_async_class(cls):
    return any(
        inspect.iscoroutinefunction(m) or inspect.isasyncgenfunction(m)
        for _, m in inspect.getmembers(cls, callable)
    )


def _start_call(id, function, args):
    _calls[id] = _event_loop().create_task(_one_call(id, function, args))


async def _one_call(id, function, args):
    global _exiting
    try:
        method = function.rpartition(".")[2]
        _, a, kw, returns = _codec.decode_call(args, False)
        if method == "__ray_ready__":
            result = True
        elif method == "__ray_terminate__":
            raise ActorExit(0)
        else:
            result = _method(method)(*a, **kw)
            if inspect.iscoroutine(result):
                result = await result
            elif inspect.isasyncgen(result):
                result = [x async for x in result]
            result = _shape(result, returns)
        ids = []
        out = _codec.encode(result, ids)
        for i in ids:
            _rt.retain(i)
        outcome = Ok(out)
    except asyncio.CancelledError:
        outcome = Err(_failure(raylab.exceptions.TaskCancelledError(error_message="the call was cancelled"), function))
    except ActorExit:
        _exiting = _EXIT + "the actor called exit_actor()"
        outcome = Err(_exiting)
    except SystemExit as e:
        if e.code in (None, 0):
            _exiting = _EXIT + "the actor called sys.exit(%r)" % (e.code,)
        else:
            _exiting = _EXIT + "the actor called sys.exit(%r): it ends the worker" % (e.code,)
        outcome = Err(_exiting)
    except BaseException as e:
        outcome = Err(_failure(e, function))
    finally:
        _calls.pop(id, None)
    _rt.finish_call(id, outcome)


async def _until_idle():
    while _calls and _exiting is None:
        await asyncio.wait(list(_calls.values()), return_when=asyncio.FIRST_COMPLETED)


def _serve(function, args):
    """Serve the async actor's calls, starting with this one, until none
    runs (see above)."""
    global _serving, _exiting
    _serving = True
    try:
        _start_call(_rt.context().task_id, function, args)
        _event_loop().run_until_complete(_until_idle())
    finally:
        _serving = False
    if _exiting is not None:
        why, _exiting = _exiting, None
        raise Err(why)
    # Every call was finished by `finish-call`: this is ignored.
    return b"\xc0"


def _method(method):
    try:
        return getattr(_actor[0], method)
    except AttributeError:
        raise AttributeError("actor class %s has no method %r" % (type(_actor[0]).__name__, method)) from None


def _raised(e):
    """An item that raises ``e`` when read (see ``_codec.Raised``)."""
    text = _failure(e)
    cut = text.find(raylab.EXCEPTION_MARK)
    raised = _codec.Raised(_function_name, text[:cut] if cut >= 0 else text, e)
    raised.where = _where(None)
    return raised


def _drain(agen):
    """The items of an async generator, in order."""

    async def items():
        return [x async for x in agen]

    return _await(items())


def _shape(result, returns):
    """The result as ``num_returns`` asks (see ``raylab._codec``)."""
    if inspect.iscoroutine(result):
        result = _await(result)
    elif inspect.isasyncgen(result):
        result = _drain(result)
    if returns == 1:
        return result
    if returns in ("streaming", "dynamic"):
        items = result if inspect.isgenerator(result) or isinstance(result, (list, tuple)) else [result]
        refs = []
        try:
            for x in items:
                refs.append(raylab.put(x))
        except Exception as e:
            # The items so far stay readable; the next one raises.
            raised = _raised(e)
            try:
                refs.append(raylab.put(raised))
            except Exception:  # The exception does not pickle.
                raised.error = RuntimeError(str(e))
                refs.append(raylab.put(raised))
        return raylab.DynamicObjectRefGenerator(refs) if returns == "dynamic" else refs
    if returns == 0:
        if result is not None:
            raise ValueError("a task with num_returns=0 must return None")
        return None
    if inspect.isgenerator(result):
        items = []
        try:
            for x in result:
                items.append(x)
                if len(items) == returns:
                    break
        except Exception as e:
            # The items so far stay readable; the rest raise (as in Ray).
            items.extend([_raised(e)] * (returns - len(items)))
        else:
            if len(items) == returns:
                # One more is too many; an error past the last item is not
                # raised (Ray stops there too).
                extra = False
                try:
                    next(result)
                    extra = True
                except Exception:
                    pass
                if extra:
                    raise ValueError("Task returned more than num_returns=%d objects." % returns)
        result = tuple(items)
    if not isinstance(result, (tuple, list)) or len(result) != returns:
        n = len(result) if isinstance(result, (tuple, list)) else 1
        raise ValueError("Task returned %d objects, but num_returns=%d." % (n, returns))
    return tuple(result)


def _where(function):
    """What Ray's error says of the worker that raised: its title
    (``ray::f``, ``ray::Class.method``), pid and ip, and for an actor's
    method the actor's id and repr."""
    name = function or _function_name
    if name.endswith(".new"):
        name = name[:-4] + ".__init__"
    info = {"proctitle": "ray::" + name, "pid": os.getpid(), "ip": raylab.exceptions._node_ip()}
    if _actor is not None:
        try:
            info["actor_repr"] = repr(_actor[0])
        except Exception:
            info["actor_repr"] = object.__repr__(_actor[0])
        info["actor_id"] = "%016x" % _actor[1]
    return info


def _failure(e, function=None):
    """The error message of a call of ``function`` that raised ``e``: its
    traceback, then (see ``raylab.EXCEPTION_MARK``) the exception itself
    for the caller, when it pickles, and where it was raised."""
    if _program is None and _program_ref is not None:
        _load_program()  # Source lines for the traceback.
    tb = e.__traceback__
    while tb is not None and tb.tb_frame.f_globals.get("__name__") == __name__:
        tb = tb.tb_next
    text = _ray_names("".join(traceback.format_exception(type(e), e, tb)))
    payload = ""
    try:
        ids = []
        data = _codec.encode(e, ids)
        if not ids:
            payload = base64.b64encode(data).decode()
    except Exception:
        pass
    try:
        where = json.dumps(_where(function))
    except Exception:
        where = "{}"
    return text + raylab.EXCEPTION_MARK + payload + "\n" + where


_GPUS = "CUDA_VISIBLE_DEVICES"
# Whether os.environ's CUDA_VISIBLE_DEVICES is still to be asked of the host
# for the call running now (see _GpuEnviron).
_gpus_pending = False


class _GpuEnviron(os._Environ):
    """``os.environ`` with ``CUDA_VISIBLE_DEVICES`` filled in when first
    read, not when a call starts.

    Ray sets ``CUDA_VISIBLE_DEVICES`` in every task and actor to the GPU
    ids it was given (empty when none). Setting it eagerly cost a host
    call (the call's context) and an environment write per call: ~150 us
    of a fresh instance's first call, where both touch pages the snapshot
    had not (BENCHMARKS.md, "Python's fresh call, measured again"), and a
    host call per warm call, for a variable almost no task reads. So a call
    only marks it pending (``_set_visible_gpus``) and any read of the
    environment (an item, a listing, a copy, ``os.getenv``) fills it in
    first. The existing ``os.environ`` object gets this class (its layout
    is the same), so every reference to it, ``from os import environ``
    included, sees the variable."""

    def _fill_gpus(self):
        global _gpus_pending
        _gpus_pending = False
        os._Environ.__setitem__(self, _GPUS, ",".join(str(g) for g in _rt.context().gpu_ids))

    def __getitem__(self, key):
        if _gpus_pending:
            self._fill_gpus()
        return os._Environ.__getitem__(self, key)

    def __setitem__(self, key, value):
        global _gpus_pending
        if _gpus_pending and key == _GPUS:
            _gpus_pending = False
        os._Environ.__setitem__(self, key, value)

    def __delitem__(self, key):
        if _gpus_pending and key == _GPUS:
            self._fill_gpus()
        os._Environ.__delitem__(self, key)

    def __iter__(self):
        if _gpus_pending:
            self._fill_gpus()
        return os._Environ.__iter__(self)

    def __len__(self):
        if _gpus_pending:
            self._fill_gpus()
        return os._Environ.__len__(self)

    def __repr__(self):
        if _gpus_pending:
            self._fill_gpus()
        return os._Environ.__repr__(self)

    def copy(self):
        if _gpus_pending:
            self._fill_gpus()
        return os._Environ.copy(self)


os.environ.__class__ = _GpuEnviron


def _set_visible_gpus():
    """``CUDA_VISIBLE_DEVICES`` as Ray sets it in a task or actor: the GPU
    ids it was given, comma-joined (empty when it has none), read from the
    host when the environment is first read (see ``_GpuEnviron``)."""
    global _gpus_pending
    _gpus_pending = True


def _run(target, args, kwargs, returns):
    """Call a task's function; with ``retry_exceptions`` a list of types
    (``target[2]``), call it again on those, as often as allowed."""
    f, retry = target[1], target[2]
    if len(target) > 3 and target[3]:
        os.environ.update(target[3])
    _set_visible_gpus()
    if retry is None:
        return _shape(f(*args, **kwargs), returns)
    types, retries = retry
    attempt = 0
    while True:
        try:
            return _shape(f(*args, **kwargs), returns)
        except types:
            if retries is not None and attempt >= retries:
                raise
            attempt += 1


class Task(exports.Task):
    def functions(self):
        # Any name: functions and classes arrive by value with each call.
        return ["*"]

    def call(self, function, args):
        global _actor, _function_name, _actor_async, _max_concurrency
        _function_name = function
        if _actor_async:
            return _serve(function, args)
        try:
            if _actor is not None:
                method = function.rpartition(".")[2]
                _, a, kw, returns = _codec.decode_call(args, False)
                if method == "__ray_ready__":
                    return _codec.encode(True)
                if method == "__ray_terminate__":
                    raise ActorExit(0)
                result = _shape(_method(method)(*a, **kw), returns)
            elif function.endswith(".new"):
                target, a, kw, _ = _codec.decode_call(args, True)
                cls = target[1]
                if len(target) > 3 and target[3]:
                    os.environ.update(target[3])
                _set_visible_gpus()
                _actor = (cls(*a, **kw), int.from_bytes(os.urandom(8), "big") >> 1)
                _actor_async = _is_async_class(cls)
                if target[2]:
                    _max_concurrency = int(target[2])
                if _actor_async:
                    # Tell the host that this actor serves its calls
                    # concurrently: it then hands over any queued call whose
                    # arguments are ready, as Ray runs an async actor's
                    # calls, not only the first in line.
                    _rt.next_calls(0, 0)
                result = cls.__name__
            elif function.rpartition(".")[2].isdigit():
                # One of a call's num_returns: the call's value, the index.
                value, index = _codec.decode(args)
                result = value[index]
            else:
                target, a, kw, returns = _codec.decode_call(args, True)
                result = _run(target, a, kw, returns)
            ids = []
            out = _codec.encode(result, ids)
        except ActorExit:
            raise Err("\x1eraylab-exit-actor: the actor called exit_actor()") from None
        except SystemExit as e:
            if _actor is not None and e.code in (None, 0):
                # As in Ray, sys.exit() in an actor ends the actor.
                raise Err("\x1eraylab-exit-actor: the actor called sys.exit(%r)" % (e.code,)) from None
            # Otherwise it ends the worker: a crash, retried (or the actor
            # restarted) as one.
            raise
        except BaseException as e:
            raise Err(_failure(e)) from None
        # The refs in the result stay this instance's until the host has
        # stored the result (Python may collect them as this returns).
        for id in ids:
            _rt.retain(id)
        return out


def _warm_up():
    """Run the paths every call takes once at build time: what they set up
    lazily (method caches, interned names, cloudpickle's tables) is then in
    the snapshot, not redone in every fresh instance."""

    class _Rt:
        def retain(self, id):
            pass

        def release(self, id):
            pass

    k = 3

    def sample(x, y=2, *rest, **kw):
        return x + y + k

    class Sample:
        def __init__(self, v):
            self.v = v

    saved = _codec._rt
    _codec._rt = _Rt()
    try:
        for value in [(None, sample, None), (None, Sample, None), ((1, 2), {3}, Sample(4)), None]:
            _codec.decode(_codec.encode(value))
        call = bytearray()
        _msgpack.array_header(call, 3)
        call += _codec.encode((None, sample, None))
        call.append(0xC0)
        call += _codec.encode(1)
        target, a, kw, _ = _codec.decode_call(bytes(call), True)
        target[1](*a, **kw)
        _codec._targets.clear()
    finally:
        _codec._rt = saved


_warm_up()


def _import_sdk():
    """Every module of the raylab package, so that the snapshot has them
    (only what is imported at build time is in the component)."""
    import importlib
    import pkgutil

    for info in pkgutil.walk_packages(raylab.__path__, "raylab."):
        importlib.import_module(info.name)


_import_sdk()

sys.meta_path.append(_Lazy())
sys.meta_path.append(_RayAlias())
sys.meta_path.append(_Explain())

# Everything made so far is the snapshot every instance starts from: keep
# the garbage collector out of it (a collection walks and writes the
# headers of the objects it tracks, and each page it writes is copied).
import gc  # noqa: E402

gc.collect()
gc.freeze()
