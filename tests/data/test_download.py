"""The real download path, against zips served on 127.0.0.1 by the test itself."""

import hashlib
import http.server
import io
import threading
import zipfile

import numpy as np
import pytest

from jenacast.cli import main
from jenacast.data import generate_synthetic, jena, load_jena
from jenacast.data.csvio import CSV_NAME, format_csv
from jenacast.errors import DownloadError


def make_zip(csv_bytes: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr(CSV_NAME, csv_bytes)
        z.writestr(f"__MACOSX/._{CSV_NAME}", b"\x00\x05\x16\x07mac")  # as in the book's zip
    return buf.getvalue()


@pytest.fixture(scope="module")
def server():
    csv_bytes = format_csv(generate_synthetic(0))
    routes = {
        "/good.zip": make_zip(csv_bytes),
        "/corrupt.zip": b"PK\x03\x04" + bytes(1000),
        "/small.zip": make_zip(format_csv(generate_synthetic(0, years=0.01))),
    }
    hits = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits[self.path] = hits.get(self.path, 0) + 1
            if self.path == "/short.zip":  # promises more than it sends
                body = routes["/good.zip"][:5000]
                self.send_response(200)
                self.send_header("Content-Length", str(len(routes["/good.zip"])))
                self.end_headers()
                self.wfile.write(body)
                return
            body = routes.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield {"url": lambda p: base + p, "hits": hits, "sha256": hashlib.sha256(csv_bytes).hexdigest()}
    httpd.shutdown()


def test_falls_back_across_failing_mirrors_then_caches(server, tmp_path):
    url = server["url"]
    cache = tmp_path / "c"
    info = jena.download(
        mirrors=[url("/missing.zip"), url("/corrupt.zip"), url("/good.zip")], cache=cache, progress=False
    )
    assert info.url == url("/good.zip") and info.rows == 420_451
    assert info.sha256 == server["sha256"] == hashlib.sha256(info.csv_path.read_bytes()).hexdigest()
    assert sorted(p.name for p in cache.iterdir()) == sorted([CSV_NAME, jena.BINARY_NAME, jena.META_NAME])
    served = server["hits"].get("/good.zip")
    again = jena.download(mirrors=[url("/good.zip")], cache=cache, progress=False)
    # no second download (how fast the cache answers is benchmarks/bench_data.py's business)
    assert server["hits"]["/good.zip"] == served and again.sha256 == info.sha256
    table = load_jena(cache=cache, download_if_missing=False)
    assert len(table) == 420_451 and table.sha256 == info.sha256
    assert table.sentinel_counts() and not load_jena(cache=cache, clean_wind=True).sentinel_counts()


def test_every_mirror_failing_names_each_reason_and_leaves_nothing(server, tmp_path):
    url = server["url"]
    cache = tmp_path / "c"
    mirrors = [
        url("/missing.zip"),
        url("/corrupt.zip"),
        url("/small.zip"),
        url("/short.zip"),
        "http://127.0.0.1:9/x.zip",
    ]
    with pytest.raises(DownloadError) as err:
        jena.download(mirrors=mirrors, cache=cache, progress=False)
    text = str(err.value)
    assert "Not Found" in text and "not a valid zip archive" in text
    assert "rows; the Jena climate dataset has 420,000-421,000" in text
    assert "stopped after 5,000" in text or "IncompleteRead" in text
    assert "refused" in text.lower()
    assert not cache.exists() or not any(cache.iterdir())


def test_cli_download_then_info_uses_the_cache(server, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("JENACAST_CACHE", str(tmp_path / "cli-cache"))
    assert main(["data", "download", "--quiet", "--mirror", server["url"]("/good.zip")]) == 0
    assert server["sha256"] in capsys.readouterr().out
    assert main(["data", "info", "--json"]) == 0
    assert '"rows": 420451' in capsys.readouterr().out


def test_cli_download_failure_is_one_line(server, capsys):
    assert main(["data", "download", "--quiet", "--mirror", server["url"]("/missing.zip")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("jenacast: error: could not download") and err.count("\n") == 1


def test_load_jena_without_cache_or_network_permission(tmp_path):
    with pytest.raises(Exception, match="not cached"):
        load_jena(cache=tmp_path / "empty", download_if_missing=False)


def test_stale_binary_copy_is_rebuilt_from_the_csv(server, tmp_path):
    cache = tmp_path / "c"
    jena.download(mirrors=[server["url"]("/good.zip")], cache=cache, progress=False)
    (cache / jena.BINARY_NAME).write_bytes(b"garbage")
    table = load_jena(cache=cache, download_if_missing=False)
    assert len(table) == 420_451 and np.isfinite(table.values).all()
