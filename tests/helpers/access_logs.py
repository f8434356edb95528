"""Literal gateway access-log lines (the format of stack/nginx/nginx.conf.tmpl) for the tests of runbook 6.1's
access-log reader and the security scenarios' checks: a legitimate search, the injection kinds (tautology,
UNION, letters percent-encoded, stacked query), logins refused (401) and rate-limited (429), a denied request
(403), a bulk catalogue page and an ordinary browse."""

from __future__ import annotations

LEGIT = ('127.0.0.1 - - [2026-11-28T16:05:12+00:00] "GET /api/v1/search?q=Classic HTTP/1.1" 200 43 rt=0.010 '
         'urt=0.009 upstream=127.0.0.1:21815 "-" "python-requests" rid=5cbd')
TAUTOLOGY = ('127.0.0.66 - - [2026-11-28T16:05:12+00:00] "GET /api/v1/search?q=%27+OR+1%3D1-- HTTP/1.1" 200 43 '
             'rt=0.010 urt=0.009 upstream=127.0.0.1:21815 "-" "python-httpx/0.28.1" rid=5cbd')
UNION = ('127.0.0.66 - - [2026-11-28T16:05:12+00:00] "GET /api/v1/search?q=x%27+UNION+SELECT+id%2C+email+FROM+users-- '
         'HTTP/1.1" 200 92 rt=0.008 urt=0.009 upstream=127.0.0.1:21815 "-" "python-httpx/0.28.1" rid=ef38')
ENCODED_LETTERS = ('127.0.0.66 - - [2026-11-28T16:05:12+00:00] "GET /api/v1/search?q=1%27%20%55NION%20%53ELECT%20'
                   'email%20FROM%20users-- HTTP/1.1" 200 40 rt=0.008 urt=0.009 upstream=127.0.0.1:21815 "-" "-" rid=1')
STACKED = ('127.0.0.66 - - [2026-11-28T16:05:12+00:00] "GET /api/v1/products?category=%27%3B+DROP+TABLE+products%3B-- '
           'HTTP/1.1" 200 34 rt=0.003 urt=0.003 upstream=127.0.0.1:21810 "-" "python-httpx/0.28.1" rid=5e04')
LOGIN_401 = ('127.0.0.66 - - [2026-11-28T16:05:13+00:00] "POST /api/v1/auth/login HTTP/1.1" 401 61 rt=0.027 '
             'urt=0.027 upstream=127.0.0.1:21812 "-" "python-httpx/0.28.1" rid=612d')
LOGIN_429 = ('127.0.0.66 - - [2026-11-28T16:05:13+00:00] "POST /api/v1/auth/login HTTP/1.1" 429 54 rt=0.000 '
             'urt=- upstream=- "-" "python-httpx/0.28.1" rid=7029')
DENIED = ('127.0.0.66 - - [2026-11-28T16:05:14+00:00] "GET /api/v1/products?limit=100&offset=300 HTTP/1.1" 403 47 '
          'rt=0.000 urt=- upstream=- "-" "python-httpx/0.28.1" rid=a1')
BULK = ('127.0.0.66 - - [2026-11-28T16:05:14+00:00] "GET /api/v1/products?limit=100&offset=200 HTTP/1.1" 200 9000 '
        'rt=0.004 urt=0.004 upstream=127.0.0.1:21810 "-" "python-httpx/0.28.1" rid=a2')
BROWSE = ('127.0.0.1 - - [2026-11-28T16:05:14+00:00] "GET /api/v1/products?limit=20&offset=1200 HTTP/1.1" 200 1900 '
          'rt=0.004 urt=0.004 upstream=127.0.0.1:21810 "-" "python-requests" rid=a3')
