"""``easycore.torch.parallel``: the documented names of ``easycore_torch``, re-exported.

Needs the easycore-torch component and torch. From the root of a clone of the easycore
repository: ``pip install packages/easycore-parallel packages/easycore-torch``. Not
``pip install "easycore[torch]"``: on the public index that name is another project.
"""

try:
    from easycore_torch import *
    from easycore_torch import __all__ as __all__
except ModuleNotFoundError as err:
    if err.name not in ("easycore_torch", "torch"):
        raise
    raise ImportError(
        f"easycore.torch.parallel needs the easycore-torch component and torch "
        f"({err.name!r} is not installed). From the root of a clone of the easycore "
        f"repository, run: pip install packages/easycore-parallel packages/easycore-torch "
        f'(not pip install "easycore[torch]": on the public index that name is another project)',
        name=err.name,
    ) from err
