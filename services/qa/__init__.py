"""The QA service: app factory (``services.qa.app.create_app``) and client (``services.qa.client.QaClient``)."""
