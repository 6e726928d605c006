# %% [markdown]
# # 05 · Training LeNet-5 on handwritten digits
#
# LeCun's LeNet-5 (1998) is the classic CNN: two convolution + pooling stages that learn local features,
# then three fully connected layers that classify them. We train chainrule's `nn.models.LeNet5` on the
# handwritten digits bundled with chainrule (UCI, 1,797 images, 10 classes; no download) and look inside:
# learning curves, test accuracy, the confusion matrix, the learned filters, the feature maps, and the
# digits it still gets wrong.

# %%
import numpy as np
import matplotlib.pyplot as plt

import autograd as ag
import nn
import nn.functional as F
import optim
from nn.cli import confusion_matrix
from nn.data import DataLoader, TensorDataset, load_digits

plt.rcParams.update({"figure.dpi": 80, "figure.figsize": (6, 3)})
np.set_printoptions(linewidth=110)
ag.manual_seed(0)

x_train8, y_train = load_digits("train")
x_test8, y_test = load_digits("test")
print("train", x_train8.shape, "test", x_test8.shape, "pixel range", x_train8.min(), "…", x_train8.max())

# %% [markdown]
# ## The data, sized for LeNet-5
#
# The UCI digits are 8×8 images with 17 grey levels. LeNet-5 expects MNIST's 28×28 (its first
# convolution pads by 2, giving the 32×32 of the original paper), and MNIST centres each digit in a
# 20×20 box inside the 28×28 frame. So we scale our digits ×3 by repeating every pixel
# (`np.kron`, nearest neighbour) to 24×24 and pad 2 pixels of background on each side.
# (chainrule also has `nn.models.DigitsCNN`, a smaller LeNet-style net for the 8×8 images themselves:
# it is what `chainrule train` uses.)

# %%
def to_lenet_size(x8):
    """(N, 1, 8, 8) → (N, 1, 28, 28): each pixel becomes a 3×3 block, then a 2-pixel border."""
    big = np.kron(x8, np.ones((1, 1, 3, 3), dtype=x8.dtype))
    return np.pad(big, ((0, 0), (0, 0), (2, 2), (2, 2)))


x_train, x_test = to_lenet_size(x_train8), to_lenet_size(x_test8)
assert x_train.shape[1:] == (1, 28, 28)
assert np.array_equal(x_train[:, :, 2:-2:3, 2:-2:3], x_train8)   # every 3rd pixel is the original

fig, axes = plt.subplots(2, 10, figsize=(8, 1.9))
for ax, image, label in zip(axes.flat, x_train, y_train):
    ax.imshow(image[0], cmap="gray_r")
    ax.set_title(str(label), fontsize=8)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## The model
#
# `conv 5×5 (6) → ReLU → max-pool 2 → conv 5×5 (16) → ReLU → max-pool 2 → fc 400→120→84→10`
# (ReLU and max pooling: the modern choices; `LeNet5(activation="tanh", pooling="avg")` is closer to
# LeCun's original).

# %%
model = nn.models.LeNet5()
print(nn.utils.summary(model, (1, 1, 28, 28)))

# %% [markdown]
# ## Training
#
# Mini-batches of 64, Adam with a cosine learning-rate schedule, cross-entropy loss; after each epoch the
# accuracy on the 360 held-out test images (evaluation mode, no graph).

# %%
def evaluate(model, x, y):
    model.eval()
    with ag.no_grad():
        predicted = model(ag.tensor(x)).numpy().argmax(axis=1)
    model.train()
    return float(np.mean(predicted == y)), predicted


epochs = 10
optimizer = optim.Adam(model.parameters(), lr=2e-3)
schedule = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
loader = DataLoader(TensorDataset(x_train, y_train), batch_size=64, shuffle=True, seed=0)

