#!/usr/bin/env python3
"""wire-check-test.py - wire-check.py's udp_sport rule on captures of
several RC connections between the same two addresses.

The QPNs and UDP source ports are those of an ibv_srq_pingpong run (four
QPs) between softodp (10.99.0.1) and kernel rxe (10.99.0.2): kernel QPN
0x6c's pair has port 52204, while the pair of kernel QPN 0x6a has port 50519,
which is also what kernel QPN 0x6c and softodp QPN 0x61d4 would give. The
kernel's ports are the reference: each pair's two ends use the same one.
"""
import os
import struct
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOFTODP, KERNEL = "10.99.0.1", "10.99.0.2"
RC_SEND_ONLY, RC_ACK = 0x04, 0x11
AETH_ACK = 0x1f
# (kernel QPN, softodp QPN, UDP source port both ends used)
PAIRS = [(0x69, 0xc3c6, 52274), (0x6a, 0xcc20, 50519),
         (0x6b, 0x61d4, 58301), (0x6c, 0xb442, 52204)]


def ip_addr(s):
    return bytes(int(x) for x in s.split("."))


def frame(src, dst, sport, op, dqp, psn, ackreq, body):
    bth = struct.pack(">BBHII", op, 0, 0xffff, dqp, (ackreq << 31) | psn)
    roce = bth + body + b"\0" * 4        # ICRC: not wire-check's business
    udp = struct.pack(">HHHH", sport, 4791, 8 + len(roce), 0) + roce
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0,
                     ip_addr(src), ip_addr(dst)) + udp
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip


def exchange(pairs):
    """Each side SENDs once on every connection and the other side ACKs."""
    out = []
    for i, (kq, sq, sport, ssport) in enumerate(pairs):
        psn = 0x100000 + 0x1000 * i
        out.append(frame(SOFTODP, KERNEL, ssport, RC_SEND_ONLY, kq, psn, 1, b"ping"))
        out.append(frame(KERNEL, SOFTODP, sport, RC_ACK, sq, psn, 0,
                         struct.pack(">I", AETH_ACK << 24 | 1)))
        psn = 0x200000 + 0x1000 * i
        out.append(frame(KERNEL, SOFTODP, sport, RC_SEND_ONLY, sq, psn, 1, b"pong"))
        out.append(frame(SOFTODP, KERNEL, ssport, RC_ACK, kq, psn, 0,
                         struct.pack(">I", AETH_ACK << 24 | 1)))
    return out


def write_pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", i, 0, len(fr), len(fr)) + fr)


def wire_check(frames):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "case.pcap")
        write_pcap(path, frames)
        r = subprocess.run([sys.executable, os.path.join(HERE, "wire-check.py"),
                            "--self", SOFTODP, path],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=60)
    verdict = {}
    for line in r.stdout.splitlines():
        f = line.split()
        if len(f) >= 3 and f[1] == "udp_sport":
            verdict[f[2]] = f[0]
    return r.returncode, verdict, r.stdout


class UdpSport(unittest.TestCase):
    def test_each_connection_is_held_to_its_own_pairs_port(self):
        rc, verdict, out = wire_check(exchange([(k, s, p, p) for k, s, p in PAIRS]))
        self.assertEqual(verdict, {SOFTODP: "ok", "peer": "ok"}, out)
        self.assertEqual(rc, 0, out)

    def test_port_of_another_connection_is_a_deviation(self):
        # softodp sends on kernel QPN 0x6c's connection from the port that
        # belongs to kernel QPN 0x6a's
        pairs = [(k, s, p, 50519 if k == 0x6c else p) for k, s, p in PAIRS]
        rc, verdict, out = wire_check(exchange(pairs))
        self.assertEqual(verdict, {SOFTODP: "DEV", "peer": "ok"}, out)
        self.assertEqual(rc, 1, out)


if __name__ == "__main__":
    unittest.main()
