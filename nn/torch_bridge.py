"""Carry models between chainrule and PyTorch: `to_torch`, `from_torch`, and the source `chainrule export` writes.

    torch_model = nn.to_torch(model)       # a torch.nn.Module: same layers, weights, buffers and modes
    model = nn.from_torch(torch_model)     # and back: then viz.draw and explain show its graph

Every chainrule layer has a PyTorch twin of the same name and arguments (LAYERS). LocallyConnected2d, which
PyTorch lacks, and the models of `nn.models`, whose forward is their own, get twin classes written here as
PyTorch source (TWINS). `to_torch` evaluates the same PyTorch source that `chainrule export` writes to a
file, so the tests that compare the two engines also check the exported file. PyTorch is imported only
inside these calls.
"""
import functools
import inspect
import io
import linecache
import math
import os
import textwrap
from collections import OrderedDict

import numpy as np

from . import models
from .modules import (CELU, ELU, GELU, SELU, AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d,
                      AdaptiveMaxPool1d, AdaptiveMaxPool2d, AdaptiveMaxPool3d, AvgPool1d, AvgPool2d, AvgPool3d,
                      BatchNorm1d, BatchNorm2d, Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d,
                      ConvTranspose3d, Dropout, Flatten, Hardsigmoid, Hardswish, Hardtanh,
                      Identity, LeakyReLU, Linear, LocallyConnected2d, LogSigmoid, LogSoftmax, MaxPool1d, MaxPool2d,
                      MaxPool3d, Mish, ReLU, ReLU6, Sigmoid, SiLU, Softmax, Softplus, Softsign, Tanh, Upsample)
from .modules.module import Module, ModuleDict, ModuleList, Sequential

_CONV = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias")
_POOL = ("kernel_size", "stride", "padding")
_NORM = ("num_features", "eps", "momentum", "affine", "track_running_stats")
ACTIVATIONS = (ReLU, LeakyReLU, Sigmoid, Tanh, Softmax, LogSoftmax, GELU, ELU, SELU, CELU, SiLU, Mish, Softplus,
               Softsign, Hardtanh, ReLU6, Hardsigmoid, Hardswish, LogSigmoid)

# chainrule layer: (the constructor arguments both engines take, read from the attributes of the same names;
#                   PyTorch's extra options, each with the one value chainrule's layer computes)
LAYERS = {
    Linear: (("in_features", "out_features", "bias"), {}),
    Conv1d: ((*_CONV, "padding_mode"), {}),
    Conv2d: ((*_CONV, "padding_mode"), {}),
    Conv3d: ((*_CONV, "padding_mode"), {}),
    **{conv: ((*_CONV, "output_padding"), {"padding_mode": "zeros"})
       for conv in (ConvTranspose1d, ConvTranspose2d, ConvTranspose3d)},
    LocallyConnected2d: (("in_channels", "out_channels", "input_size", "kernel_size", "stride", "padding", "bias"),
                         {}),
    **{pool: ((*_POOL, "dilation", "return_indices", "ceil_mode"), {}) for pool in (MaxPool1d, MaxPool2d, MaxPool3d)},
    AvgPool1d: ((*_POOL, "ceil_mode", "count_include_pad"), {}),
    **{pool: ((*_POOL, "ceil_mode", "count_include_pad", "divisor_override"), {}) for pool in (AvgPool2d, AvgPool3d)},
    **{pool: (("output_size",), {}) for pool in (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d)},
    **{pool: (("output_size", "return_indices"), {})
       for pool in (AdaptiveMaxPool1d, AdaptiveMaxPool2d, AdaptiveMaxPool3d)},
    BatchNorm1d: (_NORM, {}),
    BatchNorm2d: (_NORM, {}),
    Dropout: (("p",), {}),
    Upsample: (("size", "scale_factor", "mode", "align_corners"), {"recompute_scale_factor": None}),
    Flatten: (("start_dim", "end_dim"), {}),
    Identity: ((), {}),
    **{activation: (activation.options, {}) for activation in ACTIVATIONS},
}
# Arguments whose default differs between the engines: written out even at chainrule's default.
DEFAULTS_DIFFER = {Softmax: ("dim",), LogSoftmax: ("dim",)}
CONTAINERS = (Sequential, ModuleList, ModuleDict)
TWIN_LAYERS = (LocallyConnected2d,)  # layers PyTorch lacks: their twins are written below
TWIN_MODELS = (models.LeNet5, models.DigitsCNN, models.SmallVGG, models.BasicBlock, models.ResNet, models.TinyUNet,
               models.ConvAutoencoder)

