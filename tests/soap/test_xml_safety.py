"""Hostile or broken SOAP bodies are refused with a Sender/ProtocolError fault, and decompression is bounded."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.soap import codec
from gateway.soap.xml_safe import DEFAULT_LIMITS, XmlLimits, decompress, parse

DATA = Path(__file__).resolve().parents[1] / "data" / "soap"


def _data(name: str) -> bytes:
    return (DATA / name).read_bytes()


def _refused(body: bytes, limits: XmlLimits = DEFAULT_LIMITS) -> codec.SoapFault:
    with pytest.raises(codec.SoapFault) as info:
        codec.decode_request(body, content_type=None, soap_action=None, limits=limits)
    assert (info.value.code, info.value.subcode) == ("Sender", "ProtocolError")
    return info.value


def test_the_valid_base_request_decodes() -> None:
    """The captured request the hostile variants start from is itself accepted."""
    request = codec.decode_request(_data("boot16_request.xml"), content_type=None, soap_action=None)
    assert request.payload["chargePointModel"] == "EX-22"


def test_external_entity_never_reads_the_file(tmp_path: Path) -> None:
    """XXE: an entity naming a local file is refused, and the file's content appears nowhere."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-4711", encoding="utf-8")
    body = _data("xxe_request.xml").replace(b"SECRET_PATH", str(secret).encode())
    fault = _refused(body)
    assert "DOCTYPE" in str(fault)
    assert "TOP-SECRET" not in repr(fault.args) and "TOP-SECRET" not in codec.encode_fault(
        None, fault, relates_to=None, message_id="urn:uuid:f"
    ).decode("utf-8")


def test_billion_laughs_is_refused() -> None:
    """Nested entity definitions (billion laughs) are refused before anything expands."""
    assert "DOCTYPE" in str(_refused(_data("billion_laughs_request.xml")))


def test_external_dtd_is_refused() -> None:
    """A DOCTYPE naming an external DTD on the network is refused (and never fetched: no_network)."""
    assert "DOCTYPE" in str(_refused(_data("external_dtd_request.xml")))


def test_doctype_alone_is_refused() -> None:
    """A DOCTYPE without any entity is refused too: SOAP 1.2 forbids DTDs in envelopes."""
    body = _data("boot16_request.xml").replace(b"<s:Envelope", b"<!DOCTYPE s:Envelope>\n<s:Envelope", 1)
    assert "DOCTYPE" in str(_refused(body))


def test_doctype_in_utf16_is_refused() -> None:
    """A DOCTYPE the byte scan cannot see (UTF-16) is still refused after parsing."""
    text = _data("boot16_request.xml").decode("utf-8").replace('encoding="UTF-8"', 'encoding="UTF-16"')
    text = text.replace("<s:Envelope", "<!DOCTYPE s:Envelope>\n<s:Envelope", 1)
    assert "DOCTYPE" in str(_refused(text.encode("utf-16")))


def test_oversize_body_is_refused() -> None:
    """A body larger than max_bytes is refused without parsing."""
    body = _data("boot16_request.xml")
    assert "exceeds" in str(_refused(body, XmlLimits(max_bytes=len(body) - 1)))


def test_deep_nesting_is_refused() -> None:
    """Elements nested deeper than max_depth are refused."""
    deep = b"<cs:x>" * 70 + b"</cs:x>" * 70
    body = _data("boot16_request.xml").replace(b"<cs:firmwareVersion>1.0.3</cs:firmwareVersion>", deep)
    assert "deeper than 64" in str(_refused(body))


def test_nesting_within_the_limit_reaches_the_payload_check() -> None:
    """With a higher depth limit the same document parses, and the payload check refuses it instead."""
    deep = b"<cs:x>" * 70 + b"</cs:x>" * 70
    body = _data("boot16_request.xml").replace(b"<cs:firmwareVersion>1.0.3</cs:firmwareVersion>", deep)
    assert "unexpected element x" in str(_refused(body, XmlLimits(max_depth=100)))


@pytest.mark.parametrize("width", [1, 3])
def test_nesting_exactly_at_the_limit_parses_and_one_level_more_is_refused(width: int) -> None:
    """The root is level 1: max_depth levels parse, max_depth + 1 do not, however many siblings each level has."""
    def nested(depth: int) -> bytes:
        return b"<a>" + (b"<b/>" * (width - 1) + nested(depth - 1) if depth > 1 else b"") + b"</a>"

    assert parse(nested(5), XmlLimits(max_depth=5)).tag == "a"
    with pytest.raises(codec.SoapFault, match="deeper than 5 levels"):
        parse(nested(6), XmlLimits(max_depth=5))


def test_soap11_envelope_is_refused() -> None:
    """A SOAP 1.1 envelope is refused with a reason naming SOAP 1.2."""
    assert "SOAP 1.1" in str(_refused(_data("soap11_boot_request.xml")))


def test_wrong_body_namespace_is_refused() -> None:
    """A payload in a namespace that is not OCPP 1.5/1.6 (here without the trailing slash) is refused."""
    body = _data("boot16_request.xml").replace(
        b'xmlns:cs="urn://Ocpp/Cs/2015/10/"', b'xmlns:cs="urn://Ocpp/Cs/2015/10"'
    )
    assert "namespace" in str(_refused(body))