history = {"loss": [], "train": [], "test": []}
for epoch in range(1, epochs + 1):
    total, correct, seen = 0.0, 0, 0
    for xb, yb in loader:
        logits = model(xb)
        loss = F.cross_entropy(logits, yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(yb.numpy())
        correct += int((logits.numpy().argmax(axis=1) == yb.numpy()).sum())
        seen += len(yb.numpy())
    schedule.step()
    test_acc, _ = evaluate(model, x_test, y_test)
    history["loss"].append(total / seen)
    history["train"].append(correct / seen)
    history["test"].append(test_acc)
    print(f"epoch {epoch:2d}: loss {total / seen:.4f}  train acc {correct / seen:.3f}  test acc {test_acc:.3f}")

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(8, 2.8))
ep = np.arange(1, epochs + 1)
left.plot(ep, history["loss"], "o-")
left.set(xlabel="epoch", ylabel="training loss", yscale="log")
right.plot(ep, history["train"], "o-", label="train (during the epoch)")
right.plot(ep, history["test"], "s-", label="test")
right.set(xlabel="epoch", ylabel="accuracy")
right.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %%
test_acc, predicted = evaluate(model, x_test, y_test)
print(f"test accuracy: {test_acc:.3f} ({int(round(test_acc * len(y_test)))} of {len(y_test)})")
assert test_acc >= 0.95

# %% [markdown]
# ## The confusion matrix
#
# Entry $(i, j)$ counts the test images of digit $i$ that the network called $j$: the diagonal holds the
# correct answers, everything off it is a mistake.

# %%
cm = confusion_matrix(y_test, predicted, 10)
assert cm.sum() == len(y_test) and np.trace(cm) == int(np.sum(predicted == y_test))

fig, ax = plt.subplots(figsize=(4.2, 3.6))
ax.imshow(cm, cmap="Blues")
for (i, j), count in np.ndenumerate(cm):
    if count:
        ax.text(j, i, count, ha="center", va="center", fontsize=8, color="white" if count > cm.max() / 2 else "black")
ax.set(xticks=range(10), yticks=range(10), xlabel="predicted", ylabel="true digit")
plt.show()

# %% [markdown]
# ## What the first layer learned
#
# The six 5×5 filters of `features.0` (red = positive weight, blue = negative). Each output pixel is the
# correlation of its 5×5 neighbourhood with one filter, so a filter with a positive band beside a negative
# one responds to an edge in that orientation. After ten short epochs on 1,437 images they are still
# rough: much of the work is done by the later layers.

# %%
filters = model.features[0].weight.numpy()[:, 0]                  # (6, 5, 5)
fig, axes = plt.subplots(1, 6, figsize=(7, 1.4))
for k, ax in enumerate(axes):
    limit = np.abs(filters[k]).max()
    ax.imshow(filters[k], cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.set_title(f"filter {k}", fontsize=8)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## Feature maps
#
# A forward hook (`module.register_forward_hook`) records what each ReLU outputs for one test digit: the six
# 28×28 maps of the first stage, and the sixteen 10×10 maps of the second, which respond to combinations
# of strokes at coarser resolution.

# %%
maps = {}
hooks = [model.features[i].register_forward_hook(lambda m, inputs, out, i=i: maps.__setitem__(i, out.numpy()))
         for i in (1, 4)]
model.eval()
with ag.no_grad():
    model(ag.tensor(x_test[:1]))
for h in hooks:
    h.remove()
assert maps[1].shape == (1, 6, 28, 28) and maps[4].shape == (1, 16, 10, 10)

fig = plt.figure(figsize=(8, 3.2))
ax = fig.add_subplot(3, 9, 1)
ax.imshow(x_test[0, 0], cmap="gray_r")
ax.set_title(f"input ({y_test[0]})", fontsize=8)
ax.axis("off")
for k in range(6):
    ax = fig.add_subplot(3, 9, 3 + k)
    ax.imshow(maps[1][0, k], cmap="viridis")
    ax.set_title(f"conv1 · {k}", fontsize=7)
    ax.axis("off")
for k in range(16):
    ax = fig.add_subplot(3, 9, 10 + k + (k >= 8))
    ax.imshow(maps[4][0, k], cmap="viridis")
    ax.axis("off")
fig.text(0.02, 0.25, "conv2 maps", fontsize=8, rotation=90)
plt.show()

# %% [markdown]
# ## The mistakes
#
# The test digits the network still gets wrong, shown at their original 8×8 resolution (as the network
# saw them, only larger), with its answer and the true label.

# %%
wrong = np.flatnonzero(predicted != y_test)
print(f"{len(wrong)} misclassified test digits")
shown = wrong[:8]
if len(shown):
    fig, axes = plt.subplots(1, len(shown), figsize=(1.1 * len(shown), 1.5), squeeze=False)
    for ax, i in zip(axes[0], shown):
        ax.imshow(x_test8[i, 0], cmap="gray_r")
        ax.set_title(f"said {predicted[i]}\nwas {y_test[i]}", fontsize=8)
        ax.axis("off")
    plt.show()
