"""Causal-map and instruction data: the data models, the edge serialisation, file formats, splits and statistics."""

from fcmatch.data.causal_map import (
    NEGATIVE,
    POSITIVE,
    CausalMap,
    Edge,
    SignError,
    clean_concept,
    normalize_concept,
    parse_sign,
    sign_symbol,
)
from fcmatch.data.formats import FormatError, read_maps, write_maps
from fcmatch.data.instructions import Instruction, read_instructions, write_instructions
from fcmatch.data.serialize import ParseError, ParseResult, format_edges, parse_edges, parse_lenient

__all__ = [
    "NEGATIVE",
    "POSITIVE",
    "CausalMap",
    "Edge",
    "FormatError",
    "Instruction",
    "ParseError",
    "ParseResult",
    "SignError",
    "clean_concept",
    "format_edges",
    "normalize_concept",
    "parse_edges",
    "parse_lenient",
    "parse_sign",
    "read_instructions",
    "read_maps",
    "sign_symbol",
    "write_instructions",
    "write_maps",
]
