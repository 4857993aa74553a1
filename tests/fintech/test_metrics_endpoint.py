"""/metrics answers the scraper's network or token only; everyone else gets a plain 404."""

from __future__ import annotations

import pytest


@pytest.mark.django_db
def test_the_scraper_network_gets_metrics(client):
    response = client.get("/metrics", REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 200
    assert b"fintech_dsar_overdue" in response.content


@pytest.mark.django_db
def test_the_public_internet_gets_a_404(client):
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="10.0.0.1")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
def test_a_bearer_token_opens_it_from_anywhere(client, settings):
    settings.METRICS_TOKEN = "scrape-token-for-tests-0123456789"
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    response = client.get(
        "/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer scrape-token-for-tests-0123456789"
    )
    assert response.status_code == 200


@pytest.mark.django_db
def test_the_celery_queue_depth_is_read_from_the_redis_broker(client, settings):
    import redis

    connection = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    connection.delete("celery")
    connection.rpush("celery", "a-message", "another")
    try:
        scraped = client.get("/metrics", REMOTE_ADDR="10.1.2.3").content.decode()
    finally:
        connection.delete("celery")
    assert 'fintech_celery_queue_depth{queue="celery"} 2.0' in scraped


@pytest.mark.django_db
def test_request_latency_is_measured_per_view_and_never_labelled_with_a_path(client):
    """SPEC C9's request latency: a histogram per view name and method. Paths carry ids (an
    account's public id here), so they must never become a label."""
    client.get("/healthz")
    secret_id = "7d1f9a52-0c4e-4c55-9a47-3f5d2b8c1e90"
    client.get(f"/api/v1/accounts/{secret_id}/")
    scraped = client.get("/metrics", REMOTE_ADDR="10.1.2.3").content.decode()
    assert 'django_http_requests_latency_seconds_by_view_method_bucket{le="0.01",method="GET",view="healthz"}' in (
        scraped
    )
    assert "django_http_responses_total_by_status_total" in scraped
    assert secret_id not in scraped


@pytest.mark.django_db
def test_registering_a_scrape_time_collector_computes_nothing_and_names_what_it_yields(django_assert_num_queries):
    """Registration (in every process's ready()) asks describe() for names: no query, cache read or
    broker connection; and those names are exactly what a scrape yields."""
    from unittest import mock

    from compliance.audit.metrics import AuditChainCollector
    from compliance.dsar.metrics import DsarBacklogCollector
    from compliance.secret_rotation.metrics import SecretsCollector
    from kernel.metrics import CeleryQueueDepthCollector
    from ledger.metrics import LedgerReconciliationCollector

    collectors = [
        AuditChainCollector(), DsarBacklogCollector(), SecretsCollector(), CeleryQueueDepthCollector(),
        LedgerReconciliationCollector(),
    ]  # fmt: skip
    for collector in collectors:
        with django_assert_num_queries(0), mock.patch("django.core.cache.cache.get") as cache_get:
            described = [family.name for family in collector.describe()]
        assert not cache_get.called, type(collector).__name__
        assert described == [family.name for family in collector.collect()], type(collector).__name__
