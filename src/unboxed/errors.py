"""Errors that name the problem in the user's terms, never deep inside torch."""


class UnboxedError(ValueError):
    """Base of every error unboxed raises for bad input or an impossible request."""


class InputError(UnboxedError):
    """The inputs, targets, baselines or settings given to a method are not usable."""


class ModelAccessError(UnboxedError):
    """The method needs more access to the model (gradients, layers) than the model gives."""


class LayerNotFoundError(UnboxedError, KeyError):
    """A layer name that does not exist in the model."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])
