"""Optimizer: parameter groups, per-parameter state, and the step loop every optimizer shares.

A subclass writes its update rule once, in `update(x, g, state, group)`, on NumPy arrays:
`x` is the parameter's data (updated in place), `g` its gradient (read only), `state` the
parameter's own dict, `group` its hyper-parameters. Layout and behaviour follow `torch.optim`.
"""
import copy

import numpy as np

from autograd.creation import from_numpy
from autograd.grad_mode import enable_grad, no_grad
from autograd.tensor import Tensor


class _Required:
    """Marks a hyper-parameter with no default (each group must give it)."""

    def __repr__(self):
        return "<required parameter>"


required = _Required()


def check_hyper(name, value, ok, expected):
    """Raise a ValueError naming the hyper-parameter when `ok` is False."""
    if not ok:
        raise ValueError(f"invalid {name}: {value} (expected {expected})")


class Optimizer:
    """Base class: `param_groups` (list of dicts: 'params' + hyper-parameters) and `state` (param -> dict).

    `params` is an iterable of Tensors (e.g. `model.parameters()`) or of dicts, each a parameter
    group with its own hyper-parameters; missing ones are taken from `defaults`.
    """

    def __init__(self, params, defaults):
        if isinstance(params, Tensor):
            raise TypeError("params must be an iterable of Tensors or dicts, got a single Tensor; "
                            "wrap it in a list: [tensor]")
        self.defaults = dict(defaults)
        self.state = {}
        self.param_groups = []
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group):
        """Add a group of parameters with its own hyper-parameters (e.g. a new layer to fine-tune)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"a parameter group must be a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        params = group.get("params")
        if params is None:
            raise ValueError("a parameter group needs a 'params' entry")
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("parameter group 'params' must be an ordered iterable, not a set")
        group["params"] = list(params)
        for p in group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__} can only optimize Tensors, got {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{type(self).__name__} cannot optimize a non-leaf Tensor "
                                 "(one computed from others); optimize the leaves it comes from")
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"parameter group didn't specify a value of required hyper-parameter '{name}'")
            group.setdefault(name, default)
        ids = [id(p) for p in group["params"]]
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len(set(ids)) != len(ids) or seen.intersection(ids):
            raise ValueError("a parameter appears more than once in the optimizer's parameter groups")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none=True):
        """Forget the gradients: set `.grad` to None (default) or fill it with zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                elif p.grad.grad_fn is not None:  # a grad built with create_graph: do not touch its graph
                    p.grad = from_numpy(np.zeros_like(p.grad.data))
                else:
                    p.grad.data.fill(0)

    def step(self, closure=None):
        """One update of every parameter that has a gradient; `closure()` re-evaluates and returns the loss."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.data
                if g.shape != p.data.shape:
                    raise ValueError(f"{type(self).__name__}.step: gradient of shape {g.shape} does not match "
                                     f"parameter of shape {p.data.shape}")
                state = self.state.get(p, {})
                with no_grad(), p.in_place(f"{type(self).__name__}.step") as x:  # a graph that saved p sees it
                    self.update(x, g, state, group)
                if state:  # stateless rules (plain SGD) keep no entry, as in PyTorch
                    self.state[p] = state
        return loss

    def update(self, x, g, state, group):
        """Update the array `x` in place from its gradient `g` (each optimizer's rule)."""
        raise NotImplementedError(f"{type(self).__name__} must define update(x, g, state, group)")

    def state_dict(self):
        """A snapshot in PyTorch's layout: {'state': {index: {...}}, 'param_groups': [{..., 'params': [index, ...]}]}.

        Parameters are numbered in order across the groups; arrays are copied.
        """
        index, groups = {}, []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {
            index[id(p)]: {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in s.items()}
            for p, s in self.state.items()
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore hyper-parameters and state saved by `state_dict` (from an optimizer over the same parameters)."""
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"loaded state dict has {len(saved_groups)} parameter groups, "
                             f"this optimizer has {len(self.param_groups)}")
        params = {}
        for saved, group in zip(saved_groups, self.param_groups):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"loaded state dict has a parameter group of {len(saved['params'])} parameters "
                                 f"where this optimizer's group has {len(group['params'])}")
            params.update(zip(saved["params"], group["params"]))
        self.state = {}
        for i, s in state_dict["state"].items():
            p = params[int(i)]
            self.state[p] = {
                k: np.array(v, dtype=p.dtype) if isinstance(v, np.ndarray) else copy.deepcopy(v) for k, v in s.items()
            }
        self.param_groups = [
            {**copy.deepcopy({k: v for k, v in saved.items() if k != "params"}), "params": group["params"]}
            for saved, group in zip(saved_groups, self.param_groups)
        ]

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {group[k]}" for k in sorted(group) if k != "params"]
        return "\n".join(lines + [")"])
