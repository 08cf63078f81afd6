"""Issue 13.2: no SSRF through store URLs.

A store URL comes from whoever opens ``/woocommerce/connect`` (or the operator's CLI), and the
connector then calls it with REST keys. Internal targets are refused when the URL is given
(its host resolved) and again on every outbound connection, inside the HTTP transport, so a
name that answers a public address at connect time and an internal one later (DNS rebinding)
gets nowhere. Names are resolved by a stub where the test needs a name to point somewhere.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import http.server
import ipaddress
import socket
import ssl
import threading

import httpx
import pytest
from sqlalchemy import func, select

from connector.config import ConfigError, load_settings
from connector.extensions import db
from connector.models import Shop
from connector.shops import ShopError, add_woocommerce
from connector.stores import woocommerce as wc_store
from tests.woocommerce_support import app_url, pending_connections, store  # noqa: F401 (fixtures)

#: the internal targets of the issue, each as a store URL
TARGETS = [
    "https://169.254.169.254", "https://10.0.0.1", "https://192.168.1.1", "https://172.16.0.1",
    "https://[::ffff:127.0.0.1]", "https://127.1", "https://localhost.localdomain", "https://metadata.google.internal",
    "https://[fd00::1]", "https://100.64.0.1", "https://0.0.0.0", "https://[::]", "https://127.0.0.1.nip.io",
    # and a few more of the same classes
    "https://127.0.0.1", "https://localhost", "https://[::1]", "https://224.0.0.1", "https://[fe80::1]",
    "https://240.0.0.1", "https://[64:ff9b::a00:1]", "https://[2002:a00:1::]",
    # names that resolve to internal addresses (the stub below), one of them among public ones
    "https://intranet.example.com", "https://mixed.example.com",
]
STUB = {
    "127.0.0.1.nip.io": ["127.0.0.1"],
    "metadata.google.internal": ["169.254.169.254"],
    "localhost.localdomain": ["127.0.0.1"],
    "intranet.example.com": ["10.20.30.40"],
    "mixed.example.com": ["93.184.215.14", "10.0.0.1"],
    "public.example.com": ["93.184.215.14"],
}


@pytest.fixture
def resolver(monkeypatch):
    """Names resolve through STUB (plus what a test adds); every call is recorded."""
    from integrations import egress

    table = dict(STUB)
    calls: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        answer = table.get(host.rstrip("."))
        if answer is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(answer() if callable(answer) else answer)

    monkeypatch.setattr(egress, "resolve_host", resolve)
    resolve.table, resolve.calls = table, calls
    return resolve


@pytest.fixture
def production(ctx, monkeypatch):
    """The running app's settings as in production: no allowance for loopback stores."""
    current = ctx.config["CONNECTOR"]
    known = {field.name for field in dataclasses.fields(current)}
    changes = {name: value for name, value in {"env": "production", "allow_loopback_stores": False}.items()
               if name in known}
    monkeypatch.setitem(ctx.config, "CONNECTOR", dataclasses.replace(current, **changes))


def shop_count() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Shop))


@pytest.mark.parametrize("target", TARGETS)
def test_13_2_connect_refuses_internal_store_urls(client, app_url, production, resolver, target):
    answer = client.get("/woocommerce/connect", query_string={"store_url": target})
    assert answer.status_code == 400, f"{target} was accepted"
    assert answer.json["error"] == "invalid_store_url"
    assert pending_connections() == []


@pytest.mark.parametrize("target", TARGETS)
def test_13_2_cli_add_refuses_internal_store_urls(ctx, production, resolver, target):
    with pytest.raises(ShopError):
        add_woocommerce(target, "ck_" + "a" * 40, "cs_" + "b" * 40)
    assert shop_count() == 0


@pytest.mark.parametrize("target", TARGETS)
def test_13_2_every_outbound_connection_is_checked(resolver, target):
    from integrations.egress import EgressPolicy
    from integrations.woocommerce.client import WooCommerceAddressRefusedError, WooCommerceClient

    with WooCommerceClient(target, "ck_" + "a" * 40, "cs_" + "b" * 40, egress=EgressPolicy()) as api:
        with pytest.raises(WooCommerceAddressRefusedError):
            api.index()


def test_13_2_the_loopback_allowance_admits_loopback_only(store, resolver):
    from integrations.egress import EgressPolicy
    from integrations.woocommerce.client import WooCommerceAddressRefusedError, WooCommerceClient

    key, secret = store.issue_keys()
    with WooCommerceClient(store.base_url, key, secret, egress=EgressPolicy(allow_loopback=True)) as api:
        assert api.index()["namespace"] == "wc/v3"
    with WooCommerceClient(store.base_url, key, secret, egress=EgressPolicy()) as api:
        with pytest.raises(WooCommerceAddressRefusedError):
            api.index()
    for target in ("https://10.0.0.1", "https://169.254.169.254", "https://[::ffff:127.0.0.1]", "https://100.64.0.1",
                   "https://intranet.example.com"):
        with WooCommerceClient(target, key, secret, egress=EgressPolicy(allow_loopback=True)) as api:
            with pytest.raises(WooCommerceAddressRefusedError):
                api.index()
    # the refused ones never connected
    assert [request.path.rstrip("/") for request in store.requests] == ["/wp-json/wc/v3"]


