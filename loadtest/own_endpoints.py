"""A locustfile for your own project's endpoints, through the same HTTPS path as `make loadtest`
(docs/own-project.md, "Where the demo remains"). It GETs each path of LOADTEST_GET_PATHS and counts
any answer other than 200 as a failure. Copy it next to your project and add tasks for your own API.

On the local stack (`make deploy ENV=local` printed the CA file and the port):

    LOADTEST_SITE_NAME=app.soc2kit.test LOADTEST_CA_FILE=.cache/local/default/site-ca.pem \
    LOADTEST_GET_PATHS=/readyz,/healthz \
    .venv/bin/locust -f loadtest/own_endpoints.py --headless --only-summary \
      --users 10 --spawn-rate 5 --run-time 30s --host https://127.0.0.1:8443

TCP goes to the address in --host; TLS (SNI, certificate check against LOADTEST_CA_FILE only) and the Host
header use LOADTEST_SITE_NAME. Against a public site, leave both variables out and pass
--host https://your.site: the system's CAs are used.
"""

from __future__ import annotations

import os

from locust import HttpUser, constant, task

# locust puts this file's folder on sys.path while it imports the file: the kit's loopback transport.
from transport import LoopbackSiteAdapter

GET_PATHS = [p.strip() for p in os.environ.get("LOADTEST_GET_PATHS", "/readyz").split(",") if p.strip()]


class OwnEndpointsUser(HttpUser):
    wait_time = constant(float(os.environ.get("LOADTEST_WAIT_SECONDS", "0")))

    def on_start(self) -> None:
        site_name = os.environ.get("LOADTEST_SITE_NAME", "")
        self.client.trust_env = False  # no proxy variables: the address in --host only
        if site_name:
            self.client.headers["Host"] = site_name
            self.client.mount("https://", LoopbackSiteAdapter(site_name, os.environ["LOADTEST_CA_FILE"]))

    @task
    def get_each_path(self) -> None:
        for path in GET_PATHS:
            with self.client.get(path, name=f"GET {path}", catch_response=True) as response:
                if response.status_code != 200:
                    response.failure(f"{path} answered {response.status_code}")
