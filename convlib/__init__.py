"""convlib: convolutional-layer backpropagation, derived, implemented and verified.

Conventions (kept everywhere in the project)
--------------------------------------------
Arrays are channels-last and indexed as the note (Schmidt, 2017) indexes them::

    input    x[n, i, j, k]   (N, H, W, C)      the note's f^{l-1}
    weights  w[i, j, k, f]   (KH, KW, C, F)    k: input channel, f: kernel
    bias     b[f]            (F,)
    output   y[n, i, j, f]   (N, OH, OW, F)    the note's y^l

"Convolution" means cross-correlation, as in the note.  ``stride``,
``dilation``: int or (vertical, horizontal), >= 1; ``dilation=1`` means none.
``padding``: int, pair, ((top, bottom), (left, right)), 'valid' or 'same'.

Mapping to other libraries: PyTorch uses NCHW inputs and OIHW weights, so
``torch_x = x.transpose(0, 3, 1, 2)`` and ``torch_w = w.transpose(3, 2, 0, 1)``;
JAX's ``lax.conv_general_dilated`` takes these arrays as they are with
``dimension_numbers=('NHWC', 'HWIO', 'NHWC')``, ``window_strides=stride``,
``rhs_dilation=dilation`` and ``padding=[(top, bottom), (left, right)]``.

Formula ids name the note's twelve formulas: ``s1.forward``, ``s1.backward``,
``s1.weight_step``, ``s1.bias_step`` and the same for ``s2`` (multiple kernels
over an input with depth) and ``s3`` (with stride).
"""

from .activations import ACTIVATIONS, Activation, get_activation
from .conv import conv2d_backward, conv2d_forward
from .layer import Conv2D

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "Conv2D",
    "conv2d_backward",
    "conv2d_forward",
    "get_activation",
]
