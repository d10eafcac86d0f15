"""Parse untrusted XML safely, and undo HTTP Content-Encoding with a hard output limit.

Every SOAP body comes from the network, so the parser refuses what XML attacks need: DTDs (and so
entity expansion: XXE, billion laughs), network access, huge text nodes, oversized bodies and deep
nesting. Comments and processing instructions are dropped while parsing, so they cannot split or
smuggle values. Decompression stops as soon as the output passes the limit (gzip bombs).
"""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass
from typing import Any, Final

from lxml import etree

from gateway.soap.faults import SoapFault


@dataclass(frozen=True, slots=True)
class XmlLimits:
    """Bounds for one XML body.

    Attributes:
        max_bytes: the largest body accepted, after decompression.
        max_depth: the deepest element nesting accepted (the Envelope is depth 1; OCPP needs about 8).
    """

    max_bytes: int = 1_048_576
    max_depth: int = 64


DEFAULT_LIMITS: Final = XmlLimits()
_DOCTYPE: Final = b"<!DOCTYPE"


def _parser() -> etree.XMLParser:
    # A parser per call: lxml parsers are not shareable between threads, and building one is cheap.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )


def parse(body: bytes, limits: XmlLimits = DEFAULT_LIMITS) -> etree._Element:
    """Parse an XML document from untrusted bytes.

    Args:
        body: the whole document (already decompressed).
        limits: size and depth bounds.

    Returns:
        The root element.

    Raises:
        SoapFault: Sender/ProtocolError when the body is empty, too big, not well-formed XML, has a
            DOCTYPE, or nests deeper than allowed.
    """
    if not body.strip():
        raise SoapFault("empty body: a SOAP 1.2 envelope is required")
    if len(body) > limits.max_bytes:
        raise SoapFault(f"body exceeds {limits.max_bytes} bytes")
    # Refused before parsing when visible in an ASCII-compatible encoding; the docinfo check below
    # catches a DOCTYPE in any other encoding (entities are never expanded either way).
    if _DOCTYPE in body:
        raise SoapFault("DOCTYPE is not allowed in SOAP messages")
    try:
        root = etree.fromstring(body, _parser())
    except etree.XMLSyntaxError as exc:
        line, column = exc.position
        raise SoapFault(f"body is not well-formed XML (line {line}, column {column})") from None
    docinfo: Any = root.getroottree().docinfo  # lxml-stubs lack DocInfo.doctype
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise SoapFault("DOCTYPE is not allowed in SOAP messages")
    _check_depth(root, limits.max_depth)
    return root


@functools.cache
def _deeper_than(max_depth: int) -> etree.XPath:
    # True exactly when an element sits at depth max_depth + 1 (the root is depth 1). libxml2 walks the
    # levels in C: ~2 us per envelope against ~30 us for a Python loop over every element. Compiled once
    # per limit; lxml serializes evaluations of one XPath object, so sharing it between threads is safe.
    return etree.XPath("boolean(" + "/*" * (max_depth + 1) + ")")


def _check_depth(root: etree._Element, max_depth: int) -> None:
    if _deeper_than(max_depth)(root):
        raise SoapFault(f"XML nesting deeper than {max_depth} levels")


def decompress(body: bytes, content_encoding: str | None, max_bytes: int) -> bytes:
    """Undo an HTTP Content-Encoding (OCPP-S 1.6 section 6.1: gzip and deflate must be accepted).

    Args:
        body: the body as received.
        content_encoding: the Content-Encoding header (None, identity, gzip, x-gzip, deflate, or a
            comma-separated list of them, applied in the order listed).
        max_bytes: the largest decoded body accepted; decoding stops once it is passed.

    Returns:
        The decoded body.

    Raises:
        SoapFault: Sender/ProtocolError for an unknown coding, corrupt or truncated data, or output
            past `max_bytes`.
    """
    codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
    data = body
    for coding in reversed(codings):
        if coding == "identity":
            continue
        if coding in ("gzip", "x-gzip"):
            data = _inflate(data, zlib.MAX_WBITS | 16, max_bytes, coding, members=True)
        elif coding == "deflate":
            # RFC 9110 deflate is zlib-wrapped, but many senders emit raw deflate: accept both.
            wbits = zlib.MAX_WBITS if _has_zlib_header(data) else -zlib.MAX_WBITS
            data = _inflate(data, wbits, max_bytes, coding, members=False)
        else:
            raise SoapFault(f"unsupported Content-Encoding {coding[:40]!r} (gzip and deflate are)")
    if len(data) > max_bytes:
        raise SoapFault(f"body exceeds {max_bytes} bytes")
    return data


def _has_zlib_header(data: bytes) -> bool:
    """RFC 1950: method 8 (deflate) in the low nibble of CMF, and CMF*256+FLG a multiple of 31."""
    return len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0


def _inflate(data: bytes, wbits: int, max_bytes: int, coding: str, *, members: bool) -> bytes:
    """Decompress one stream (or, with `members`, concatenated gzip members) producing at most max_bytes."""
    out = bytearray()
    rest = data
    while True:
        stream = zlib.decompressobj(wbits)
        try:
            # max_length bounds the output produced by this call, whatever the input's ratio.
            out += stream.decompress(rest, max_bytes + 1 - len(out))
        except zlib.error:
            raise SoapFault(f"body is not valid {coding} data") from None
        if len(out) > max_bytes:
            raise SoapFault(f"decompressed body exceeds {max_bytes} bytes")
        if not stream.eof:
            raise SoapFault(f"{coding} data is truncated")
        rest = stream.unused_data
        if not rest:
            return bytes(out)
        if not members:
            raise SoapFault(f"data after the end of the {coding} stream")
