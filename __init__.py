"""Not part of the package: a guard for a checkout that is itself named ``greedybench``.

Python puts the current directory first on ``sys.path``. From the directory that *contains* a
clone named ``greedybench``, ``import greedybench`` would find this folder (the repository, not the
package inside it) and give an empty module. This file makes that import load the installed
package instead (the editable install points at ``greedybench/`` inside this folder), or fail
with a message that says what happened.
"""

import importlib
import os
import sys

# Only as ``greedybench``; pytest also imports this file, as a package named after the folder.
if __name__ == "greedybench":
    _here = os.path.dirname(os.path.abspath(__file__))
    _parent = os.path.dirname(_here)
    _shadowing = {"", ".", _parent}
    _saved_path = list(sys.path)
    _self = sys.modules.pop(__name__)
    try:
        sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _parent and p not in _shadowing]
        try:
            _real = importlib.import_module(__name__)
        except ImportError as exc:
            sys.modules[__name__] = _self
            raise ImportError(
                f"'import greedybench' found the repository folder {_here} (a checkout named greedybench "
                "in the current directory) instead of the package, and no installed greedybench was found "
                f"({exc}). Install it with `pip install -e {_here}` or run Python from another directory."
            ) from None
    finally:
        sys.path[:] = _saved_path
    sys.modules[__name__] = _real
