#!/usr/bin/python3
"""An independent implementation of docs/protocol.md, checked against ours.

Written from docs/protocol.md alone (not from the C++ sources), with
Debian's python3-cryptography (ECDSA P-256, AESCCM) and python3-pycryptodome
(AES.MODE_CCM):

  1. `envelope_vectors make WORK_DIR` writes artifacts made by our C++ server
     code; this script parses and verifies them field by field.
  2. This script makes its own artifacts from scratch (py_*), and
     `envelope_vectors check WORK_DIR` verifies them with our device code
     through the mbedTLS and the OpenSSL crypto ports.

Usage: /usr/bin/python3 envelope_python.py BIN_DIR WORK_DIR
Exit: 0 all passed, 1 a check failed or a library is missing.
"""

import hashlib
import json
import os
import re
import stat
import struct
import subprocess
import sys
import time

# Both libraries are required (tests/CMakeLists.txt checks them at configure
# time): missing here is a failure, not a skip.
MISSING = 1

try:
    from cryptography.exceptions import InvalidSignature, InvalidTag
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
    from cryptography.hazmat.primitives.ciphers.aead import AESCCM
except ImportError as e:
    print(f"FAIL: {sys.executable} cannot import cryptography ({e}); "
          "install Debian's python3-cryptography (make deps)")
    sys.exit(MISSING)

# Debian's python3-pycryptodome installs the package as `Cryptodome`; the
# upstream wheel calls it `Crypto`. Either is pycryptodome (PyCrypto, also
# `Crypto`, has no CCM, hence the MODE_CCM test).
PyAES = None
for _name in ("Cryptodome.Cipher.AES", "Crypto.Cipher.AES"):
    try:
        _mod = __import__(_name, fromlist=["AES"])
        if hasattr(_mod, "MODE_CCM"):
            PyAES = _mod
            break
    except ImportError:
        pass
if PyAES is None:
    print(f"FAIL: {sys.executable} cannot import pycryptodome's AES with MODE_CCM "
          "(Cryptodome.Cipher.AES or Crypto.Cipher.AES); install python3-pycryptodome (make deps)")
    sys.exit(MISSING)


# ---------------------------------------------------------------------------
# docs/protocol.md, as written on the page.

MAGIC = b"OTAM"                 # §2.1 field 1
MANIFEST_VERSION = 1            # field 2
KIND_UPDATE = 1                 # field 3
MAX_MANIFEST = 505              # §2.1, "A manifest is at most ... = 505 bytes"
RECORD_OVERHEAD = 13 + 16       # §3: nonce (13) | tag (16) | ciphertext
CHAIN = 32                      # §3: SHA-256 of the next record
DEFAULT_CHUNK = 4096            # §3
WRAPPED_KEY_SIZE = 61           # field 27
ID_CHARS = re.compile(rb"\A[A-Za-z0-9._-]+\Z")  # fields 8 and 10


class Malformed(Exception):
    pass


def sha256(b):
    return hashlib.sha256(b).digest()


def key_id_of(public_key):
    """§1: first 8 bytes of SHA-256 of 04 || X || Y."""
    point = public_key.public_bytes(serialization.Encoding.X962,
                                    serialization.PublicFormat.UncompressedPoint)
    assert len(point) == 65 and point[0] == 4
    return sha256(point)[:8]