# Functions a plain-chain PyTorch forward may call between its layers, as the torch.nn layer doing the same
# (and that layer's defaults where the function's differ: torch.flatten starts at dimension 0).
CHAIN_CALLS = {
    "flatten": ("Flatten", {"start_dim": 0}), "relu": ("ReLU", {}), "leaky_relu": ("LeakyReLU", {}),
    "sigmoid": ("Sigmoid", {}), "tanh": ("Tanh", {}), "gelu": ("GELU", {}), "elu": ("ELU", {}),
    "selu": ("SELU", {}), "celu": ("CELU", {}), "silu": ("SiLU", {}), "mish": ("Mish", {}),
    "softplus": ("Softplus", {}), "softsign": ("Softsign", {}), "hardtanh": ("Hardtanh", {}),
    "relu6": ("ReLU6", {}), "hardsigmoid": ("Hardsigmoid", {}), "hardswish": ("Hardswish", {}),
    "logsigmoid": ("LogSigmoid", {}), "max_pool2d": ("MaxPool2d", {}), "avg_pool2d": ("AvgPool2d", {}),
    "adaptive_avg_pool2d": ("AdaptiveAvgPool2d", {}), "adaptive_avg_pool3d": ("AdaptiveAvgPool3d", {}),
}

# The PyTorch twins, as source: class name -> (base class, body). A twin of a chainrule class says which
# (`chainrule_class`), so that from_torch recognises it, also in a file `chainrule export` wrote.
TWINS = {
    "Assembled": ("nn.Module", '''
    """A model made of named parts (layers, and plain values such as n_stages), as chainrule built it."""

    def __init__(self, **parts):
        super().__init__()
        for name, part in parts.items():
            setattr(self, name, part)
'''),
    "FeaturesClassifier": ("Assembled", '''
    """classifier(features(x) flattened): the forward of LeNet5, DigitsCNN and SmallVGG."""

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))
'''),
    "LeNet5": ("FeaturesClassifier", '''
    chainrule_class = "LeNet5"
'''),
    "DigitsCNN": ("FeaturesClassifier", '''
    chainrule_class = "DigitsCNN"
'''),
    "SmallVGG": ("FeaturesClassifier", '''
    chainrule_class = "SmallVGG"
'''),
    "BasicBlock": ("Assembled", '''
    chainrule_class = "BasicBlock"

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)
'''),
    "ResNet": ("Assembled", '''
    chainrule_class = "ResNet"

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        for i in range(self.n_stages):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.fc(self.avgpool(x).flatten(1))
'''),
    "TinyUNet": ("Assembled", '''
    chainrule_class = "TinyUNet"

    def forward(self, x):
        s1 = self.enc1(x)
        s2 = self.enc2(self.pool(s1))
        b = self.bottleneck(self.pool(s2))
        d2 = self.dec2(torch.cat([self.up2(b), s2], dim=1))
        d1 = self.dec1(torch.cat([self.up1(d2), s1], dim=1))
        return self.head(d1)
'''),
    "ConvAutoencoder": ("Assembled", '''
    chainrule_class = "ConvAutoencoder"

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        return self.decoder(z)

    def forward(self, x):
        return self.decoder(self.encoder(x))
'''),
    "LocallyConnected2d": ("nn.Module", '''
    """Convolution without weight sharing, from PyTorch ops: unfold, then each output position's own filters.

    weight (OH, OW, C_out, C_in, KH, KW), bias (C_out, OH, OW), as in chainrule.
    """

    chainrule_class = "LocallyConnected2d"

    def __init__(self, in_channels, out_channels, input_size, kernel_size, stride=(1, 1), padding=(0, 0),
                 bias=True):
        super().__init__()
        self.in_channels, self.out_channels, self.input_size = in_channels, out_channels, input_size
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.output_size = tuple((n + 2 * p - k) // s + 1
                                 for n, p, k, s in zip(input_size, padding, kernel_size, stride))
        bound = 1 / math.sqrt(in_channels * kernel_size[0] * kernel_size[1])
        self.weight = nn.Parameter(torch.empty(*self.output_size, out_channels, in_channels, *kernel_size))
        nn.init.uniform_(self.weight, -bound, bound)
        self.register_parameter("bias", nn.Parameter(torch.empty(out_channels, *self.output_size)) if bias else None)
        if bias:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        cols = F.unfold(x, self.kernel_size, padding=self.padding, stride=self.stride)  # (N, C·KH·KW, OH·OW)
        w = self.weight.flatten(0, 1).flatten(2)  # (OH·OW, C_out, C_in·KH·KW)
        out = torch.einsum("lkc,ncl->nkl", w, cols).unflatten(2, self.output_size)
        return out if self.bias is None else out + self.bias
'''),
}
TWINS_FILE = "<chainrule torch twins>"
TWINNED = {cls.__name__: cls for cls in TWIN_LAYERS + TWIN_MODELS}  # chainrule_class -> the chainrule class


