"""Reading what users bring to `unboxed audit`: their models and their data."""
from .models import LoadedModel, load_model
from .saving import save_model
from .data import load_data
from .images import read_image_folder
from .tables import read_table
from .texts import read_texts

__all__ = ["LoadedModel", "load_data", "load_model", "read_image_folder", "read_table", "read_texts", "save_model"]
