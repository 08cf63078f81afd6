"""gunicorn settings of the web process (the Procfile's ``web``; the ingest benchmark serves with them too).

gevent workers by default: a request waiting on PostgreSQL, Redis or a vendor costs a
greenlet switch, not a thread hand-off under the GIL, and the receipts of all the
requests in flight share one commit (docs/adr/0006-ingest-path.md). This file must not
import the app: gevent patches the standard library in each worker before the app loads.

    WEB_CONCURRENCY   worker processes (default 2: one per core of a small machine)
    WEB_WORKER_CLASS  gevent (default) or gthread
    WEB_CONNECTIONS   concurrent connections per gevent worker (default 1000)
    WEB_THREADS       threads per gthread worker (default 4)
    PORT              port to listen on (default 8000)
    TRUSTED_PROXY_COUNT  proxies in front (default 0); the app's ProxyFix trusts that many
                      X-Forwarded-For/-Proto hops (connector/web/security.py)
"""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = os.environ.get("WEB_WORKER_CLASS", "gevent")
worker_connections = int(os.environ.get("WEB_CONNECTIONS", "1000"))
threads = int(os.environ.get("WEB_THREADS", "4"))
timeout = 30
# Which peers may set the forwarded scheme headers (X-Forwarded-Proto and kin). Behind trusted
# proxies, any peer: the router's address is not known in advance (Heroku), and the hop count,
# not the peer, is what the app's ProxyFix trusts. With no proxy, no peer, not even 127.0.0.1
# (gunicorn's default), so nothing on the machine can make a plain request look like https.
# https://docs.gunicorn.org/en/stable/settings.html#forwarded-allow-ips
forwarded_allow_ips = "*" if int(os.environ.get("TRUSTED_PROXY_COUNT") or "0") > 0 else ""
# gunicorn ≥ 25.1 opens a management socket at one path per user ($HOME/.gunicorn/gunicorn.ctl),
# which two servers on one machine would fight over; nothing here uses it
control_socket_disable = True
