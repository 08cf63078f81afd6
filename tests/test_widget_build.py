"""The built widget (make builds widget/ into connector/static/storefront): within its size
budget, and served by the connector for any site."""

from __future__ import annotations

import gzip
from pathlib import Path

BUILT = Path(__file__).resolve().parent.parent / "connector" / "static" / "storefront"


def test_the_always_loaded_part_is_within_10_kb_gzipped():
    assert len(gzip.compress((BUILT / "widget.js").read_bytes(), compresslevel=9)) <= 10 * 1024
    # the popup, notify-me and inline opt-in are not in it: they come with widget-ui.js on demand
    assert b"aria-invalid" not in (BUILT / "widget.js").read_bytes()
    assert b"aria-invalid" in (BUILT / "widget-ui.js").read_bytes()


def test_the_connector_serves_the_widget_and_its_chunk_to_any_site(client):
    with client.get("/storefront/widget.js", headers={"Origin": "https://any-shop.example"}) as script:
        assert script.status_code == 200 and script.mimetype in ("text/javascript", "application/javascript")
        assert script.headers["Access-Control-Allow-Origin"] == "*"
        assert script.data == (BUILT / "widget.js").read_bytes()
    with client.get("/storefront/widget/widget-ui.js") as chunk:  # the file is closed with the response
        assert chunk.status_code == 200 and chunk.data == (BUILT / "widget-ui.js").read_bytes()
    assert client.get("/storefront/widget/../storefront.py").status_code == 404
    assert client.get("/storefront/widget/missing.js").status_code == 404
