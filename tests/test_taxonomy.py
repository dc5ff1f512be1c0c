import pytest

import unboxed
from unboxed.taxonomy import Access, Format, MethodInfo, register


def test_every_method_declares_all_axes():
    for info in unboxed.methods():
        assert isinstance(info, MethodInfo)
        assert info.summary and info.reference
        assert set(info.as_dict()) >= {"engagement", "format", "scope", "access"}


def test_filters_answer_from_the_declarations():
    everything = unboxed.methods()
    gradients = unboxed.methods(access="gradients")
    assert {m.name for m in gradients} == {m.name for m in everything if m.access is Access.GRADIENTS}
    assert {"saliency", "integrated_gradients", "smoothgrad", "guided_backprop"} <= {m.name for m in gradients}
    several = unboxed.methods(access=["gradients", "black-box"])
    assert {m.name for m in several} == {m.name for m in everything if m.access in (Access.GRADIENTS, Access.BLACK_BOX)}
    assert unboxed.methods(format=Format.RULES) == [m for m in everything if m.format is Format.RULES]


def test_get_method_and_duplicate_registration():
    assert unboxed.get_method("saliency").info.name == "saliency"
    cls = unboxed.get_method("saliency")
    clone = type("Clone", (cls,), {})
    with pytest.raises(ValueError, match="registered twice"):
        register(clone)
