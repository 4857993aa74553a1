"""Issue 15, "/metrics served to any client behind a proxy": the network check saw the proxy's
private address, and a wrong token also got 200. Both refused now."""

from __future__ import annotations

import pytest

TOKEN = "scrape-token-for-tests-0123456789"  # pragma: allowlist secret


@pytest.mark.django_db
def test_a_public_client_behind_an_unconfigured_proxy_gets_no_metrics(client, settings):
    settings.TRUSTED_PROXIES = []
    # The proxy (10.0.0.5) relays a client from the internet.
    response = client.get("/metrics", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert response.status_code == 404
    assert b"fintech_" not in response.content


@pytest.mark.django_db
def test_behind_a_trusted_proxy_the_client_address_decides(client, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.5/32"]
    public = client.get("/metrics", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert public.status_code == 404
    # A client lying about its own address in front of our proxy is not believed either: the
    # proxy appends the real peer, and the rightmost untrusted hop is the client.
    spoofed = client.get("/metrics", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="10.1.2.3, 203.0.113.9")
    assert spoofed.status_code == 404
    # The proxy relaying the in-cluster scraper: allowed.
    scraper = client.get("/metrics", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="10.1.2.3")
    assert scraper.status_code == 200


@pytest.mark.django_db
def test_the_proxy_itself_without_a_client_address_is_not_enough(client, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.5/32"]
    assert client.get("/metrics", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="10.0.0.5").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("header", ["Bearer wrong", "Bearer ", "Basic c2NyYXBlOnRva2Vu", f"Bearer {TOKEN}x", TOKEN])
def test_a_wrong_token_is_a_401_even_from_the_scraper_network(client, settings, header):
    settings.METRICS_TOKEN = TOKEN
    response = client.get("/metrics", REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert b"fintech_" not in response.content


@pytest.mark.django_db
def test_no_token_configured_means_no_token_opens_it(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer ").status_code == 401


@pytest.mark.django_db
def test_the_right_token_opens_it_through_any_proxy(client, settings):
    settings.METRICS_TOKEN = TOKEN
    response = client.get(
        "/metrics", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.9", HTTP_AUTHORIZATION=f"Bearer {TOKEN}"
    )
    assert response.status_code == 200
