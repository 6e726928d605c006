"""Module, Parameter and the containers (Sequential, ModuleList, ModuleDict).

A Module registers what is assigned to it: a `Parameter` becomes a trainable
leaf, a `Module` a child, `register_buffer` a saved non-trainable tensor (batch
norm's running statistics). Children know their qualified name (`features.0`),
the attribute path from the root; `__call__` pushes the scope
`features.0 (Conv2d)` so every node of the graph records which layer made it.
"""
from collections import OrderedDict
from typing import NamedTuple

import numpy as np

from autograd.creation import from_numpy
from autograd.dtypes import get_default_dtype
from autograd.grad_mode import no_grad, scope
from autograd.tensor import Tensor


class Parameter(Tensor):
    """A leaf Tensor that a Module registers as trainable: `Parameter(data, requires_grad=True)`."""

    __slots__ = ()

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = np.empty(0, get_default_dtype())
        super().__init__(data.data if isinstance(data, Tensor) else data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


def new_parameter(*shape):
    """An uninitialised Parameter of the default dtype (layers fill it in `reset_parameters`)."""
    return Parameter(np.empty(shape, get_default_dtype()))


class IncompatibleKeys(NamedTuple):
    """What `load_state_dict` did not match: keys the module lacked in the state, and extra keys."""

    missing_keys: list
    unexpected_keys: list


class RemovableHandle:
    """Returned by `register_forward_hook`; `handle.remove()` unregisters the hook."""

    _next_id = 0

    def __init__(self, hooks):
        self._hooks = hooks
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self):
        self._hooks.pop(self.id, None)


