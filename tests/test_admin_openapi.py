"""The admin API describes itself: /admin/api/openapi.json is an OpenAPI 3 document built from
the routes' declared schemas, and every /admin/api route declares its own."""

from __future__ import annotations

from connector.app import create_app
from connector.web.apidoc import openapi_document, undocumented_routes


def test_every_admin_api_route_declares_its_schemas(app):
    assert undocumented_routes(app) == []


def test_the_document_is_served_without_a_token_and_describes_every_route(app, client):
    response = client.get("/admin/api/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.")
    rules = {rule.rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/admin/api")}
    assert len(document["paths"]) == len(rules)
    settings = document["paths"]["/admin/api/settings"]
    assert set(settings) == {"get", "patch"}
    assert settings["patch"]["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ValidationError"}
    assert settings["get"]["security"] == [{"bearer": []}]
    # the settings schema is described down to its fields, with their meanings
    schemas = document["components"]["schemas"]
    cart = schemas["AbandonedCart"]["properties"]["delays_seconds"]
    assert cart["type"] == "array" and cart.get("description")
    assert document["paths"]["/admin/api/data-exports/{export_id}"]["get"]["parameters"][0] == {
        "in": "path", "name": "export_id", "required": True, "schema": {"type": "integer"}}


def test_a_route_without_a_declaration_is_found(app_env):
    bare = create_app(app_env)  # an app that has not served a request yet takes a new rule
    bare.add_url_rule("/admin/api/forgotten", "forgotten", lambda: "")
    assert undocumented_routes(bare) == ["/admin/api/forgotten"]
    assert "/admin/api/forgotten" not in openapi_document(bare)["paths"]