# -- PyTorch, imported on demand ------------------------------------------------------------
def _import_torch(caller):
    try:
        import torch
    except ImportError:
        raise ImportError(f"{caller} needs PyTorch, which is not installed: pip install torch") from None
    return torch


def twin_source(names):
    """The PyTorch source of the twin classes `names`, with their base classes, in definition order."""
    needed = set()
    for name in names:
        while name in TWINS:
            needed.add(name)
            name = TWINS[name][0]
    return "\n\n\n".join(_twin_class(name) for name in TWINS if name in needed)


def _twin_class(name):
    base, body = TWINS[name]
    return f"class {name}({base}):\n" + body.strip("\n")


@functools.cache
def _namespace():
    """torch, nn, F, math, OrderedDict and every twin class: where to_torch evaluates a model's source."""
    torch = _import_torch("nn.to_torch")
    source = twin_source(TWINS)
    linecache.cache[TWINS_FILE] = (len(source), None, source.splitlines(True), TWINS_FILE)  # readable tracebacks
    namespace = {"__name__": "chainrule_torch_twins", "torch": torch, "nn": torch.nn,
                 "F": torch.nn.functional, "math": math, "OrderedDict": OrderedDict}
    exec(compile(source, TWINS_FILE, "exec"), namespace)
    return namespace


# -- chainrule -> PyTorch source ------------------------------------------------------------
def _at(path):
    """Where a module sits in the model, for messages: " at 'features.0'" (nothing for the root)."""
    return f" at '{path}'" if path else ""


def _join(path, name):
    return f"{path}.{name}" if path else name


def _argument(layer, name):
    """The constructor argument `name` as the layer holds it (a bias is passed as True/False)."""
    value = getattr(layer, name)
    return value is not None if name == "bias" else value


def _same(value, required):
    """value is `required`, also written as a tuple of it (dilation=(1, 1) is dilation=1)."""
    return value == required or (isinstance(value, tuple) and all(v == required for v in value))


def _literal(value, what):
    """Python source for a constructor argument: numbers, strings, booleans, None, tuples of them."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (tuple, list)):
        items = [_literal(v, what) for v in value]
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    if isinstance(value, float) and not math.isfinite(value):
        return f"float('{value}')"
    if value is None or isinstance(value, (bool, int, float, str)):
        return repr(value)
    raise TypeError(f"nn.to_torch: {what} is a {type(value).__name__}, which has no PyTorch source form")


def _call(head, items, brackets="()"):
    """head(items...) on one line when it is short, else one item per line."""
    line = f"{head}{brackets[0]}{', '.join(items)}{brackets[1]}"
    if len(line) <= 100 and "\n" not in line:
        return line
    body = textwrap.indent(",\n".join(items), "    ")
    return f"{head}{brackets[0]}\n{body},\n{brackets[1]}"


def _layer_arguments(layer):
    """The layer's constructor arguments, leaving out those at a default both engines share."""
    cls = type(layer)
    defaults = inspect.signature(cls).parameters
    arguments = {name: _argument(layer, name) for name in LAYERS[cls][0]}
    return {name: value for name, value in arguments.items()
            if name in DEFAULTS_DIFFER.get(cls, ()) or not _same(value, defaults[name].default)}


