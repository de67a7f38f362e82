"""A virtual WebAuthn authenticator in Debian's chromium, through the DevTools protocol, so browser
tests can register security keys and confirm signatures without hardware.

Browsers refuse an IP address as the relying party's id: pages that use keys must be opened as
http://localhost:<port> (see `localhost`), which browsers also treat as a secure origin.
"""

from __future__ import annotations

import weakref
from urllib.parse import urlsplit, urlunsplit

from playwright.sync_api import BrowserContext, CDPSession, Page

# The virtual authenticator lives as long as the DevTools session that made it: keep each
# page's session alive with the page.
_SESSIONS: weakref.WeakKeyDictionary[Page, CDPSession] = weakref.WeakKeyDictionary()


def localhost(url: str) -> str:
    """The same address with the host name localhost instead of 127.0.0.1."""
    parts = urlsplit(url)
    return urlunsplit(
        parts._replace(netloc=f"localhost:{parts.port}" if parts.port else "localhost")
    )


def add_virtual_authenticator(context: BrowserContext, page: Page) -> str:
    """A platform authenticator (CTAP2, internal, resident keys, user verification that always
    succeeds, presence simulated) for this page; returns its id for the WebAuthn.* commands."""
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    result = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    _SESSIONS[page] = cdp
    return result["authenticatorId"]


def virtual_credentials(page: Page, authenticator_id: str) -> list[dict]:
    """The credentials the page's virtual authenticator holds (credentialId in base64, signCount
    …), as WebAuthn.getCredentials returns them."""
    result = _SESSIONS[page].send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})
    return result["credentials"]