class Reader:
    def __init__(self, buf):
        self.buf = buf
        self.pos = 0

    def take(self, n):
        if self.pos + n > len(self.buf):
            raise Malformed(f"manifest ends at {len(self.buf)} inside a field at {self.pos}")
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def u8(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack("<H", self.take(2))[0]

    def u32(self):
        return struct.unpack("<I", self.take(4))[0]

    def u64(self):
        return struct.unpack("<Q", self.take(8))[0]

    def text(self, name, lo, hi, charset=None):
        n = self.u8()
        if not lo <= n <= hi:
            raise Malformed(f"{name}: length {n} outside {lo}..{hi}")
        b = self.take(n)
        if charset is not None and n and not charset.match(b):
            raise Malformed(f"{name}: characters outside [A-Za-z0-9._-]: {b!r}")
        return b.decode("ascii", "strict")


def record_geometry(payload_size, chunk_size):
    """§3: records 0..n-2 carry chunk + 32 ciphertext bytes, the last the rest.
    Returns (record_count, [ciphertext size of each record], stream_size)."""
    if chunk_size == 0 or payload_size == 0:
        raise Malformed(f"impossible geometry: payload {payload_size}, chunk {chunk_size}")
    n = -(-payload_size // chunk_size)
    sizes = [chunk_size + CHAIN] * (n - 1) + [payload_size - (n - 1) * chunk_size]
    if max(sizes) > 65535:  # CCM with a 13-byte nonce (§3)
        raise Malformed(f"a record of {max(sizes)} bytes exceeds CCM's 65,535")
    stream = sum(RECORD_OVERHEAD + c for c in sizes)
    if stream > 0xFFFFFFFF:
        raise Malformed("stream_size does not fit 4 bytes")
    return n, sizes, stream


def record_nonce(prefix, index, last):
    """§3: nonce_prefix (8) | index (4, big endian) | last (1)."""
    return bytes(prefix) + struct.pack(">I", index) + (b"\x01" if last else b"\x00")


def parse_manifest(buf):
    """§2.1, field by field. Returns (fields dict, signed bytes)."""
    if len(buf) > MAX_MANIFEST:
        raise Malformed(f"{len(buf)} bytes, more than {MAX_MANIFEST}")
    r = Reader(buf)
    f = {}
    f["magic"] = r.take(4)                                   # 1
    if f["magic"] != MAGIC:
        raise Malformed(f"magic {f['magic'].hex()}")
    f["manifest_version"] = r.u8()                           # 2
    if f["manifest_version"] != MANIFEST_VERSION:
        raise Malformed(f"manifest_version {f['manifest_version']}")
    f["kind"] = r.u8()                                       # 3
    if f["kind"] != KIND_UPDATE:
        raise Malformed(f"kind {f['kind']} is not an update manifest")
    f["key_id"] = r.take(8)                                  # 4
    f["security_counter"] = r.u32()                          # 5
    f["device_nonce"] = r.take(16)                           # 6
    f["issued_at"] = r.u64()                                 # 7
    f["product"] = r.text("product", 1, 32, ID_CHARS)        # 8
    f["chip_id"] = r.u16()                                   # 9
    f["device_id"] = r.text("device_id", 1, 64, ID_CHARS)    # 10
    f["from_version"] = r.text("from_version", 0, 32)        # 11 (charset not given)
    f["from_sha256"] = r.take(32)                            # 12
    f["to_version"] = r.text("to_version", 1, 32)            # 13 (charset not given)
    f["to_sha256"] = r.take(32)                              # 14
    f["to_size"] = r.u32()                                   # 15
    f["payload_type"] = r.u8()                               # 16
    if f["payload_type"] not in (0, 1):
        raise Malformed(f"payload_type {f['payload_type']}")
    f["payload_size"] = r.u32()                              # 17
    f["payload_sha256"] = r.take(32)                         # 18
    f["payload_codec"] = r.u8()                              # 19
    f["payload_ram"] = r.u32()                               # 20
    f["encryption"] = r.u8()                                 # 21
    if f["encryption"] not in (0, 1, 2):
        raise Malformed(f"encryption {f['encryption']}")
    f["chunk_size"] = r.u32()                                # 22
    f["record_count"] = r.u32()                              # 23
    f["stream_size"] = r.u32()                               # 24
    f["nonce_prefix"] = r.take(8)                            # 25
    f["first_record_sha256"] = r.take(32)                    # 26
    f["wrapped_key"] = r.take(WRAPPED_KEY_SIZE)              # 27
    signed = buf[:r.pos]
    n = r.u8()                                               # 28
    if not 8 <= n <= 72:
        raise Malformed(f"signature length {n}")
    f["signature"] = r.take(n)
    if r.pos != len(buf):
        raise Malformed(f"{len(buf) - r.pos} bytes after the signature")
    # §2.2 step 1: record_count and stream_size follow from the sizes.
    count, _, stream = record_geometry(f["payload_size"], f["chunk_size"])
    if (f["record_count"], f["stream_size"]) != (count, stream):
        raise Malformed(f"record_count/stream_size {f['record_count']}/{f['stream_size']}, "
                        f"geometry says {count}/{stream}")
    if f["encryption"] != 1 and any(f["wrapped_key"]):
        raise Malformed("wrapped_key is not zeros without encryption 1")
    return f, signed


def write_signed_part(f):
    """§2.1 fields 1..27 from a dict."""
    def text(s):
        b = s.encode("ascii")
        return bytes([len(b)]) + b

    out = bytearray()
    out += MAGIC
    out += bytes([MANIFEST_VERSION, KIND_UPDATE])
    out += f["key_id"]
    out += struct.pack("<I", f["security_counter"])
    out += f["device_nonce"]
    out += struct.pack("<Q", f["issued_at"])
    out += text(f["product"])
    out += struct.pack("<H", f["chip_id"])
    out += text(f["device_id"])
    out += text(f["from_version"])
    out += f["from_sha256"]
    out += text(f["to_version"])
    out += f["to_sha256"]
    out += struct.pack("<I", f["to_size"])
    out += bytes([f["payload_type"]])
    out += struct.pack("<I", f["payload_size"])
    out += f["payload_sha256"]
    out += bytes([f["payload_codec"]])
    out += struct.pack("<I", f["payload_ram"])
    out += bytes([f["encryption"]])
    out += struct.pack("<III", f["chunk_size"], f["record_count"], f["stream_size"])
    out += f["nonce_prefix"]
    out += f["first_record_sha256"]
    out += f["wrapped_key"]
    assert len(f["wrapped_key"]) == WRAPPED_KEY_SIZE
    return bytes(out)


def verify_manifest_signature(public_key, signed, signature):
    # ec.ECDSA(SHA256()) hashes the message itself: SHA-256 of fields 1..27.
    public_key.verify(signature, signed, ec.ECDSA(hashes.SHA256()))


def ccm_decrypt_pycryptodome(key, nonce, tag, ciphertext):
    c = PyAES.new(key, PyAES.MODE_CCM, nonce=nonce, mac_len=16)
    return c.decrypt_and_verify(ciphertext, tag)  # ValueError on a bad tag


def ccm_encrypt_pycryptodome(key, nonce, plaintext):
    c = PyAES.new(key, PyAES.MODE_CCM, nonce=nonce, mac_len=16)
    ct, tag = c.encrypt_and_digest(plaintext)
    return tag, ct


def ccm_decrypt_cryptography(key, nonce, tag, ciphertext):
    return AESCCM(key, tag_length=16).decrypt(nonce, ciphertext + tag, None)


def ccm_encrypt_cryptography(key, nonce, plaintext):
    sealed = AESCCM(key, tag_length=16).encrypt(nonce, plaintext, None)
    return sealed[-16:], sealed[:-16]  # tag, ciphertext


def open_stream(stream, f, key):
    """§3 as a device does it, with pycryptodome: chain digest, nonce, tag."""
    count, sizes, total = record_geometry(f["payload_size"], f["chunk_size"])
    if len(stream) != total or total != f["stream_size"]:
        raise Malformed(f"stream is {len(stream)} bytes, manifest says {f['stream_size']}")
    expected = f["first_record_sha256"]
    out = bytearray()
    pos = 0
    for i, c in enumerate(sizes):
        rec = stream[pos:pos + RECORD_OVERHEAD + c]
        pos += len(rec)
        if sha256(rec) != expected:
            raise Malformed(f"record {i}: record chain broken")
        last = i == count - 1
        if rec[:13] != record_nonce(f["nonce_prefix"], i, last):
            raise Malformed(f"record {i}: record out of order (nonce {rec[:13].hex()})")
        try:
            pt = ccm_decrypt_pycryptodome(key, rec[:13], rec[13:29], rec[29:])
        except ValueError:
            raise Malformed(f"record {i}: record authentication failed")
        if last:
            out += pt
        else:
            out += pt[:-CHAIN]
            expected = pt[-CHAIN:]
    if len(out) != f["payload_size"] or sha256(out) != f["payload_sha256"]:
        raise Malformed("payload digest differs from the manifest")
    return bytes(out)


def seal_stream(payload, key, chunk, prefix):
    """§3, built last to first with pycryptodome. Returns (stream, first digest)."""
    count, sizes, total = record_geometry(len(payload), chunk)
    records = [None] * count
    nxt = b""
    for i in reversed(range(count)):
        last = i == count - 1
        pt = payload[i * chunk:(i + 1) * chunk] + (b"" if last else nxt)
        assert len(pt) == sizes[i]
        nonce = record_nonce(prefix, i, last)
        tag, ct = ccm_encrypt_pycryptodome(key, nonce, pt)
        records[i] = nonce + tag + ct
        nxt = sha256(records[i])
    stream = b"".join(records)
    assert len(stream) == total
    return stream, sha256(records[0])


# ---------------------------------------------------------------------------
# The test harness.

class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, what, detail=""):
        if ok:
            self.passed += 1
            print(f"PASS  {what}")
        else:
            self.failed += 1
            print(f"FAIL  {what}" + (f": {detail}" if detail else ""))
        return ok

    def run(self, what, fn):
        """fn() returns None/True (pass), False or raises (fail)."""
        try:
            res = fn()
        except Exception as e:  # noqa: BLE001 - every failure is reported
            return self.check(False, what, f"{type(e).__name__}: {e}")
        return self.check(res is None or res is True, what, "" if res in (None, True) else str(res))


def read(path):
    with open(path, "rb") as fh:
        return fh.read()


def write(path, data, mode=0o644):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.fchmod(fd, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def expect_raises(fn, exc=Exception):
    try:
        fn()
    except exc:
        return True
    return "accepted"


CPP_FILES = ["signing_key.pem", "signing_pub.pem", "device.key", "device.json",
             "payload_small.bin", "payload_large.bin", "stream_small_devkey.bin",
             "stream_large_wrapped.bin", "manifest_large.bin", "manifest_small.bin",
             "sig_small.der"]
PY_FILES = ["py_device.json", "py_device.key", "py_manifest.bin", "py_stream.bin",
            "py_payload.bin", "py_sig.der", "py_digest.bin", "py_record_small.bin",
            "py_payload_small.bin", "py_manifest_small.bin"]


def check_cpp_artifacts(t, work):
    p = lambda name: os.path.join(work, name)  # noqa: E731

    # §1 keys.
    pem = read(p("signing_key.pem"))
    t.check(pem.startswith(b"-----BEGIN EC PRIVATE KEY-----"),
            "signing_key.pem is SEC1 PEM, as `openssl ecparam -genkey -noout` writes it")
    t.check(stat.S_IMODE(os.stat(p("signing_key.pem")).st_mode) == 0o600, "signing_key.pem is 0600")
    priv = serialization.load_pem_private_key(pem, password=None)
    t.check(isinstance(priv, ec.EllipticCurvePrivateKey) and priv.curve.name == "secp256r1",
            "signing key is ECDSA P-256")
    pub_pem = read(p("signing_pub.pem"))
    t.check(pub_pem.startswith(b"-----BEGIN PUBLIC KEY-----"), "signing_pub.pem is SubjectPublicKeyInfo PEM")
    pub = serialization.load_pem_public_key(pub_pem)
    t.check(pub.public_numbers() == priv.public_key().public_numbers(),
            "signing_pub.pem is the public half of signing_key.pem")
    device_key = read(p("device.key"))
    t.check(len(device_key) == 32, "device.key is 32 raw bytes")
    t.check(stat.S_IMODE(os.stat(p("device.key")).st_mode) == 0o600, "device.key is 0600")
    dev = json.loads(read(p("device.json")))

    # §4 the detached signature over SHA-256 of the plaintext payload.
    small = read(p("payload_small.bin"))
    t.run("sig_small.der (C++ detached signature) verifies with cryptography (Prehashed digest)",
          lambda: pub.verify(read(p("sig_small.der")), sha256(small),
                             ec.ECDSA(Prehashed(hashes.SHA256()))))

    # §2 the manifest of the large stream.
    large = read(p("payload_large.bin"))
    mbytes = read(p("manifest_large.bin"))
    try:
        f, signed = parse_manifest(mbytes)
    except Exception as e:  # noqa: BLE001
        t.check(False, "manifest_large.bin parses per §2.1", f"{type(e).__name__}: {e}")
        return
    t.check(True, f"manifest_large.bin parses per §2.1 ({len(mbytes)} bytes, signed part {len(signed)})")
    t.run("manifest_large.bin re-serialized by Python is byte-identical to the signed part",
          lambda: write_signed_part(f) == signed or "differs")
    t.check(f["key_id"] == key_id_of(pub), "key_id = SHA-256(04||X||Y)[:8] of signing_pub.pem",
            f"{f['key_id'].hex()} vs {key_id_of(pub).hex()}")
    t.run("manifest signature verifies with cryptography over fields 1..27",
          lambda: verify_manifest_signature(pub, signed, f["signature"]))
    t.run("a manifest with one signed byte flipped does not verify",
          lambda: expect_raises(lambda: verify_manifest_signature(
              pub, signed[:40] + bytes([signed[40] ^ 1]) + signed[41:], f["signature"]),
              InvalidSignature))
    expected_fields = {
        "product": dev["product"],
        "chip_id": dev["chip_id"],
        "device_id": dev["device_id"],
        "device_nonce": bytes.fromhex(dev["nonce"]),
    }
    for k, v in expected_fields.items():
        t.check(f[k] == v, f"manifest {k} is the device's", f"{f[k]!r} vs {v!r}")
    t.check(f["security_counter"] >= dev["security_counter"],
            f"security_counter {f['security_counter']} >= device's {dev['security_counter']}")
    if f["payload_type"] == 1:
        t.check(f["from_sha256"] == bytes.fromhex(dev["running_sha256"]), "patch from_sha256 is the running image")
    else:
        t.check(f["from_version"] == "" and f["from_sha256"] == bytes(32),
                "full image: from_version empty, from_sha256 zeros")
        t.check(f["to_sha256"] == sha256(large) and f["to_size"] == len(large) and f["payload_codec"] == 0,
                "full image: to_sha256/to_size are the payload's, codec 0")
    t.check(f["payload_size"] == len(large) and f["payload_sha256"] == sha256(large),
            "payload_size and payload_sha256 describe payload_large.bin")
    t.check(f["encryption"] == 1 and f["chunk_size"] == DEFAULT_CHUNK,
            "encryption 1 (content key wrapped) with 4096-byte chunks",
            f"encryption {f['encryption']}, chunk {f['chunk_size']}")

    # Unwrap the content key: nonce(13) | tag(16) | AES-256-CCM(device key, content key).
    w = f["wrapped_key"]
    try:
        content_key = ccm_decrypt_cryptography(device_key, w[:13], w[13:29], w[29:])
        t.check(len(content_key) == 32, "content key unwraps with the device key (cryptography AESCCM)")
    except InvalidTag:
        t.check(False, "content key unwraps with the device key (cryptography AESCCM)", "tag mismatch")
        return
    t.run("content key unwraps identically with pycryptodome",
          lambda: ccm_decrypt_pycryptodome(device_key, w[:13], w[13:29], w[29:]) == content_key)
    t.run("content key does not unwrap with another device key",
          lambda: expect_raises(lambda: ccm_decrypt_cryptography(os.urandom(32), w[:13], w[13:29], w[29:]),
                                InvalidTag))

    stream = read(p("stream_large_wrapped.bin"))
    t.check(f["first_record_sha256"] == sha256(stream[:RECORD_OVERHEAD + f["chunk_size"] + CHAIN]),
            "first_record_sha256 is SHA-256 of record 0 as sent")
    t.run(f"stream_large_wrapped.bin opens record by record with pycryptodome "
          f"({f['record_count']} records, chain, nonces, tags) to payload_large.bin",
          lambda: open_stream(stream, f, content_key) == large or "payload differs")
    for what, pos in (("nonce of record 0", 5), ("tag of record 3", 4157 * 3 + 20),
                      ("ciphertext of the last record", len(stream) - 1)):
        bad = bytearray(stream)
        bad[pos] ^= 0x40
        t.run(f"Python refuses the C++ stream with a flipped byte in the {what}",
              lambda b=bytes(bad): expect_raises(lambda: open_stream(b, f, content_key), Malformed))

    # The original layout: one record, nonce | tag | ciphertext, device key.
    rec = read(p("stream_small_devkey.bin"))
    t.check(len(rec) == RECORD_OVERHEAD + len(small), "stream_small_devkey.bin is 29 + payload bytes (one record)")
    t.check(rec[8:13] == b"\x00\x00\x00\x00\x01", "its nonce ends with index 0 (big endian) and the last flag")
    t.run("stream_small_devkey.bin decrypts at once with cryptography AESCCM (device key) to payload_small.bin",
          lambda: ccm_decrypt_cryptography(device_key, rec[:13], rec[13:29], rec[29:]) == small)
    ms = read(p("manifest_small.bin"))
    try:
        fs, signed_s = parse_manifest(ms)
        verify_manifest_signature(pub, signed_s, fs["signature"])
        ok = (fs["encryption"] == 2 and fs["chunk_size"] == len(small) and fs["record_count"] == 1
              and fs["wrapped_key"] == bytes(61) and fs["first_record_sha256"] == sha256(rec)
              and fs["nonce_prefix"] == rec[:8])
        t.check(ok, "manifest_small.bin: signed, encryption 2, one record, chunk_size = payload_size")
        t.run("stream_small_devkey.bin opens as a one-record stream with pycryptodome",
              lambda: open_stream(rec, fs, device_key) == small)
    except Exception as e:  # noqa: BLE001
        t.check(False, "manifest_small.bin: parse and verify", f"{type(e).__name__}: {e}")


def make_py_artifacts(t, work):
    p = lambda name: os.path.join(work, name)  # noqa: E731
    priv = serialization.load_pem_private_key(read(p("signing_key.pem")), password=None)
    pub = priv.public_key()

    # The identity this release targets (the device's own check-in values).
    device_key = os.urandom(32)
    write(p("py_device.key"), device_key, 0o600)
    identity = {
        "product": "py-product_1.x",
        "chip_id": 5,
        "device_id": "py-device.0042",
        "nonce": os.urandom(16).hex(),
        "security_counter": 9,
        "running_sha256": os.urandom(32).hex(),
    }
    write(p("py_device.json"), json.dumps(identity, indent=2).encode())

    def manifest(payload, encryption, chunk, stream, first, prefix, wrapped):
        count, _, total = record_geometry(len(payload), chunk)
        assert total == len(stream)
        f = {
            "key_id": key_id_of(pub),
            "security_counter": identity["security_counter"] + 1,
            "device_nonce": bytes.fromhex(identity["nonce"]),
            "issued_at": int(time.time()),
            "product": identity["product"],
            "chip_id": identity["chip_id"],
            "device_id": identity["device_id"],
            "from_version": "",
            "from_sha256": bytes(32),
            "to_version": "2.0.0-py",
            "to_sha256": sha256(payload),
            "to_size": len(payload),
            "payload_type": 0,
            "payload_size": len(payload),
            "payload_sha256": sha256(payload),
            "payload_codec": 0,
            "payload_ram": 0,
            "encryption": encryption,
            "chunk_size": chunk,
            "record_count": count,
            "stream_size": total,
            "nonce_prefix": prefix,
            "first_record_sha256": first,
            "wrapped_key": wrapped,
        }
        signed = write_signed_part(f)
        sig = priv.sign(signed, ec.ECDSA(hashes.SHA256()))
        out = signed + bytes([len(sig)]) + sig
        assert len(out) <= MAX_MANIFEST
        g, _ = parse_manifest(out)  # our own parser agrees with our writer
        assert g["signature"] == sig
        return out

    # Encryption 1: 40 full chunks (the last record exactly one chunk).
    payload = os.urandom(40 * DEFAULT_CHUNK)
    content_key = os.urandom(32)
    wrap_nonce = os.urandom(13)
    tag, ct = ccm_encrypt_cryptography(device_key, wrap_nonce, content_key)
    wrapped = wrap_nonce + tag + ct
    prefix = os.urandom(8)
    stream, first = seal_stream(payload, content_key, DEFAULT_CHUNK, prefix)
    m = manifest(payload, 1, DEFAULT_CHUNK, stream, first, prefix, wrapped)
    write(p("py_payload.bin"), payload)
    write(p("py_stream.bin"), stream)
    write(p("py_manifest.bin"), m)
    # Self-consistency of the two Python libraries on Python's own stream.
    f, signed = parse_manifest(m)
    t.run("Python stream opens with Python's verifier (pycryptodome)",
          lambda: open_stream(stream, f, content_key) == payload)
    t.run("Python record 1 decrypts identically with cryptography AESCCM",
          lambda: ccm_decrypt_cryptography(content_key, stream[4157:4170], stream[4170:4186],
                                           stream[4186:4157 * 2]) ==
          payload[4096:8192] + sha256(stream[4157 * 2:4157 * 3]))

    # Encryption 2, original layout: one record under the device key.
    small = os.urandom(30001)
    prefix_s = os.urandom(8)
    nonce_s = record_nonce(prefix_s, 0, True)
    tag_s, ct_s = ccm_encrypt_cryptography(device_key, nonce_s, small)
    rec = nonce_s + tag_s + ct_s
    write(p("py_payload_small.bin"), small)
    write(p("py_record_small.bin"), rec)
    write(p("py_manifest_small.bin"),
          manifest(small, 2, len(small), rec, sha256(rec), prefix_s, bytes(WRAPPED_KEY_SIZE)))

    # §4: detached DER signature over SHA-256 of the plaintext payload.
    digest = sha256(small)
    write(p("py_digest.bin"), digest)
    write(p("py_sig.der"), priv.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256()))))
    t.check(True, "Python artifacts written (py_manifest.bin, py_stream.bin, py_record_small.bin, ...)")


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    bin_dir, work = sys.argv[1], sys.argv[2]
    tool = os.path.join(bin_dir, "envelope_vectors")
    os.makedirs(work, exist_ok=True)
    for name in CPP_FILES + PY_FILES:
        try:
            os.unlink(os.path.join(work, name))
        except FileNotFoundError:
            pass
    t = Checks()

    r = subprocess.run([tool, "make", work], capture_output=True, text=True)
    sys.stdout.write(r.stdout)
    sys.stderr.write(r.stderr)
    if not t.check(r.returncode == 0, f"envelope_vectors make {work}", f"exit {r.returncode}"):
        print(f"{t.passed} passed, {t.failed} failed")
        return 1

    print("--- Python verifies the C++ artifacts")
    try:
        check_cpp_artifacts(t, work)
    except Exception as e:  # noqa: BLE001
        t.check(False, "checking the C++ artifacts", f"{type(e).__name__}: {e}")

    print("--- Python makes its own artifacts")
    try:
        make_py_artifacts(t, work)
    except Exception as e:  # noqa: BLE001
        t.check(False, "making the Python artifacts", f"{type(e).__name__}: {e}")
        print(f"{t.passed} passed, {t.failed} failed")
        return 1

    print("--- our device code verifies the Python artifacts (mbedTLS and OpenSSL ports)")
    r = subprocess.run([tool, "check", work], capture_output=True, text=True)
    sys.stdout.write(r.stdout)
    sys.stderr.write(r.stderr)
    t.check(r.returncode == 0, f"envelope_vectors check {work}", f"exit {r.returncode}")
    # Count the device-side checks too (its lines are printed above).
    cpp = re.search(r"^envelope_vectors check: (\d+) passed, (\d+) failed$", r.stdout, re.M)
    t.check(cpp is not None, "envelope_vectors check printed its summary")
    if cpp:
        t.passed += int(cpp.group(1))
        t.failed += int(cpp.group(2))

    print(f"{t.passed} passed, {t.failed} failed")
    return 0 if t.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
