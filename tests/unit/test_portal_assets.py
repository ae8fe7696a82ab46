"""The portal's front-end packages: pinned with integrity hashes, the GOV.UK Frontend version
its Jinja macros were verified against, and built for a service that is not on GOV.UK."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

from services.provider_adapter.entrypoints.portal.web import BUILD, load_assets

ROOT = Path(__file__).resolve().parents[2]
LOCK = json.loads((ROOT / "package-lock.json").read_text())

# govuk-frontend-jinja's maintainers verify each release against one govuk-frontend release
# (their README's compatibility table); the two pins move together.
VERIFIED_WITH = {"4.1.0": "6.3.0"}


def test_every_npm_package_is_pinned_with_its_integrity_hash() -> None:
    packages = {k: v for k, v in LOCK["packages"].items() if k}
    assert packages
    for name, entry in packages.items():
        if entry.get("optional") and "node_modules/@parcel" in name:
            continue
        assert entry.get("integrity", "").startswith("sha512-"), name
    root = json.loads((ROOT / "package.json").read_text())
    for name, wanted in {**root["dependencies"], **root["devDependencies"]}.items():
        assert wanted[0].isdigit(), f"{name} is pinned to a range ({wanted}), not a version"


def test_the_jinja_macros_match_the_pinned_govuk_frontend() -> None:
    jinja = version("govuk-frontend-jinja")
    pinned = LOCK["packages"]["node_modules/govuk-frontend"]["version"]
    assert VERIFIED_WITH.get(jinja) == pinned, (jinja, pinned)


def test_the_built_stylesheet_is_for_a_service_not_on_govuk() -> None:
    """No GDS Transport typeface (GOV.UK's alone) and nothing fetched from elsewhere."""
    assets = load_assets(BUILD)
    css = assets.files["portal.css"].decode()
    assert "GDS Transport" not in css
    assert "font-family:arial,sans-serif" in css
    for fetched_elsewhere in ('url("http', "url(http", 'url("//', "url(//", "@import"):
        assert fetched_elsewhere not in css
