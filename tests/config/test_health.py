def test_it_answers_without_login_or_first_run(client, db):
    response = client.get("/health/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_it_reports_a_broken_database(client, db, monkeypatch):
    class Gone:
        def cursor(self):
            raise RuntimeError("database is gone")

    monkeypatch.setattr("config.views.connection", Gone())
    response = client.get("/health/")
    assert response.status_code == 503
    assert response.json()["status"] == "error"
