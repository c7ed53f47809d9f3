"""Import a script (of ``tools/``, ``bench/``, ...) as a module, for the tests of the project's command lines."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

TOOLS = Path(__file__).resolve().parents[1] / "tools"


def load_script(path: Path) -> ModuleType:
    """The script at ``path`` as a fresh module named after its file; its folder goes on ``sys.path`` first,
    as when the script runs (some scripts import their neighbours)."""
    path = Path(path)
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # as an imported module is (dataclasses look their module up there)
    spec.loader.exec_module(module)
    return module


def load_tool(name: str) -> ModuleType:
    """``tools/<name>.py`` as a fresh module (see :func:`load_script`)."""
    return load_script(TOOLS / f"{name}.py")
