"""einsum, composed from diagonals (getitem), sums, permutes, reshapes and batched matmuls: no backward code.

    einsum("bij,bjk->bik", a, b)      einsum("ii->", a)      einsum("...ij,...j->...i", A, x)

1. An index repeated inside one operand takes the diagonal ("ii" → "i").
2. An index that neither the output nor another operand still to come uses is summed away.
3. Operands combine left to right. For a pair, the shared indices still needed later are batch axes, the shared
   ones no longer needed are contracted, the others belong to one side: permute to (batch, own, contracted) and
   (batch, contracted, own), reshape both to 3-d, one matmul, reshape back.
4. The result is permuted into the output's order.

Without "->" the output is every index used once, in alphabetical order (after the "..." axes). A size of 1
broadcasts against other sizes of the same index.
"""
import math

import numpy as np

from ..grad_mode import scoped
from ..tensor import as_tensor
from .reduce import sum
from .shape import broadcast_to, getitem, permute, reshape


def _letters(spec, subscripts):
    """The index letters of one term; '...' stays as one item."""
    before, dots, after = spec.partition("...")
    for ch in before + after:
        if not (ch.isascii() and ch.isalpha()):
            raise ValueError(f"einsum: subscripts hold letters, ',', '->' and '...', got {ch!r} in {subscripts!r}")
    return list(before) + (["..."] if dots else []) + list(after)


def _parse(subscripts, operands):
    """Each operand's index labels and the output's, '...' expanded into one label per broadcast axis."""
    inputs, arrow, output = subscripts.replace(" ", "").partition("->")
    terms = [_letters(spec, subscripts) for spec in inputs.split(",")]
    if len(terms) != len(operands):
        raise ValueError(f"einsum: {subscripts!r} names {len(terms)} operands, got {len(operands)}")
    hidden = [x.ndim - len(term) + 1 if "..." in term else 0 for term, x in zip(terms, operands)]
    dots = [f"...{i}" for i in range(max(hidden, default=0))]  # right-aligned, like broadcasting

    def expand(term, k):
        at = term.index("...") if "..." in term else len(term)
        return term[:at] + dots[len(dots) - k:] + term[at + 1:]

    labels = []
    for i, (term, k, x) in enumerate(zip(terms, hidden, operands)):
        labels.append(expand(term, max(k, 0)))
        if k < 0 or len(labels[-1]) != x.ndim:
            raise ValueError(f"einsum: operand {i} has {x.ndim} dimensions (shape {x.shape}), its subscripts "
                             f"{''.join(term)!r} name {len(term) - ('...' in term)}")
    if arrow:
        out = expand(_letters(output, subscripts), len(dots))
    else:
        counts = {}
        for term in terms:
            for label in term:
                counts[label] = counts.get(label, 0) + 1
        out = dots + sorted(label for label, count in counts.items() if count == 1 and label != "...")
    used = {label for term in labels for label in term}
    for label in out:
        if label not in used or out.count(label) > 1:
            raise ValueError(f"einsum: output index {label!r} must appear once in the output and in some operand "
                             f"({subscripts!r})")
    return labels, out


def _sizes(operands, labels):
    """The size of every label; 1 broadcasts, other mismatches are errors."""
    sizes = {}
    for i, (x, term) in enumerate(zip(operands, labels)):
        for label, n in zip(term, x.shape):
            m = sizes.setdefault(label, n)
            if n != m and 1 not in (n, m):
                raise ValueError(f"einsum: index {label!r} has size {m} and size {n} (in operand {i}, shape {x.shape})")
            sizes[label] = n if m == 1 else m
    return sizes


def _diagonal(x, term):
    """Take the diagonal of every index repeated inside one operand."""
    for label in dict.fromkeys(term):
        axes = [i for i, other in enumerate(term) if other == label]
        if len(axes) > 1:
            rest = [i for i in range(len(term)) if i not in axes]
            x = permute(x, *(axes + rest))
            x = getitem(x, (np.arange(x.shape[0]),) * len(axes))
            term = [label] + [term[i] for i in rest]
    return x, term


def _keep(x, term, needed):
    """Sum away the axes whose labels are not needed."""
    axes = tuple(i for i, label in enumerate(term) if label not in needed)
    return (sum(x, axes), [label for label in term if label in needed]) if axes else (x, term)


def _arrange(x, term, order, sizes):
    """x with its axes in `order` and broadcast to the full sizes."""
    x = permute(x, *[term.index(label) for label in order])
    return broadcast_to(x, tuple(sizes[label] for label in order))


def _contract(a, la, b, lb, needed, sizes):
    """One pairwise step: a batched matmul over the shared labels that are not needed afterwards."""
    batch = [label for label in la if label in lb and label in needed]
    summed = [label for label in la if label in lb and label not in needed]
    own_a = [label for label in la if label not in lb]
    own_b = [label for label in lb if label not in la]
    shape = {name: tuple(sizes[label] for label in labels)
             for name, labels in (("batch", batch), ("a", own_a), ("summed", summed), ("b", own_b))}
    a = reshape(_arrange(a, la, batch + own_a + summed, sizes),
                (math.prod(shape["batch"]), math.prod(shape["a"]), math.prod(shape["summed"])))
    b = reshape(_arrange(b, lb, batch + summed + own_b, sizes),
                (math.prod(shape["batch"]), math.prod(shape["summed"]), math.prod(shape["b"])))
    return reshape(a @ b, shape["batch"] + shape["a"] + shape["b"]), batch + own_a + own_b


@scoped("einsum")
def einsum(subscripts, *operands):
    """Einstein summation, NumPy's and PyTorch's notation: einsum("ij,jk->ik", a, b) = a @ b. The operands may
    also come as one list. Composed of getitem, sum, permute, reshape, broadcast_to and matmul."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = operands[0]
    operands = [as_tensor(x) for x in operands]
    labels, out = _parse(subscripts, operands)
    sizes = _sizes(operands, labels)
    later = [set(out).union(*labels[i + 1:]) for i in range(len(labels))]  # labels needed after operand i
    x, term = _keep(*_diagonal(operands[0], labels[0]), later[0])
    for i in range(1, len(operands)):
        y, other = _keep(*_diagonal(operands[i], labels[i]), later[i] | set(term))
        x, term = _keep(x, term, later[i] | set(other))
        x, term = _contract(x, term, y, other, later[i], sizes)
    return _arrange(x, term, out, sizes)
