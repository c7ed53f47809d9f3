"""Import a script of ``tools/`` as a module, for the tests of the project's command-line tools."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

TOOLS = Path(__file__).resolve().parents[1] / "tools"


def load_tool(name: str) -> ModuleType:
    """``tools/<name>.py`` as a fresh module; ``tools/`` goes on ``sys.path`` first, as when the script runs
    (some tools import their neighbours)."""
    if str(TOOLS) not in sys.path:
        sys.path.insert(0, str(TOOLS))
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # as an imported module is (dataclasses look their module up there)
    spec.loader.exec_module(module)
    return module