def _layer_source(layer, path):
    cls = type(layer)
    head = cls.__name__ if cls in TWIN_LAYERS else f"nn.{cls.__name__}"
    return _call(head, [f"{name}={_literal(value, f'{name} of {cls.__name__}{_at(path)}')}"
                        for name, value in _layer_arguments(layer).items()])


def _container_source(container, path):
    cls = type(container)
    children = [(name, torch_expression(child, _join(path, name))) for name, child in container.named_children()]
    numbered = [name for name, _ in children] == [str(i) for i in range(len(children))]
    if cls is Sequential and numbered:
        return _call("nn.Sequential", [source for _, source in children])
    if cls is ModuleList:
        return _call("nn.ModuleList", [_call("", [source for _, source in children], "[]")])
    pairs = _call("", [f"({name!r}, {source})" for name, source in children], "[]")
    return _call(f"nn.{cls.__name__}", [_call("OrderedDict", [pairs])])


def _public_attributes(module):
    """A module's plain attributes (n_stages, downsample=None, ...): what its forward reads besides its layers."""
    return {name: value for name, value in vars(module).items() if not name.startswith("_") and name != "training"}


def _model_source(model, path):
    parts = [f"{name}={torch_expression(child, _join(path, name))}" for name, child in model.named_children()]
    parts += [f"{name}={_literal(value, f'{name} of {type(model).__name__}{_at(path)}')}"
              for name, value in _public_attributes(model).items()]
    return _call(type(model).__name__, parts)


def torch_expression(module, path=""):
    """One Python expression, in PyTorch, that builds the twin of a chainrule module (fresh weights)."""
    cls = type(module)
    if cls in LAYERS:
        return _layer_source(module, path)
    if cls in CONTAINERS:
        return _container_source(module, path)
    if cls in TWIN_MODELS:
        return _model_source(module, path)
    raise TypeError(f"nn.to_torch: {cls.__name__}{_at(path)} has no PyTorch twin. Supported: the layers "
                    f"{', '.join(c.__name__ for c in LAYERS)}; Sequential, ModuleList, ModuleDict; the models "
                    f"{', '.join(c.__name__ for c in TWIN_MODELS)}. Build your own model as a Sequential of "
                    "these to carry it across")


def _twin_names(module):
    return {type(m).__name__ for m in module.modules() if type(m) in TWIN_LAYERS + TWIN_MODELS}


def _copy_modes(source, target):
    """Give each module of `target` the training mode of the module of the same name in `source`."""
    targets = dict(target.named_modules())
    for name, module in source.named_modules():
        if name in targets:
            targets[name].training = module.training


def to_torch(module):
    """The PyTorch twin of a chainrule module: same architecture, weights, buffers, dtypes and train/eval mode.

    Outputs and gradients agree with chainrule's (up to rounding). Needs PyTorch (pip install torch).
    """
    torch = _import_torch("nn.to_torch")
    if not isinstance(module, Module):
        raise TypeError(f"nn.to_torch: expected a chainrule nn.Module, got {type(module).__name__}")
    twin = eval(torch_expression(module), _namespace())
    twin.load_state_dict({name: torch.from_numpy(array) for name, array in module.state_dict().items()},
                         assign=True)  # assign: keep chainrule's dtypes
    _copy_modes(module, twin)
    return twin


# -- the file `chainrule export` writes -------------------------------------------------------
_FILE_HEAD = '''"""{model} for plain PyTorch, written by `chainrule export` from {weights_name}.

    python {file_name}                  (rebuilds it, loads the weights, prints it)

    from {module_name} import load
    model = load()                  # a torch.nn.Module in eval mode

Needs torch and safetensors (pip install torch safetensors), not chainrule. The weights stay in the
safetensors file (no pickle), under the same names in both engines.
"""
import math
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

WEIGHTS = Path(__file__).parent / {weights!r}
'''

_FILE_TAIL = '''def build():
    """The architecture, with freshly initialised weights."""
    return {expression}


def load(weights=WEIGHTS):
    """The model with the trained weights, in eval mode."""
    model = build()
    model.load_state_dict(load_file(weights))
    return model.eval()


if __name__ == "__main__":
    print(load())
'''