class Module:
    """Base class of every layer and model: subclass it, assign layers in `__init__`, write `forward`."""

    def __init__(self):
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_forward_pre_hooks", {})
        object.__setattr__(self, "_forward_hooks", {})
        object.__setattr__(self, "_name", "")
        object.__setattr__(self, "training", True)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward(); define one in the subclass")

    def __call__(self, *args, **kwargs):
        """Run `forward` inside the scope `qualified.name (ClassName)`, with the registered hooks."""
        for hook in tuple(self._forward_pre_hooks.values()):
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        name = type(self).__name__
        with scope(f"{self._name} ({name})" if self._name else name):
            out = self.forward(*args, **kwargs)
        for hook in tuple(self._forward_hooks.values()):
            result = hook(self, args, out)
            if result is not None:
                out = result
        return out

    def register_forward_pre_hook(self, hook):
        """Call hook(module, inputs) before forward; a returned value replaces the inputs."""
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        return handle

    def register_forward_hook(self, hook):
        """Call hook(module, inputs, output) after forward; a returned value replaces the output."""
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    # -- registration --------------------------------------------------------------------
    def _registry(self, kind):
        """The dict that registers `kind` ('_parameters', '_buffers' or '_modules')."""
        if kind not in self.__dict__:
            raise AttributeError(
                f"cannot assign parameters or modules before {type(self).__name__}.__init__ has called "
                "super().__init__()"
            )
        return self.__dict__[kind]

    def __setattr__(self, name, value):
        if isinstance(value, Parameter):
            self.register_parameter(name, value)
        elif isinstance(value, Module):
            self.add_module(name, value)
        elif "_parameters" in self.__dict__ and name in self._parameters:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as parameter '{name}' of "
                                f"{type(self).__name__} (a Parameter or None is expected)")
            self._parameters[name] = None
        elif "_modules" in self.__dict__ and name in self._modules:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as child module '{name}' of "
                                f"{type(self).__name__} (a Module or None is expected)")
            self._modules[name] = None
        elif "_buffers" in self.__dict__ and name in self._buffers:
            self._buffers[name] = _as_buffer(value, name)
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        # only called when normal lookup fails: look in the registries
        d = self.__dict__
        for registry in ("_parameters", "_buffers", "_modules"):
            if registry in d and name in d[registry]:
                return d[registry][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                self._non_persistent.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules))

    def _register(self, kind, name, value):
        """Put value in one registry and drop `name` from the others (a re-assignment keeps its place)."""
        _check_name(name, self)
        registry = self._registry(kind)
        for other in ("_parameters", "_buffers", "_modules"):
            if other != kind:
                self.__dict__[other].pop(name, None)
        self.__dict__.pop(name, None)
        self._non_persistent.discard(name)
        registry[name] = value

    def register_parameter(self, name, param):
        """Register `param` (a Parameter, or None for an absent optional one such as a bias)."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: '{name}' must be a Parameter or None, got {type(param).__name__}")
        self._register("_parameters", name, param)

    def register_buffer(self, name, tensor, persistent=True):
        """Register a non-trainable tensor saved in `state_dict` (unless persistent=False)."""
        self._register("_buffers", name, _as_buffer(tensor, name))
        if not persistent:
            self._non_persistent.add(name)

    def add_module(self, name, module):
        """Register a child module; its subtree takes qualified names below this module's."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: '{name}' must be a Module or None, got {type(module).__name__}")
        self._register("_modules", name, module)
        if module is not None:
            for sub_name, sub in module.named_modules(prefix=f"{self._name}.{name}" if self._name else name):
                object.__setattr__(sub, "_name", sub_name)

    # -- traversal -----------------------------------------------------------------------
    def named_modules(self, memo=None, prefix=""):
        """(qualified name, module) for this module and every descendant, each once, depth first."""
        if memo is None:
            memo = set()
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(memo, f"{prefix}.{name}" if prefix else name)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        seen = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self):
        for _, child in self.named_children():
            yield child

    def _named_members(self, registry, prefix, recurse):
        seen = set()
        modules = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in getattr(module, registry).items():
                if value is None or id(value) in seen:
                    continue
                seen.add(id(value))
                yield (f"{module_prefix}.{name}" if module_prefix else name), value

    def named_parameters(self, prefix="", recurse=True):
        """(name, Parameter) pairs, e.g. ('features.0.weight', ...); a shared parameter appears once."""
        return self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True):
        return self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn):
        """Call fn(module) on every child (recursively), then on self; returns self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # -- modes and gradients ---------------------------------------------------------------
    def train(self, mode=True):
        """Training mode (dropout active, batch norm uses batch statistics); returns self."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        """Evaluation mode: `train(False)`."""
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        """Freeze (False) or unfreeze every parameter; returns self."""
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def zero_grad(self, set_to_none=True):
        """Forget the gradients: `.grad = None` (default) or fresh zeros."""
        for p in self.parameters():
            if p.grad is not None:
                p.grad = None if set_to_none else from_numpy(np.zeros_like(p.data))

    # -- dtype -----------------------------------------------------------------------------
    def to(self, dtype):
        """Convert floating parameters, their gradients and floating buffers to dtype, in place."""
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"{type(self).__name__}.to: expected a floating dtype, got {dtype}")
        for p in self.parameters():
            p.data = p.data.astype(dtype, copy=False)
            if p.grad is not None:
                p.grad = from_numpy(p.grad.data.astype(dtype, copy=False))
        for b in self.buffers():
            if b.data.dtype.kind == "f":
                b.data = b.data.astype(dtype, copy=False)
        return self

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    # -- state -----------------------------------------------------------------------------
    def _state_tensors(self):
        """name -> the live Tensor behind every state_dict entry, in PyTorch's order."""
        state = OrderedDict()
        for prefix, module in self.named_modules():
            dot = f"{prefix}." if prefix else ""
            for name, p in module._parameters.items():
                if p is not None:
                    state[dot + name] = p
            for name, b in module._buffers.items():
                if b is not None and name not in module._non_persistent:
                    state[dot + name] = b
        return state

    def state_dict(self):
        """An ordered dict of name -> ndarray copy: parameters and persistent buffers (`features.0.weight`)."""
        return OrderedDict((name, t.data.copy()) for name, t in self._state_tensors().items())

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays (or Tensors) into the parameters and buffers, keeping this module's dtypes.

        All or nothing: every key, shape and dtype is checked first (strict=True: no key missing or
        extra; a value must cast to the target's dtype within its kind, float64 → float32 but not
        float → int), and nothing is changed unless all fit. Returns `(missing_keys, unexpected_keys)`.
        """
        own = self._state_tensors()
        given = OrderedDict((k, v.data if isinstance(v, Tensor) else np.asarray(v)) for k, v in state_dict.items())
        missing = [k for k in own if k not in given]
        unexpected = [k for k in given if k not in own]
        problems = _state_problems(own, given, missing, unexpected, strict)
        if problems:
            raise RuntimeError(f"error(s) loading state_dict into {type(self).__name__}:\n  " + "\n  ".join(problems))
        with no_grad():
            for name, target in own.items():
                if name in given:
                    target.copy_(given[name])
        return IncompatibleKeys(missing, unexpected)

    # -- printing --------------------------------------------------------------------------
    def extra_repr(self):
        """The text between the parentheses of this module's one-line repr."""
        return ""

    def _describe_args(self):
        return self.extra_repr()

    def describe(self):
        """A short one-line name for error messages: `Conv2d(3, 8, kernel_size=3)`, with its path if any."""
        text = f"{type(self).__name__}({self._describe_args()})"
        return f"{self._name} ({text})" if self._name else text

    def __repr__(self):
        lines = [line for line in self.extra_repr().split("\n") if line] if self.extra_repr() else []
        for name, child in self._modules.items():
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"({name}): {body}")
        head = type(self).__name__ + "("
        if not self._modules:
            return head + "\n  ".join(lines) + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"