def test_13_2_dns_rebinding_is_refused_at_connection_time(client, app_url, production, resolver):
    answers = iter([["93.184.215.14"], ["127.0.0.1"], ["127.0.0.1"]])
    resolver.table["rebind.example.com"] = lambda: next(answers)
    # at connect time the name answers a public address: the merchant is sent to the store
    answer = client.get("/woocommerce/connect", query_string={"store_url": "https://rebind.example.com"})
    assert answer.status_code == 302
    # later the same name answers loopback: the REST call of the set-up is refused before connecting
    shop = Shop(platform="woocommerce", domain="https://rebind.example.com", settings={}, time_zone="UTC", locale="en")
    shop.credentials = {"consumer_key": "ck_" + "a" * 40, "consumer_secret": "cs_" + "b" * 40}
    db.session.add(shop)
    db.session.commit()
    from integrations.woocommerce.client import WooCommerceAddressRefusedError

    with wc_store.client_for(shop) as api, pytest.raises(WooCommerceAddressRefusedError):
        api.system_status()
    # resolved again for the connection, and checked
    assert [host.rstrip(".") for host in resolver.calls].count("rebind.example.com") >= 2


def test_13_2_loopback_allowance_is_explicit_and_never_in_production(tmp_path):
    base = {"CONNECTOR_ENV": "development"}
    assert load_settings(base, instance_path=tmp_path).allow_loopback_stores is True
    assert load_settings({**base, "ALLOW_LOOPBACK_STORES": "0"}, instance_path=tmp_path).allow_loopback_stores is False
    production = {"CONNECTOR_ENV": "production", "DATABASE_URL": "postgresql://db/x", "REDIS_URL": "redis://r",
                  "APP_URL": "https://c.example", "SECRET_KEY": "s",
                  "ENCRYPTION_KEY": "WtVgmVhxqtfiKVSxlpIsmHx-I48K7Zz2EXH2uenWFyE=",
                  "WHATSAPP_APP_SECRET": "w", "WHATSAPP_VERIFY_TOKEN": "v"}
    assert load_settings(production, instance_path=tmp_path).allow_loopback_stores is False
    with pytest.raises(ConfigError, match="ALLOW_LOOPBACK_STORES"):
        load_settings({**production, "ALLOW_LOOPBACK_STORES": "1"}, instance_path=tmp_path)


# -- the transport connects to the checked address, with the store's own Host and TLS name ----

def _certificate(tmp_path, name: str):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_13_2_the_guarded_transport_keeps_host_and_tls_name(tmp_path, resolver):
    from integrations.egress import EgressPolicy, GuardedTransport

    cert_path, key_path = _certificate(tmp_path, "shop.test")
    seen: dict[str, str] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            seen["host"] = self.headers["Host"]
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_path, key_path)
    server_context.sni_callback = lambda sock, name, context: seen.__setitem__("sni", name)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        resolver.table["shop.test"] = ["127.0.0.1"]
        trust = ssl.create_default_context(cafile=str(cert_path))
        with httpx.Client(transport=GuardedTransport(EgressPolicy(allow_loopback=True), verify=trust)) as http_client:
            answer = http_client.get(f"https://shop.test:{port}/")
        assert (answer.status_code, answer.text) == (200, "ok")
        assert seen == {"sni": "shop.test", "host": f"shop.test:{port}"}
        # the same name, not allowed to reach loopback: refused before any connection
        from integrations.egress import EgressRefusedError

        seen.clear()
        with httpx.Client(transport=GuardedTransport(EgressPolicy(), verify=trust)) as http_client:
            with pytest.raises(EgressRefusedError):
                http_client.get(f"https://shop.test:{port}/")
        assert seen == {}
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("address", "allowed"), [
    ("93.184.215.14", True), ("2606:2800:220:1:248:1893:25c8:1946", True), ("8.8.8.8", True),
    ("127.0.0.1", False), ("10.1.1.1", False), ("100.127.255.255", False), ("::ffff:8.8.8.8", False),
    ("64:ff9b::808:808", True), ("64:ff9b::a00:1", False), ("2002:808:808::1", True), ("2002:c0a8:101::1", False),
    ("255.255.255.255", False), ("198.18.0.1", False), ("fc00::1", False), ("ff02::1", False),
])
def test_13_2_address_classes(address, allowed):
    from integrations.egress import refusal

    assert (refusal(ipaddress.ip_address(address), allow_loopback=False) is None) is allowed
