"""The address of the client behind our own proxies, for django-axes' lock-outs.

Behind a TLS-terminating proxy every request comes from the proxy's address
(``REMOTE_ADDR``), so a lock-out by user name and address would lock that user name out
for everyone. Each proxy appends the address it received the request from to
``X-Forwarded-For``; a client can write anything to the left of that. So the client is
the ``TRUSTED_PROXY_COUNT``-th address from the right, as written by our outermost proxy
(the rule of Werkzeug's ProxyFix), and never the left-most, which a client chooses.

Used only when ``TRUST_FORWARDED_HEADERS`` says a proxy we run is in front; a header
with fewer addresses than proxies, or one that is not an IP address, leaves
``REMOTE_ADDR``.

django-axes reads this through ``AXES_CLIENT_IP_CALLABLE``: its own ``AXES_IPWARE_*``
settings do nothing unless django-ipware is installed, which it is not.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str | None:
    """The client's IP address: from X-Forwarded-For behind our trusted proxies, else
    ``REMOTE_ADDR``."""
    remote = request.META.get("REMOTE_ADDR")
    proxies = settings.TRUSTED_PROXY_COUNT if settings.TRUST_FORWARDED_HEADERS else 0
    if not proxies:
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    hops = [hop for hop in hops if hop]
    if len(hops) < proxies:
        return remote
    candidate = hops[-proxies]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote
