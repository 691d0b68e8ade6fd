import io
import zipfile

import numpy as np
import pytest

from jenacast.cli import main
from jenacast.data import COLUMNS, generate_synthetic, load_csv, write_csv
from jenacast.data.csvio import format_csv
from jenacast.errors import DataError

HEADER = '"Date Time",' + ",".join(f'"{c}"' for c in COLUMNS)
ROW = "01.01.2009 00:10:00,996.52,-8.02,265.40,-8.90,93.30,3.33,3.11,0.22,1.94,3.12,1307.75,1.03,1.75,152.30"
ROW2 = "01.01.2009 00:20:00,996.57,-8.41,265.01,-9.28,93.40,3.23,3.02,0.21,1.89,3.03,1309.80,0.72,1.50,136.10"


def write(tmp_path, text, name="x.csv"):
    path = tmp_path / name
    path.write_text(text) if isinstance(text, str) else path.write_bytes(text)
    return path


def test_parses_the_real_files_first_rows(tmp_path):
    table = load_csv(write(tmp_path, "\n".join([HEADER, ROW, ROW2]) + "\n"))
    assert len(table) == 2
    assert table.names == COLUMNS
    assert str(table.timestamps[0]) == "2009-01-01T00:10:00"
    assert str(table.timestamps[1]) == "2009-01-01T00:20:00"
    np.testing.assert_allclose(table.values[0, :3], [996.52, -8.02, 265.40], rtol=1e-6)
    assert table.values.dtype == np.float32 and table.values.shape == (2, 14)
    assert len(table.sha256) == 64


def test_crlf_and_missing_final_newline(tmp_path):
    table = load_csv(write(tmp_path, "\r\n".join([HEADER, ROW, ROW2])))
    assert len(table) == 2 and table.values[1, 1] == np.float32(-8.41)


def test_round_trip_of_synthetic_table(tmp_path):
    table = generate_synthetic(3, years=0.05)
    path = tmp_path / "s.csv"
    write_csv(table, path)
    back = load_csv(path)
    np.testing.assert_array_equal(back.values, table.values)
    np.testing.assert_array_equal(back.timestamps, table.timestamps)
    assert format_csv(back) == path.read_bytes()


def test_zip_with_macosx_entry_is_read(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("__MACOSX/._jena_climate_2009_2016.csv", b"\x00\x05junk")
        z.writestr("jena_climate_2009_2016.csv", "\n".join([HEADER, ROW]) + "\n")
    assert len(load_csv(write(tmp_path, buf.getvalue(), "j.zip"))) == 1


BAD_INPUTS = {
    "empty": ("", "is empty"),
    "header only": (HEADER + "\n", "no data rows"),
    "wrong header": (HEADER.replace('"T (degC)"', '"Temp"') + "\n" + ROW, "missing 'T (degC)'"),
    "semicolons": (HEADER.replace(",", ";") + "\n" + ROW.replace(",", ";"), "separated by semicolons"),
    "non-numeric": (
        f"{HEADER}\n{ROW}\n{ROW2.replace('-8.41', 'abc')}\n",
        "line 3, column 'T (degC)': 'abc' is not a number",
    ),
    "truncated": (f"{HEADER}\n{ROW}\n{ROW2[:30]}", "line 3: found 3 fields, expected 15 (the file looks truncated)"),
    "extra field": (f"{HEADER}\n{ROW},1.0\n", "line 2: found 16 fields"),
    "iso dates": (
        f"{HEADER}\n{ROW.replace('01.01.2009', '2009-01-01')}\n",
        "line 2: date '2009-01-01 00:10:00' is not a valid dd.mm.yyyy",
    ),
    "impossible date": (
        f"{HEADER}\n{ROW}\n{ROW2.replace('01.01.2009', '31.02.2009')}\n",
        "line 3: date '31.02.2009 00:20:00'",
    ),
    "nan": (f"{HEADER}\n{ROW}\n{ROW2.replace('93.40', 'nan')}\n", "line 3, column 'rh (%)': value is nan"),
    "binary": (bytes(range(256)) * 10, "binary file"),
    "latin-1": ((HEADER + "\n").encode() + b"\xe9\xe9\n", "not UTF-8"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_names_file_line_and_problem(tmp_path, case):
    text, expected = BAD_INPUTS[case]
    path = write(tmp_path, text)
    with pytest.raises(DataError) as err:
        load_csv(path)
    assert expected in str(err.value)
    assert str(path) in str(err.value)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_csv(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="is a folder"):
        load_csv(tmp_path)


def test_zip_without_csv_and_corrupted_zip(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(DataError, match=r"holds no jena_climate_2009_2016.csv \(found: readme.txt\)"):
        load_csv(write(tmp_path, buf.getvalue(), "a.zip"))
    with pytest.raises(DataError, match="not a valid zip archive"):
        load_csv(write(tmp_path, buf.getvalue()[:40], "b.zip"))


def test_cli_bad_file_is_one_line_without_traceback(tmp_path, capsys):
    path = write(tmp_path, f"{HEADER}\n{ROW}\n{ROW2[:30]}")
    assert main(["data", "info", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("jenacast: error: ") and "line 3" in err


def test_cli_info_and_synth(tmp_path, capsys):
    out = tmp_path / "s.csv"
    assert main(["data", "synth", "--out", str(out), "--years", "0.1", "--seed", "1"]) == 0
    assert "sha256" in capsys.readouterr().out
    assert main(["data", "info", str(out)]) == 0
    text = capsys.readouterr().out
    assert (
        f"rows        {len(generate_synthetic(1, years=0.1)):,}" in text and "T (degC)" in text and "sentinels" in text
    )


def test_cli_info_without_cache_says_what_to_do(capsys):
    assert main(["data", "info"]) == 1
    assert "jenacast data download" in capsys.readouterr().err


def test_written_files_get_ordinary_permissions(tmp_path):
    import os
    import stat

    path = tmp_path / "s.csv"
    write_csv(generate_synthetic(0, years=0.01), path)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
