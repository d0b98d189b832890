"""torchvision's model definitions, imported next to the CPU build of torch.

Why this is needed: `torchvision==0.28.0` is the release that pairs with `torch==2.13.0`, but its
PyPI wheel is built against CUDA torch. With the CPU build its C extension (`torchvision._C`,
which holds nms, roi_align and the other detection ops) does not load, and `import torchvision`
then fails in `torchvision._meta_registrations`, which registers fake (meta) kernels for those
ops::

    RuntimeError: operator torchvision::nms does not exist

How: the classifiers the presets are checked against (ResNet, ResNeXt, Wide ResNet, DenseNet,
MobileNetV2, ShuffleNetV2) are plain `nn.Module` code that calls none of those ops. So before
the first import, `torchvision._meta_registrations` and `torchvision._autograd_registrations`
(the two modules that only register kernels for the C ops) are entered into `sys.modules` as
empty modules. Everything else imports as shipped; only the C ops stay unusable, and no test
uses them. Where torchvision imports normally (a CUDA build of torch), nothing is stubbed.

scripts/setup.sh installs the wheel with `pip install --no-deps torchvision==0.28.0` (its
metadata asks for the CUDA torch it was built with).
"""

from __future__ import annotations

import importlib
import sys
import types
from types import ModuleType

#: The modules of torchvision that only register kernels for its C ops.
KERNEL_REGISTRATIONS = ("torchvision._meta_registrations", "torchvision._autograd_registrations")


def torchvision_models() -> ModuleType:
    """`torchvision.models`, importable with the CPU build of torch.

    Raises:
        ImportError: torchvision is not installed (scripts/setup.sh installs it).
    """
    if "torchvision.models" in sys.modules:
        return sys.modules["torchvision.models"]
    try:
        return importlib.import_module("torchvision.models")
    except RuntimeError:  # the C extension did not load: stub its kernel registrations
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
    except ImportError as e:
        raise ImportError(
            "torchvision is not installed; the preset tests need it: pip install --no-deps torchvision==0.28.0"
        ) from e
    for name in KERNEL_REGISTRATIONS:
        sys.modules[name] = types.ModuleType(name)
    return importlib.import_module("torchvision.models")