def test_missing_identity_is_refused() -> None:
    """A request without chargeBoxIdentity is refused, and the fault relates to its MessageID."""
    body = _data("boot16_request.xml").replace(
        b'<cs:chargeBoxIdentity s:mustUnderstand="true">CB-0001</cs:chargeBoxIdentity>', b""
    )
    fault = _refused(body)
    assert "chargeBoxIdentity" in str(fault)
    assert fault.relates_to == "urn:uuid:6f1c2a0e-0000-4000-8000-000000000001"


def test_non_xml_is_refused() -> None:
    """A body that is not XML at all is refused with the position of the problem."""
    assert "not well-formed XML" in str(_refused(b'{"not": "xml"}'))


@pytest.mark.parametrize("body", [b"", b"  \r\n "], ids=["empty", "blank"])
def test_empty_body_is_refused(body: bytes) -> None:
    """An empty or blank body is refused."""
    assert "empty body" in str(_refused(body))


def test_comments_and_processing_instructions_are_harmless() -> None:
    """A comment inside a value and a PI between elements change nothing: the value is read whole."""
    body = _data("boot16_request.xml").replace(b"EX-22", b"EX<!-- hidden -->-22<?pi data?>")
    request = codec.decode_request(body, content_type=None, soap_action=None)
    assert request.payload["chargePointModel"] == "EX-22"


def test_parse_returns_the_root_of_a_safe_document() -> None:
    """parse() on its own accepts an ordinary document."""
    assert parse(b"<a><b/></a>").tag == "a"


# ---- decompression ------------------------------------------------------------------------------

BODY = _data("boot16_request.xml")


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, as some senders emit it
        ("identity", lambda data: data),
        (None, lambda data: data),
    ],
    ids=["gzip", "x-gzip", "deflate-zlib", "deflate-raw", "identity", "none"],
)
def test_decompress_accepts_gzip_and_deflate(encoding: str | None, compress: Callable[[bytes], bytes]) -> None:
    """gzip (OCPP-S 6.1), zlib-wrapped and raw deflate, and identity all give back the body."""
    assert decompress(compress(BODY), encoding, 1_000_000) == BODY


def test_decompress_accepts_stacked_codings() -> None:
    """Content-Encoding "deflate, gzip" is undone in reverse order."""
    assert decompress(gzip.compress(zlib.compress(BODY)), "deflate, gzip", 1_000_000) == BODY


def test_decompress_accepts_concatenated_gzip_members() -> None:
    """Several gzip members in one body are one stream (RFC 1952)."""
    half = len(BODY) // 2
    assert decompress(gzip.compress(BODY[:half]) + gzip.compress(BODY[half:]), "gzip", 1_000_000) == BODY


def _gzip_bomb(megabytes: int) -> bytes:
    """About 1 kB of gzip per MB of zeros, built without holding the zeros in memory."""
    stream = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    chunk = b"\0" * (1024 * 1024)
    return b"".join([*(stream.compress(chunk) for _ in range(megabytes)), stream.flush()])


def test_gzip_bomb_is_refused() -> None:
    """Some 100 kB that inflate to 100 MB are refused once the output passes max_bytes."""
    bomb = _gzip_bomb(100)
    assert len(bomb) < 200_000
    with pytest.raises(codec.SoapFault, match="exceeds 1048576 bytes"):
        decompress(bomb, "gzip", 1_048_576)


def test_deflate_bomb_is_refused() -> None:
    """The same bound holds for deflate."""
    bomb = zlib.compress(b"A" * (16 * 1024 * 1024), 9)
    with pytest.raises(codec.SoapFault, match="exceeds"):
        decompress(bomb, "deflate", 1_000_000)


def test_plain_body_over_the_limit_is_refused() -> None:
    """Without a coding the body itself must fit."""
    with pytest.raises(codec.SoapFault, match="exceeds"):
        decompress(BODY, None, 10)


@pytest.mark.parametrize("encoding", ["br", "compress", "zstd"])
def test_unknown_encoding_is_refused(encoding: str) -> None:
    """Codings other than gzip and deflate are refused by name."""
    with pytest.raises(codec.SoapFault, match="unsupported Content-Encoding"):
        decompress(BODY, encoding, 1_000_000)


def test_corrupt_gzip_is_refused() -> None:
    """Data that is not gzip under Content-Encoding gzip is refused."""
    with pytest.raises(codec.SoapFault, match="not valid gzip"):
        decompress(BODY, "gzip", 1_000_000)


def test_truncated_gzip_is_refused() -> None:
    """A gzip stream cut short is refused rather than half-used."""
    with pytest.raises(codec.SoapFault, match="truncated"):
        decompress(gzip.compress(BODY)[:-12], "gzip", 1_000_000)


def test_data_after_deflate_stream_is_refused() -> None:
    """Trailing bytes after a deflate stream are refused."""
    with pytest.raises(codec.SoapFault, match="after the end"):
        decompress(zlib.compress(BODY) + b"junk", "deflate", 1_000_000)
