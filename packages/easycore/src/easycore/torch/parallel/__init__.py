"""``easycore.torch.parallel``: the documented names of ``easycore_torch``, re-exported.

Needs the easycore-torch component: ``pip install "easycore[torch]"``.
"""

try:
    from easycore_torch import *
    from easycore_torch import __all__ as __all__
except ModuleNotFoundError as err:
    if err.name not in ("easycore_torch", "torch"):
        raise
    raise ImportError(
        f"easycore.torch.parallel needs the easycore-torch component and torch "
        f'({err.name!r} is not installed): pip install "easycore[torch]"',
        name=err.name,
    ) from err
