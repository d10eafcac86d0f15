"""JSON text for frames and state documents: orjson where its result is exactly the stdlib's, the stdlib elsewhere.

orjson reads and writes JSON several times faster than the stdlib's json module, but not always the same way
(integers beyond 64 bits, lone surrogates, NaN, ...). These functions use it only where the outcome is the
stdlib's, and hand everything else to the stdlib, so callers keep json's values and errors.
"""

from __future__ import annotations

import json
import json.encoder
from collections.abc import Callable
from typing import Any, Final

import orjson


def fast_loads(text: str) -> Any:
    """orjson's value of `text`, where it is exactly the stdlib's; raises ValueError where it might not be.

    orjson (about twice as fast) refuses what the stdlib decoder reads differently or refuses itself:
    NaN, Infinity, numbers beyond a double (1e999), lone surrogates, nesting past 1,024, invalid JSON.
    The one thing it reads otherwise is an integer beyond 64 bits, which it turns into a float; such a
    literal has at least 19 digits, so a text with 19 digits in a row goes to the stdlib instead
    (bytes.translate marks the digits in well under a microsecond; a regex takes several).
    """
    data = text.encode()  # UnicodeEncodeError for a lone surrogate: the stdlib reads it
    if _NINETEEN_DIGITS in data.translate(_DIGITS_AS_NINES):
        raise ValueError("a long run of digits: possibly an integer beyond 64 bits")
    return orjson.loads(data)  # orjson.JSONDecodeError is a ValueError


_DIGITS_AS_NINES: Final = bytes(0x39 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_NINETEEN_DIGITS: Final = b"9" * 19


def compact_json_encoder(*, ensure_ascii: bool, allow_nan: bool) -> Callable[[Any], str]:
    """`json.dumps(value, separators=(",", ":"), ensure_ascii=..., allow_nan=...)` as one reusable function.

    orjson writes the text (about 8x faster than the stdlib on a TransactionEvent frame); whatever it
    would write differently goes to the stdlib encoder, so the JSON value and every error are
    json.dumps's:

    * integers beyond 64 bits, lone surrogates, non-string keys, nesting beyond orjson's limit:
      orjson refuses them, the stdlib writes them (or raises its own error);
    * NaN and the infinities, with allow_nan=False: orjson writes `null`, so any `null` in its text
      sends the value to the stdlib, which raises;
    * with ensure_ascii, text that is not ASCII.

    Two visible differences: some floats are spelt otherwise (orjson writes `1e-7` where json.dumps
    writes `1e-07`, the same number), and with allow_nan=True NaN and the infinities are written as
    `null` rather than as json.dumps's non-JSON `NaN`/`Infinity` (state documents: they hold nulls, and
    no non-finite number can reach them, as `parse` and the conversions refuse those).
    """
    stdlib = stdlib_compact_encoder(ensure_ascii=ensure_ascii, allow_nan=allow_nan)
    dumps = orjson.dumps

    def encode(value: Any) -> str:
        try:
            data = dumps(value)
        except TypeError:  # orjson.JSONEncodeError is a TypeError
            return stdlib(value)
        if not allow_nan and b"null" in data:
            return stdlib(value)
        text = data.decode()
        if ensure_ascii and not text.isascii():
            return stdlib(value)
        return text

    return encode


def stdlib_compact_encoder(*, ensure_ascii: bool, allow_nan: bool) -> Callable[[Any], str]:
    # json.dumps builds a JSONEncoder and a C encoder for every call and tracks every container for
    # cycles; here both are built once, and the cycle check is off (it costs ~20% of the encoding):
    # what is encoded are JSON documents, which cannot be cyclic. Same text, same errors otherwise.
    encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=ensure_ascii, allow_nan=allow_nan,
                               check_circular=False)
    make_c_encoder = getattr(json.encoder, "c_make_encoder", None)
    if make_c_encoder is None:  # no C accelerator: the stdlib's own path
        return encoder.encode
    strings = json.encoder.encode_basestring_ascii if ensure_ascii else json.encoder.encode_basestring
    # The arguments JSONEncoder.iterencode passes for a one-shot encode without indent.
    chunks = make_c_encoder(None, encoder.default, strings, None, ":", ",", False, False, allow_nan)
    join = "".join

    def encode(value: Any) -> str:
        return join(chunks(value, 0))

    return encode
