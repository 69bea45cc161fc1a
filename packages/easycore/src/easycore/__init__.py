"""easycore: configs, a registry, paths and downloads, and multi-process runners.

The documented API lives in these namespaces, each a thin re-export of one
component package:

- ``easycore.common.config``   -> ``easycore_config``
- ``easycore.common.registry`` -> ``easycore_registry``
- ``easycore.common.path``     -> ``easycore_path``
- ``easycore.common.network``  -> ``easycore_path.download_file``
- ``easycore.common.parallel`` -> ``easycore_parallel``
- ``easycore.torch.parallel``  -> ``easycore_torch`` (install packages/easycore-torch too)

Importing ``easycore`` itself imports none of them.
"""

# SPDX-License-Identifier: MIT

__version__ = "0.1.0"