def _state_problems(own, given, missing, unexpected, strict):
    """Why `given` cannot be loaded into the tensors `own` (an empty list when it can)."""
    shared = [k for k in own if k in given]
    mismatched = [f"{k}: expected shape {own[k].shape}, got {given[k].shape}"
                  for k in shared if given[k].shape != own[k].shape]
    uncastable = [f"{k}: cannot cast {given[k].dtype} to {own[k].dtype}"
                  for k in shared if not np.can_cast(given[k].dtype, own[k].dtype, casting="same_kind")]
    problems = []
    if strict and missing:
        problems.append("missing keys: " + ", ".join(missing))
    if strict and unexpected:
        problems.append("unexpected keys: " + ", ".join(unexpected))
    if mismatched:
        problems.append("shape mismatches: " + "; ".join(mismatched))
    if uncastable:
        problems.append("dtype mismatches: " + "; ".join(uncastable))
    return problems


def _check_name(name, module):
    if not isinstance(name, str) or not name or "." in name:
        raise KeyError(f"{type(module).__name__}: invalid attribute name {name!r} (a non-empty string without '.')")


def _as_buffer(value, name):
    if value is None or isinstance(value, Tensor):
        return value
    if isinstance(value, (np.ndarray, np.generic, int, float)):
        return Tensor(value)
    raise TypeError(f"buffer '{name}' must be a Tensor, an ndarray or None, got {type(value).__name__}")


# -- containers ---------------------------------------------------------------------------------
class _ModuleSequence(Module):
    """What Sequential and ModuleList share: children in order, appended under the keys '0', '1', …"""

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self


class Sequential(_ModuleSequence):
    """Modules applied in order: `Sequential(Conv2d(1, 6, 5), ReLU())`, or from an OrderedDict of names."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], (dict, OrderedDict)):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(modules):
                self.add_module(str(i), m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def __getitem__(self, index):
        items = list(self._modules.items())
        if isinstance(index, slice):
            part = Sequential()
            part._modules.update(items[index])  # a view: the modules keep their names and keys
            return part
        return items[_checked_index(index, len(items), self)][1]


class ModuleList(_ModuleSequence):
    """A list of modules that registers each one (`layers.0.weight`, `layers.1.weight`, ...)."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, index):
        items = list(self._modules.values())
        if isinstance(index, slice):
            part = ModuleList()
            part._modules.update((str(i), m) for i, m in enumerate(items[index]))
            return part
        return items[_checked_index(index, len(items), self)]

    def __setitem__(self, index, module):
        self.add_module(str(_checked_index(index, len(self), self)), module)

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def insert(self, index, module):
        items = list(self._modules.values())
        items.insert(index, module)
        self._modules.clear()
        self.extend(items)


class ModuleDict(Module):
    """A dict of named modules that registers each one (`heads.digit.weight`)."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __delitem__(self, key):
        del self._modules[key]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def items(self):
        return self._modules.items()

    def values(self):
        return self._modules.values()

    def update(self, modules):
        for name, m in (modules.items() if hasattr(modules, "items") else modules):
            self.add_module(name, m)


def _checked_index(index, length, container):
    index = int(index)
    if not -length <= index < length:
        raise IndexError(f"{type(container).__name__}: index {index} out of range for {length} modules")
    return index % length