def torch_file(module, weights, path):
    """The source of a standalone PyTorch file, to be written at `path`, that rebuilds `module` and loads its
    weights from the safetensors file `weights` (found relative to the file)."""
    path, weights = os.path.abspath(path), os.path.abspath(weights)
    head = _FILE_HEAD.format(model=type(module).__name__, weights_name=os.path.basename(weights),
                             file_name=os.path.basename(path),
                             module_name=os.path.splitext(os.path.basename(path))[0],
                             weights=os.path.relpath(weights, os.path.dirname(path)))
    tail = _FILE_TAIL.format(expression=textwrap.indent(torch_expression(module), "    ").lstrip())
    parts = (head, twin_source(_twin_names(module)), tail)
    return "\n\n".join(part.strip("\n") + "\n" for part in parts if part)


def torch_program(module, input_shape):
    """The bytes of a `torch.export` archive (.pt2) of the module's twin in eval mode, for inputs of
    `input_shape` with any batch size. PyTorch loads it with `torch.export.load(path).module()`."""
    torch = _import_torch("writing a .pt2 (torch.export)")
    twin = to_torch(module).eval()
    example = torch.zeros(input_shape, dtype=next(twin.parameters()).dtype)
    program = torch.export.export(twin, (example,), dynamic_shapes=({0: torch.export.Dim("batch")},))
    archive = io.BytesIO()
    torch.export.save(program, archive)
    return archive.getvalue()


# -- PyTorch -> chainrule ---------------------------------------------------------------------
@functools.cache
def _chainrule_layers(torch):
    """PyTorch layer class -> chainrule layer class (the twin of LocallyConnected2d is found by its marker)."""
    return {getattr(torch.nn, cls.__name__): cls for cls in LAYERS if cls not in TWIN_LAYERS}


def _layer_from_torch(layer, cls, path):
    names, fixed = LAYERS[cls]
    for option, required in fixed.items():
        if not _same(getattr(layer, option), required):
            raise ValueError(f"nn.from_torch: {type(layer).__name__}{_at(path)} has {option}="
                             f"{getattr(layer, option)!r}; chainrule's {cls.__name__} computes only "
                             f"{option}={required!r}")
    return cls(**{name: _argument(layer, name) for name in names})


def _container_from_torch(container, torch, path):
    children = OrderedDict((name, _convert(child, torch, _join(path, name)))
                           for name, child in container.named_children())
    cls = {torch.nn.Sequential: Sequential, torch.nn.ModuleList: ModuleList, torch.nn.ModuleDict: ModuleDict}
    kind = cls[type(container)]
    return kind(list(children.values())) if kind is ModuleList else kind(children)


def _assemble(cls, parts):
    """A model of nn.models rebuilt from its parts: layers and plain values (BasicBlock's downsample=None).
    Its constructor's arguments are not recorded; its parts are."""
    model = cls.__new__(cls)
    Module.__init__(model)
    for name, part in parts.items():
        setattr(model, name, part)
    return model


def _model_from_torch(twin, cls, torch, path):
    layers = {name: _convert(child, torch, _join(path, name)) for name, child in twin.named_children()}
    return _assemble(cls, {**layers, **_public_attributes(twin)})


def _supported():
    return ", ".join(c.__name__ for c in LAYERS) + ", Sequential, ModuleList, ModuleDict"


def _trace(module, torch, path):
    """The forward of a PyTorch module as a torch.fx graph whose calls of layers are single nodes."""

    class LayersAsLeaves(torch.fx.Tracer):
        def is_leaf_module(self, m, qualified_name):
            return True

    try:
        return LayersAsLeaves().trace(module)
    except Exception as error:  # anything the forward raises on symbolic inputs: it is no plain chain
        raise ValueError(f"nn.from_torch: {type(module).__name__}{_at(path)} is not a layer chainrule has, and "
                         f"its forward could not be read as a chain of layers ({type(error).__name__}: {error})") \
            from None


def _not_a_chain(module, path, why):
    return ValueError(f"nn.from_torch: {type(module).__name__}.forward{_at(path)} is not a plain chain of "
                      f"layers: {why}. chainrule can take a model whose forward applies its layers (and "
                      f"{', '.join(CHAIN_CALLS)}) one after another, or these layers: {_supported()}")


def _called(node):
    """What a node of the traced forward calls: a layer's name ('fc') or a function's ('relu', 'view')."""
    return node.target if isinstance(node.target, str) else node.target.__name__


