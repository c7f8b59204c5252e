#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/<target>/: a few valid inputs in the
layout each reader expects and a few malformed ones. Standard library only; the output
is deterministic (gzip without a timestamp), so rerunning it changes nothing."""
import gzip
import json
import os
import struct
import sys
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(target, name, data):
    folder = os.path.join(ROOT, target)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def gz(data):
    return gzip.compress(data, mtime=0)


def idx(type_code, dims, payload):
    return bytes([0, 0, type_code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload


def idx_corpus():
    labels = idx(0x08, [5], bytes([0, 1, 2, 3, 9]))
    images = idx(0x08, [2, 4, 4], bytes(range(32)))
    for target in ("idx", "idx_gzip"):
        write(target, "labels", labels)
        write(target, "images", images)
        write(target, "truncated-payload", idx(0x08, [2, 28, 28], bytes(10)))
    write("idx", "images-gzip", gz(images))
    write("idx", "labels-gzip-cut", gz(labels)[:-6])
    write("idx", "huge-header", idx(0x08, [1 << 16, 1 << 16, 1 << 8], b""))
    write("idx", "float32", idx(0x0D, [2], struct.pack(">ff", 0.5, 1.5)))
    write("idx", "trailing-garbage", labels + b"xyz")
    write("idx", "bad-magic", b"\x01\x02\x08\x01" + bytes(8))


def cifar_corpus():
    record = lambda label, seed: bytes([label]) + bytes((seed + 7 * i) % 256 for i in range(3072))
    two = record(3, 1) + record(9, 2)
    write("cifar10", "one-record", record(0, 0))
    write("cifar10", "two-records", two)
    write("cifar10", "two-records-gzip", gz(two))
    write("cifar10", "label-10", record(10, 3))
    write("cifar10", "truncated", record(1, 4)[:100])
    write("cifar10", "empty", b"")


def mnist_json_corpus():
    values = ",".join(["0", "0.004", "0.5", "1"] * 196)
    write("mnist_json", "one-digit", '{"data":[' + values + "]}")
    write("mnist_json", "empty-data", '{"data": []}')
    write("mnist_json", "extra-member", '{"name": "x\\u0041\\n", "more": [{"a": null}, true, -1e3], "data": []}')
    write("mnist_json", "out-of-range", '{"data": [0.5, 1.5]}')
    write("mnist_json", "partial-digit", '{"data": [' + ",".join(["0.25"] * 783) + "]}")
    write("mnist_json", "no-data", '{"date": [0]}')


def checkpoint_file(metadata, tensors):
    def string(s):
        b = s.encode()
        return struct.pack("<I", len(b)) + b

    payload = struct.pack("<Q", len(metadata))
    for key, value in sorted(metadata.items()):
        payload += string(key) + string(value)
    payload += struct.pack("<Q", len(tensors))
    for name, code, dims, data in tensors:
        payload += string(name) + bytes([code, len(dims)]) + b"".join(struct.pack("<q", d) for d in dims)
        payload += struct.pack("<Q", len(data)) + data
    return b"R2G2CKPT" + struct.pack("<IIQ", 1, zlib.crc32(payload), len(payload)) + payload


def checkpoint_corpus():
    floats = struct.pack("<4f", 1, 2, 3, 4)
    valid = checkpoint_file({"step": "3", "seed": "18446744073709551615"},
                            [("w", 0, [2, 2], floats), ("d", 1, [1], struct.pack("<d", 0.5)),
                             ("i", 2, [0, 3], b"")])
    write("checkpoint", "valid", valid)
    write("checkpoint", "empty", checkpoint_file({}, []))
    bad_crc = bytearray(valid)
    bad_crc[12] ^= 0xFF
    write("checkpoint", "bad-checksum", bytes(bad_crc))
    write("checkpoint", "truncated", valid[:40])
    write("checkpoint", "bad-dtype", checkpoint_file({}, [("w", 7, [1], floats[:4])]))
    write("checkpoint", "bad-magic", b"NOTACKPT" + valid[8:])


def safetensors_file(metadata, tensors):
    """tensors: (name, dtype, shape, raw bytes); metadata gets module/format and the CRC."""
    data = b"".join(t[3] for t in tensors)
    meta = dict(metadata)
    meta.setdefault("module/format", "1")
    meta.setdefault("module/data_crc32", "%08x" % zlib.crc32(data))
    header = {"__metadata__": dict(sorted(meta.items()))}
    offset = 0
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def safetensors_corpus():
    f32 = lambda *v: struct.pack("<%df" % len(v), *v)
    params = [("param/bias", "F32", [2], f32(0.1, 0.2)), ("param/weight", "F32", [2, 2], f32(1, 2, 3, 4))]
    adam = [("optimizer/m/bias", "F32", [2], f32(0, 0)), ("optimizer/m/weight", "F32", [2, 2], f32(0, 0, 0, 0)),
            ("optimizer/v/bias", "F32", [2], f32(0, 0)), ("optimizer/v/weight", "F32", [2, 2], f32(0, 0, 0, 0))]
    state = {"optimizer/kind": "adam", "optimizer/steps": "3", "generator/noise/seed": "7",
             "generator/noise/offset": "128", "user/step": "3"}
    write("safetensors", "module-adam-generator", safetensors_file(state, params + adam))
    write("safetensors", "module-only", safetensors_file({}, params))
    write("safetensors", "sgd-state", safetensors_file({"optimizer/kind": "sgd", "optimizer/steps": "1"}, params))
    write("safetensors", "wrong-shape", safetensors_file({}, [("param/bias", "F32", [3], f32(1, 2, 3))] + params[1:]))
    write("safetensors", "f16", safetensors_file({}, [("param/bias", "F16", [2], b"\0\0\0\0")]))
    write("safetensors", "not-json", struct.pack("<Q", 8) + b"{\"a\":[1,")
    write("safetensors", "r2g2-checkpoint", checkpoint_file({}, []))


def schedule_corpus():
    for i, spec in enumerate(["r2g2:2000,rt", "rt", "lrt:1, flipout:2, score", "r2g2-paper:5,r2g2-shared:7,rt-per-example",
                              "r2g2:0,rt", "foo:3,rt", "", " , ", "r2g2:99999999999999999999,rt", "rt:x"]):
        write("estimator_schedule", "spec-%d" % i, spec)


def cli_corpus():
    for i, words in enumerate([["--steps", "100", "--lr=0.01", "--list", "model.safetensors"],
                               ["--sizes", "1024,1024", "--estimators=rt,,r2g2", "--no-eval"],
                               ["--hidden"], ["--bogus", "1"], ["--steps=1e400", "--lr", "nan", "--hidden", "-3"],
                               ["--list=1", "--sizes=0,-1", "--device", ""]]):
        write("cli_args", "words-%d" % i, "\n".join(words))


def main():
    idx_corpus()
    cifar_corpus()
    mnist_json_corpus()
    checkpoint_corpus()
    safetensors_corpus()
    schedule_corpus()
    cli_corpus()
    return 0


if __name__ == "__main__":
    sys.exit(main())
