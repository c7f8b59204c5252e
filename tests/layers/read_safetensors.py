#!/usr/bin/env python3
"""An independent reader for the safetensors files save_module writes.

Uses the Python standard library only (struct, json, zlib), none of r2g2's code, so a
test that compares what it prints with what was saved checks the file against the format
itself, not against r2g2's own reader.

    read_safetensors.py FILE

prints one line per metadata entry and per tensor, in the file's order:

    metadata <key> <value as a JSON string literal, ASCII only>
    tensor <name> <dtype> [<d0>,<d1>,...] <value> <value> ...

values as Python's repr (the shortest text that reads back as the same double). It exits
with status 1 and an "error:" line when the file breaks the format: the header length,
JSON, metadata that is not all strings, a repeated key, an unknown dtype, a shape that
disagrees with its data_offsets, data that does not tile the data section, header
padding other than spaces to a multiple of 8, or a "module/data_crc32" entry that does
not match the data.
"""
import json
import struct
import sys
import zlib

ELEMENT_FORMATS = {"F32": ("<f", 4), "F64": ("<d", 8), "I32": ("<i", 4)}


class FormatError(Exception):
    pass


def reject_repeated_keys(pairs):
    keys = [key for key, _ in pairs]
    for key in keys:
        if keys.count(key) > 1:
            raise FormatError("the key %r appears twice in one object" % key)
    return dict(pairs)


def read(path):
    with open(path, "rb") as f:
        contents = f.read()
    if len(contents) < 8:
        raise FormatError("%d bytes, shorter than the 8-byte header length" % len(contents))
    (header_bytes,) = struct.unpack("<Q", contents[:8])
    if 8 + header_bytes > len(contents):
        raise FormatError("the header length %d goes beyond the file" % header_bytes)
    if header_bytes % 8 != 0:
        raise FormatError("the header length %d is not a multiple of 8" % header_bytes)
    header_text = contents[8:8 + header_bytes].decode("utf-8")
    if header_text.rstrip(" ") != header_text.rstrip():
        raise FormatError("the header is padded with something other than spaces")
    header = json.loads(header_text, object_pairs_hook=reject_repeated_keys)
    data = contents[8 + header_bytes:]

    metadata = header.pop("__metadata__", {})
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise FormatError("metadata %r is not a string" % key)

    tensors = []
    for name, entry in header.items():
        if sorted(entry) != ["data_offsets", "dtype", "shape"]:
            raise FormatError("tensor %r has fields %s" % (name, sorted(entry)))
        if entry["dtype"] not in ELEMENT_FORMATS:
            raise FormatError("tensor %r has unknown dtype %r" % (name, entry["dtype"]))
        element, size = ELEMENT_FORMATS[entry["dtype"]]
        shape = entry["shape"]
        if not all(isinstance(d, int) and d >= 0 for d in shape):
            raise FormatError("tensor %r has shape %r" % (name, shape))
        begin, end = entry["data_offsets"]
        count = 1
        for d in shape:
            count *= d
        if end - begin != count * size:
            raise FormatError("tensor %r: shape %r needs %d bytes, data_offsets span %d"
                              % (name, shape, count * size, end - begin))
        tensors.append((begin, end, name, entry["dtype"], shape, element, size))

    covered = 0
    for begin, end, name, *_ in sorted(tensors):
        if begin != covered:
            raise FormatError("tensor %r starts at %d, the data so far ends at %d" % (name, begin, covered))
        covered = end
    if covered != len(data):
        raise FormatError("the tensors cover %d data bytes, the file holds %d" % (covered, len(data)))

    if "module/data_crc32" in metadata:
        actual = "%08x" % zlib.crc32(data)
        if metadata["module/data_crc32"] != actual:
            raise FormatError("data CRC-32 is %s, the metadata records %s" % (actual, metadata["module/data_crc32"]))

    lines = ["metadata %s %s" % (key, json.dumps(value)) for key, value in metadata.items()]
    for begin, end, name, dtype, shape, element, size in tensors:
        values = [struct.unpack_from(element, data, offset)[0] for offset in range(begin, end, size)]
        lines.append("tensor %s %s [%s] %s" % (name, dtype, ",".join(str(d) for d in shape),
                                               " ".join(repr(v) for v in values)))
    return lines


def main():
    if len(sys.argv) != 2:
        print("usage: read_safetensors.py FILE", file=sys.stderr)
        return 2
    try:
        lines = read(sys.argv[1])
    except (FormatError, ValueError, KeyError, TypeError, struct.error) as e:
        print("error: %s: %s" % (sys.argv[1], e))
        return 1
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
