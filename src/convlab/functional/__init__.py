"""The fast operators: N-d convolution family on NumPy, equal to torch.nn.functional."""

from ._algorithm import algorithm
from ._conv import conv1d, conv2d, conv3d
from ._conv_transpose import conv_transpose1d, conv_transpose2d, conv_transpose3d
from ._interpolate import interpolate
from ._norm import batch_norm, relu
from ._pad import pad
from ._pool import avg_pool1d, avg_pool2d, avg_pool3d, max_pool1d, max_pool2d, max_pool3d
from ._threads import get_num_threads, set_num_threads
from ._unfold import fold, unfold
from ._workspace import get_workspace_limit, set_workspace_limit, workspace_limit

__all__: list[str] = [
    "algorithm",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "batch_norm",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "fold",
    "get_num_threads",
    "get_workspace_limit",
    "interpolate",
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "pad",
    "relu",
    "set_num_threads",
    "set_workspace_limit",
    "unfold",
    "workspace_limit",
]
