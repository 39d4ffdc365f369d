"""The service-infra-guards policy pack (served by __main__.py; the policies live in guards/)."""
