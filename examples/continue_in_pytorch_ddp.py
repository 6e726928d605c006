"""Continue training chainrule's digits CNN on PyTorch's DistributedDataParallel, then bring it back.

    torchrun --nproc-per-node 2 examples/continue_in_pytorch_ddp.py          # trains 3 epochs in chainrule first
    torchrun --nproc-per-node 2 examples/continue_in_pytorch_ddp.py --weights runs/model.safetensors

Three calls carry the model across and back: `nn.to_torch(model)`, `DistributedDataParallel(...)`,
`nn.from_torch(ddp)`. Every process (gloo backend, CPU) trains on its shard of the bundled digits; DDP
averages the gradients, so the processes keep the same weights. Process 0 then prints the training loss
before and after, and the test accuracy computed by both engines on the weights brought back.
"""
import argparse

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

import autograd as ag
import nn
import nn.functional as F
import optim

METADATA = {"model": "digits-cnn", "num_classes": "10", "in_channels": "1"}  # what `chainrule eval` reads


def train_in_chainrule(epochs, seed):
    """A DigitsCNN trained a little by chainrule itself (Adam, batches of 32)."""
    ag.manual_seed(seed)
    model = nn.models.DigitsCNN()
    loader = nn.data.DataLoader(nn.data.TensorDataset(*nn.data.load_digits("train")), batch_size=32, shuffle=True,
                                seed=seed)
    optimizer = optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(epochs):
        for x, y in loader:
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model


def chainrule_model(args):
    """The model to continue: --weights, or one trained here (on process 0; DDP copies its weights to the others)."""
    model = nn.models.DigitsCNN()
    if args.weights:
        model.load_state_dict(nn.load(args.weights))
    elif dist.get_rank() == 0:
        model = train_in_chainrule(args.chainrule_epochs, args.seed)
    return model


def mean_loss(model, x, y):
    """Cross-entropy over all processes' shards, in eval mode (dropout off), so before and after compare."""
    model.eval()
    with torch.no_grad():
        total = torch.stack([torch.nn.functional.cross_entropy(model(x), y, reduction="sum"),
                             torch.tensor(float(len(y)))])
    dist.all_reduce(total)
    model.train()
    return (total[0] / total[1]).item()


def continue_with_ddp(twin, args):
    """Train the PyTorch twin with DistributedDataParallel; returns the loss before and after."""
    x, y = (torch.from_numpy(a) for a in nn.data.load_digits("train"))
    ddp = DistributedDataParallel(twin)  # broadcasts process 0's weights to every process
    sampler = DistributedSampler(TensorDataset(x, y), shuffle=True, seed=args.seed)
    loader = DataLoader(TensorDataset(x, y), batch_size=args.batch_size, sampler=sampler)
    shard = list(sampler)
    before = mean_loss(twin, x[shard], y[shard])
    optimizer = torch.optim.Adam(ddp.parameters(), lr=args.lr)
    step = 0
    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)
        for xb, yb in loader:
            loss = torch.nn.functional.cross_entropy(ddp(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            if step == args.max_steps:
                break
        if dist.get_rank() == 0:
            print(f"epoch {epoch + 1}: {step} steps on each of {dist.get_world_size()} processes, "
                  f"last batch loss {loss.item():.4f}", flush=True)
        if step == args.max_steps:
            break
    return before, mean_loss(twin, x[shard], y[shard])


def test_accuracies(model, twin):
    """Test accuracy of the weights brought back, by chainrule and by PyTorch, and whether they agree."""
    x, y = nn.data.load_digits("test")
    with ag.no_grad():
        ours = model.eval()(ag.from_numpy(x)).numpy().argmax(axis=1)
    with torch.no_grad():
        theirs = twin.eval()(torch.from_numpy(x)).numpy().argmax(axis=1)
    return float(np.mean(ours == y)), float(np.mean(theirs == y)), bool(np.array_equal(ours, theirs))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", help="a model.safetensors from `chainrule train` (default: train one here)")
    parser.add_argument("--chainrule-epochs", type=int, default=3, help="epochs in chainrule without --weights")
    parser.add_argument("--epochs", type=int, default=3, help="epochs with DistributedDataParallel")
    parser.add_argument("--max-steps", type=int, help="stop after this many steps per process")
    parser.add_argument("--batch-size", type=int, default=32, help="images per step and process")
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="write the weights brought back to this .safetensors file")
    args = parser.parse_args()

    dist.init_process_group("gloo")  # torchrun sets MASTER_ADDR, MASTER_PORT, RANK and WORLD_SIZE
    twin = nn.to_torch(chainrule_model(args))
    before, after = continue_with_ddp(twin, args)
    if dist.get_rank() == 0:
        model = nn.from_torch(twin)
        ours, theirs, same = test_accuracies(model, twin)
        print(f"training loss: {before:.4f} before DDP, {after:.4f} after")
        print(f"test accuracy: chainrule {ours:.4f}, PyTorch {theirs:.4f} (same predictions: {same})")
        if args.out:
            nn.save(model, args.out, metadata=METADATA)
            print(f"wrote {args.out}: chainrule eval --weights {args.out}")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
