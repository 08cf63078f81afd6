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
"""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = os.environ.get("WEB_WORKER_CLASS", "gevent")
worker_connections = int(os.environ.get("WEB_CONNECTIONS", "1000"))
threads = int(os.environ.get("WEB_THREADS", "4"))
timeout = 30
# gunicorn ≥ 25.1 opens a management socket at one path per user ($HOME/.gunicorn/gunicorn.ctl),
# which two servers on one machine would fight over; nothing here uses it
control_socket_disable = True
