"""U-Nets on :mod:`convlab.nn`: convlab's own layout and two PyTorch layouts, key for key.

- :class:`UNetConfig` (frozen dataclass) and :class:`UNet`: convlab's layout
  (keys ``down{i}.conv{j}.*``, ``bottom.*``, ``up{i}.upconv.*``,
  ``up{i}.conv{j}.*``, ``head.*``; see :class:`UNet`), unpadded (the paper,
  skips center-cropped) or padded, 1-3 spatial dimensions.
- :class:`MilesialUNet`: milesial/Pytorch-UNet's ``UNet(n_channels, n_classes,
  bilinear)``, with that project's state_dict keys.
- :class:`JvanvugtUNet`: jvanvugt/pytorch-unet's ``UNet(in_channels, n_classes,
  depth, wf, padding, batch_norm, up_mode)``, with its keys.
- :func:`load_unet`: any of the three from a state_dict, architecture inferred;
  the layouts it knows are the records of ``models/_registry.py`` (a new
  layout is one module with its model class and ``LAYOUT`` record, plus one
  line there).

Every model states its ``size_contract`` (:class:`convlab.shapes.SizeContract`:
valid input sizes, margin, alignment, halo), derived by walking its own plan,
which is all :mod:`convlab.tiling` needs to tile it.

Every model is a :class:`convlab.nn.Module`: ``model(x)`` on ``(N, C, *spatial)``
arrays (converted to the model's dtype), ``state_dict()``,
``load_state_dict()``, ``to(dtype)``, ``num_parameters`` and ``trace(shape)``,
the shape-only per-layer table (:class:`convlab.nn.TraceRow`: output shape,
parameters, FLOPs, activation bytes, and the crop box or padding of each
skip merge). forward traces first, so a size that does not fit fails before
any arithmetic.

Examples
--------
>>> from convlab.models import UNet, UNetConfig, load_unet
>>> net = UNet(UNetConfig(in_channels=3, classes=6, padding="same"))
>>> net.output_shape((8, 3, 512, 512))
(8, 6, 512, 512)
>>> type(load_unet(net.state_dict())).__name__
'UNet'
>>> net.size_contract.alignment, net.size_contract.halo
((16, 16), (96, 96))
"""

from ._config import UNetConfig
from ._jvanvugt import JvanvugtUNet
from ._load import LAYOUTS, detect_layout, load_unet
from ._milesial import MilesialUNet
from ._unet import UNet

__all__ = ["LAYOUTS", "JvanvugtUNet", "MilesialUNet", "UNet", "UNetConfig", "detect_layout", "load_unet"]
