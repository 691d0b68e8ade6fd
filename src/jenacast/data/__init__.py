"""Loading the Jena climate data, a Jena-like synthetic dataset or any station's table, and the book's windows."""

from jenacast.data.csvio import load_csv, write_csv
from jenacast.data.jena import MIRRORS, download, load_jena
from jenacast.data.options import DataOptions
from jenacast.data.select import Dataset, open_dataset
from jenacast.data.station import load_table
from jenacast.data.synthetic import generate_synthetic
from jenacast.data.table import COLUMNS, TEMPERATURE_COLUMN, Table
from jenacast.data.windows import Split, Splits, WindowSpec, make_splits

__all__ = [
    "COLUMNS",
    "DataOptions",
    "Dataset",
    "MIRRORS",
    "TEMPERATURE_COLUMN",
    "Split",
    "Splits",
    "Table",
    "WindowSpec",
    "download",
    "generate_synthetic",
    "load_csv",
    "load_jena",
    "load_table",
    "make_splits",
    "open_dataset",
    "write_csv",
]
