"""service-infra components. Kept import-free so `python3 -m components.<tool>` stays light."""
