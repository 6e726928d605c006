"""chainrule's neural-network package: modules and layers built from autograd's primitives.

    import nn
    import nn.functional as F
    model = nn.models.LeNet5()
    loss = nn.CrossEntropyLoss()(model(x), y)
    nn.save(model, "lenet.safetensors"); model.load_state_dict(nn.load("lenet.safetensors"))

Everything here is a composite of primitives: no backward code, gradients by the chain rule.
"""
from . import data, functional, init, models, utils
from .modules import *  # noqa: F401,F403  (Module, Parameter, containers, layers, losses)
from .modules import __all__ as _modules_all
from .serialization import load, save
from .torch_bridge import from_torch, to_torch


__all__ = list(_modules_all) + ["functional", "init", "utils", "models", "data", "save", "load", "to_torch",
                                "from_torch"]
