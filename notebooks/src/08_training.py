# Notebook source (percent format), built by scripts/regenerate_notebooks.py.
# ruff: noqa: E501  (markdown cells keep long lines: tables and formulas)

# %% [markdown]
# # 08 · Training a small CNN with the note's gradient step
#
# The note ends each section with a *gradient step*:
#
# $$w_{i,j,k,f}^l \leftarrow w_{i,j,k,f}^l - \alpha \sum_{i',j'} \delta_{i',j',f}^l \, f_{i+i',j+j',k}^{l-1},
# \qquad b_f^l \leftarrow b_f^l - \alpha \sum_{i',j'} \delta_{i',j',f}^l$$
#
# (formula ids `s2.weight_step`, `s2.bias_step`; with stride, `s3.*`).  If the forward pass, the backward
# pass (`s*.backward`) and these steps are right, then plain stochastic gradient descent built from them
# alone must learn a real task.  This notebook trains a three-layer network of `convlib.Conv2D` layers on
# scikit-learn's bundled 8×8 handwritten digits and asserts at least 95% accuracy on a held-out test split.
#
# Nothing is defined here: the network, the loss and the training loop live in
# [`convlib/training.py`](../convlib/training.py) (tested in `tests/test_training.py`), the pictures in
# [`convlib/plots.py`](../convlib/plots.py).

# %%
import numpy as np

from convlib.plots import heatmap, kernels, notebook_setup, training_curves
from convlib.training import accuracy, digits_cnn, load_digits_split, softmax_cross_entropy, train

plt = notebook_setup()  # matplotlib.pyplot, configured

# %% [markdown]
# ## The data
#
# 1797 grey-scale images of 8×8 pixels with values 0…16 (scaled to [0, 1]), ten classes.  A stratified
# split keeps 25% of the images aside; they are never used for a gradient step.

# %%
x_train, y_train, x_test, y_test = load_digits_split(test_fraction=0.25, seed=0)
print("train", x_train.shape, "test", x_test.shape)
assert x_train.shape[1:] == x_test.shape[1:] == (8, 8, 1)
assert 0.0 <= x_train.min() and x_train.max() <= 1.0
assert set(np.unique(y_train)) == set(np.unique(y_test)) == set(range(10))
print("classes per split: 10 and 10")

# %% [markdown]
# ## The network
#
# Every layer is a `Conv2D`.  The last one is a *dense* layer: a convolution whose kernel covers the whole
# 4×4 feature map, so it gives a 1×1 output per kernel, i.e. one logit per class.
#
# | layer | kernel | stride | padding | activation | output |
# |---|---|---|---|---|---|
# | 1 | 3×3, 1→16 | 1 | `'same'` | ReLU | (N, 8, 8, 16) |
# | 2 | 3×3, 16→32 | 2 | `'same'` | ReLU | (N, 4, 4, 32) |
# | 3 (dense) | 4×4, 32→10 | 1 | 0 | identity | (N, 1, 1, 10) |

# %%
rng = np.random.default_rng(2017)
net = digits_cnn(rng)
print(net)
logits = net.logits(x_train[:5])
assert logits.shape == (5, 10)

# %% [markdown]
# ## One step, checked
#
# Before training, one gradient step on a batch must lower that batch's loss for a small enough learning
# rate (the step is along the negative gradient).  This checks the sign and the wiring of every layer's
# `backward` and `step` together.

# %%
batch = slice(0, 64)
loss_before, dlogits = softmax_cross_entropy(net.logits(x_train[batch]), y_train[batch])
net.backward(dlogits)
grad_sq = sum(float(np.sum(layer.dw**2) + np.sum(layer.db**2)) for layer in net.layers)
saved = [(layer.w.copy(), layer.b.copy()) for layer in net.layers]
net.step(1e-3)
loss_after, _ = softmax_cross_entropy(net.logits(x_train[batch]), y_train[batch])
# first-order prediction: the loss drops by about lr * |grad|^2
assert 0 < loss_before - loss_after < 2e-3 * grad_sq
for layer, (w0, b0) in zip(net.layers, saved, strict=True):  # undo the probe step
    layer.w, layer.b = w0, b0
print("one small step lowers the batch loss, by about lr * |gradient|^2")

# %% [markdown]
# ## Training
#
# Mini-batches of 32, 20 epochs; each step is `Conv2D.step`, i.e. the note's `w ← w − α·dw`,
# `b ← b − α·db`, with no momentum and no other state.  The step size starts at α = 0.1 and shrinks by a
# factor 0.88 per epoch, so that the last epochs settle instead of jumping between nearby minima.

# %%
history = train(
    net, x_train, y_train, x_test, y_test, epochs=20, lr=0.1, lr_decay=0.88, batch_size=32, rng=rng
)
test_acc = accuracy(net, x_test, y_test)
assert test_acc == history.test_accuracy[-1]
assert history.loss[-1] < 0.25 * history.loss[0]
assert test_acc >= 0.95, test_acc
print(f"held-out test accuracy >= 95% on {len(y_test)} images: yes (the exact figure is in the plot)")

# %%
fig = training_curves(history.loss, history.train_accuracy, history.test_accuracy)

# %% [markdown]
# ## What the first layer learned
#
# The sixteen 3×3 kernels of layer 1 (red positive, blue negative).  They started as random He-normal
# draws; after training several are oriented edge and stroke detectors.

# %%
fig = kernels(net.layers[0].w, title="layer 1 kernels after training")

# %% [markdown]
# ## Mistakes
#
# The confusion counts on the test split: rows are true digits, columns predictions.

# %%
pred = net.predict(x_test)
confusion = np.zeros((10, 10), dtype=int)
np.add.at(confusion, (y_test, pred), 1)
assert confusion.sum() == len(y_test) and np.trace(confusion) == int(round(test_acc * len(y_test)))
fig, ax = plt.subplots(figsize=(4.2, 4.2))
heatmap(ax, confusion, title="test confusion (true rows, predicted columns)", cmap="Blues", symmetric=False)
