"""The nginx configuration of the proxy in front of a Docker service.

The proxy holds the service's published port for good; app containers come and go behind it.
It finds them by the network alias `live` through Docker's embedded DNS, re-read every second,
and a request that cannot reach one (refused, reset, timed out, 502-504) is retried on another,
which is what makes a switch invisible to clients. It runs as a non-root user, so everything it
writes goes to /tmp.
"""

from __future__ import annotations

from service_infra.ops.rollout import PROXY_DNS_VALID_SECONDS

LISTEN_PORT = 8080
HEALTH_PATH = "/.service-infra/proxy-health"
CONFIG_PATH = "/etc/nginx/service-infra.conf"  # /etc/nginx exists in every nginx image
COMMAND = ("nginx", "-e", "stderr", "-c", CONFIG_PATH, "-g", "daemon off;")
DOCKER_DNS = "127.0.0.11"
# How long nginx trusts an answer about the live alias; a switch waits this out (see ops.rollout).
DNS_VALID_SECONDS = PROXY_DNS_VALID_SECONDS
CONNECT_TIMEOUT = "250ms"


def healthcheck_test() -> list[str]:
    return ["CMD", "curl", "-fsS", "-o", "/dev/null", f"http://127.0.0.1:{LISTEN_PORT}{HEALTH_PATH}"]


def nginx_conf(service: str, alias: str, port: int) -> str:
    return f"""# Written by service-infra: the proxy in front of {service}.
worker_processes 1;
pid /tmp/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path /tmp/nginx-client-body;
    proxy_temp_path /tmp/nginx-proxy;
    fastcgi_temp_path /tmp/nginx-fastcgi;
    uwsgi_temp_path /tmp/nginx-uwsgi;
    scgi_temp_path /tmp/nginx-scgi;
    # Docker's embedded DNS; a new live container is seen within a second.
    resolver {DOCKER_DNS} valid={DNS_VALID_SECONDS}s ipv6=off;
    resolver_timeout 2s;
    server {{
        listen {LISTEN_PORT};
        client_max_body_size 50m;
        location = {HEALTH_PATH} {{
            return 200 "ok\\n";
        }}
        location / {{
            # A variable makes nginx resolve the alias per request instead of once at start.
            set $live http://{alias}:{port};
            proxy_pass $live;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_buffering off;
            # A connect on the host's own bridge takes well under a millisecond; the one that
            # times out is to a version that has just stopped (its address is gone while the
            # DNS answer above still names it), and the next try goes to the live one: this
            # bounds how long the switch holds a request.
            proxy_connect_timeout {CONNECT_TIMEOUT};
            proxy_read_timeout 300s;
            proxy_send_timeout 300s;
            proxy_next_upstream error timeout http_502 http_503 http_504;
            proxy_next_upstream_tries 5;
            proxy_next_upstream_timeout 20s;
        }}
    }}
}}
"""
