"""Signing works from a thread that already runs an event loop (an async server, Playwright in
the browser tests), where a bare asyncio.run would refuse to start."""

from __future__ import annotations

import asyncio
import io

import pytest
from pypdf import PdfWriter

from signing import pades
from signing.asyncio_bridge import run
from signing.signer import KeySigner


def _pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


async def _answer() -> int:
    return 42


def test_run_without_and_inside_a_running_loop():
    assert run(_answer) == 42

    async def inside():
        return run(_answer)

    assert asyncio.run(inside()) == 42


def test_run_propagates_the_coroutines_exception():
    async def failing():
        raise ValueError("refused")

    async def inside():
        return run(failing)

    with pytest.raises(ValueError, match="refused"):
        asyncio.run(inside())


def test_sign_pdf_inside_a_running_loop(pki):
    identity = pki.signatory_ec
    signer = KeySigner(identity.key, identity.certificate, identity.chain)

    async def inside():
        return pades.sign_pdf(_pdf(), signer)

    signed = asyncio.run(inside())
    assert pades.is_signed(signed)
