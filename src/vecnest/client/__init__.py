"""The HTTP client (extra ``client``): a vecnest server used like an embedded store.

:class:`Client` mirrors :class:`vecnest.Database`, :class:`RemoteCollection` mirrors
:class:`vecnest.Collection`; :mod:`vecnest.client.wire` is the JSON format both edges share.
"""

from __future__ import annotations

from vecnest.client.http import Client, RemoteCollection

__all__ = ["Client", "RemoteCollection"]
