"""zennit (a test-only oracle, and imported by Quantus when present) without torchvision.

zennit/__init__.py imports zennit.torchvision, which imports torchvision; torchvision breaks beside
this project's torch, so it is not installed. Every other zennit module is independent of it.
"""
import importlib.util
import sys
import types


def stub_zennit_torchvision() -> None:
    """Pre-seed the one submodule that needs torchvision, so `import zennit` (and `import quantus`) work;
    its torchvision canonizers (ResNetCanonizer, VGGCanonizer) are then missing attributes that say why."""
    if "zennit.torchvision" in sys.modules or importlib.util.find_spec("torchvision") is not None:
        return
    stub = types.ModuleType("zennit.torchvision", "zennit's torchvision canonizers: unavailable without torchvision")

    def __getattr__(name):  # AttributeError, not ImportError: hasattr() (inspect, pytest) must still work
        raise AttributeError(f"zennit.torchvision.{name} needs torchvision, which this project does not install")

    stub.__getattr__ = __getattr__
    sys.modules["zennit.torchvision"] = stub