def _call_as_layer(node, torch):
    """A torch.nn layer doing what a function call of the chain does: F.relu(x) -> nn.ReLU()."""
    layer_name, defaults = CHAIN_CALLS[_called(node)]
    layer = getattr(torch.nn, layer_name)
    try:
        given = inspect.signature(layer).bind(*node.args[1:], **node.kwargs).arguments
    except TypeError as error:
        raise ValueError(f"{_called(node)}(...) has arguments nn.{layer_name} does not take ({error})") from None
    return layer(**{**defaults, **given})


def _chain_from_torch(module, torch, path):
    """A PyTorch module whose forward calls its layers one after another, as a chainrule Sequential."""
    layers, previous = OrderedDict(), None
    for node in _trace(module, torch, path).nodes:
        if node.op == "placeholder":
            if previous is not None:
                raise _not_a_chain(module, path, "it takes more than one input")
        elif node.op == "output":
            if node.args[0] is not previous:
                raise _not_a_chain(module, path, "it does not return the result of its last call")
        elif node.args[:1] != (previous,) or node.all_input_nodes != [previous]:
            raise _not_a_chain(module, path, f"{_called(node)} does not take the previous result alone")
        elif node.op == "call_module" and "." not in node.target:
            key = node.name if node.target in layers else node.target  # a layer called twice: its second key
            layers[key] = _convert(module.get_submodule(node.target), torch, _join(path, node.target))
        elif node.op in ("call_function", "call_method") and _called(node) in CHAIN_CALLS:
            try:
                layers[node.name] = _convert(_call_as_layer(node, torch), torch, _join(path, node.name))
            except ValueError as error:
                raise _not_a_chain(module, path, str(error)) from None
        else:
            raise _not_a_chain(module, path, f"it calls {_called(node)}")
        previous = node
    return Sequential(layers)


def _convert(module, torch, path):
    """The chainrule module (fresh weights) with the architecture of a PyTorch module."""
    cls = type(module)
    layer = _chainrule_layers(torch).get(cls)
    twinned = TWINNED.get(getattr(cls, "chainrule_class", None))
    if layer is not None:
        converted = _layer_from_torch(module, layer, path)
    elif twinned in TWIN_LAYERS:
        converted = _layer_from_torch(module, twinned, path)
    elif twinned in TWIN_MODELS:
        converted = _model_from_torch(module, twinned, torch, path)
    elif cls in (torch.nn.Sequential, torch.nn.ModuleList, torch.nn.ModuleDict):
        converted = _container_from_torch(module, torch, path)
    elif cls.__module__.startswith("torch."):
        raise ValueError(f"nn.from_torch: torch.nn.{cls.__name__}{_at(path)} is a layer chainrule does not "
                         f"have. Supported: {_supported()}, and models whose forward is a plain chain of them")
    else:
        converted = _chain_from_torch(module, torch, path)
    converted.training = module.training
    return converted


def from_torch(torch_module):
    """The chainrule module with the architecture, weights, buffers, dtype and modes of a PyTorch module.

    Takes the layers chainrule has, nn.Sequential/ModuleList/ModuleDict, the twins `to_torch` makes, and
    models whose forward applies their layers one after another; anything else is refused by name.
    A DistributedDataParallel or DataParallel wrapper is looked through. Needs PyTorch (pip install torch).
    """
    torch = _import_torch("nn.from_torch")
    if isinstance(torch_module, (torch.nn.parallel.DistributedDataParallel, torch.nn.DataParallel)):
        torch_module = torch_module.module
    if not isinstance(torch_module, torch.nn.Module):
        raise TypeError(f"nn.from_torch: expected a torch.nn.Module, got {type(torch_module).__name__}")
    model = _convert(torch_module, torch, "")
    state = OrderedDict((name, value.detach().cpu().numpy()) for name, value in torch_module.state_dict().items())
    kept = model.state_dict()
    unused = [name for name in state if name not in kept]
    if unused:
        raise ValueError(f"nn.from_torch: {type(torch_module).__name__}.forward never uses {', '.join(unused)}")
    floats = {array.dtype for array in state.values() if array.dtype.kind == "f"}
    if len(floats) == 1:
        model.to(floats.pop())
    model.load_state_dict(state)
    return model
